"""Training throughput with TensorFlow's fused batch-norm kernel against Keras 3's own batch norm, same run.

The training engine runs every BatchNormalization layer on the fused kernel while it
trains (keras_lightnets.train.fused_batch_norm). This measures what that buys: the same
model, data and optimizer are trained with Keras' layer and with the fused kernel, in
alternating rounds (the best round of each counts, so a noisy machine hurts both alike).

    python benchmarks/batch_norm_kernel.py [--model mobilenet_v1] [--alpha 0.5] [--size 48] [--channels 1] [--batch 128]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from keras_lightnets import registry
from keras_lightnets.train.fused_batch_norm import fused_batch_norm


def _batches(size, channels, batch, classes=10):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, size, size, channels)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, classes, batch), classes)
    return tf.data.Dataset.from_tensors((images, labels)).repeat()


def _compiled(args):
    kwargs = {"input_shape": (args.size, args.size, args.channels), "classes": 10}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    model = registry.create_model(args.model, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy", jit_compile=False)
    return model


def _images_per_second(model, data, steps, batch):
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def main(argv=None):
    """Runs the benchmark and prints one table row per kernel and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v1", help="registry name (default mobilenet_v1)")
    parser.add_argument("--alpha", type=float, default=None, help="width multiplier, bare mobilenet names only (default: the builder's, 1.0)")
    parser.add_argument("--size", type=int, default=48, help="input resolution (default 48)")
    parser.add_argument("--channels", type=int, default=1, help="input channels (default 1)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per round (default 15)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args(argv)
    data = _batches(args.size, args.channels, args.batch)
    keras_model, fused_model = _compiled(args), _compiled(args)
    rounds = {"keras": [], "fused": []}
    with fused_batch_norm(fused_model):
        for model in (keras_model, fused_model):  # tracing and warm-up
            model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
        for _ in range(args.rounds):
            rounds["keras"].append(_images_per_second(keras_model, data, args.steps, args.batch))
            rounds["fused"].append(_images_per_second(fused_model, data, args.steps, args.batch))
    best = {name: max(values) for name, values in rounds.items()}
    print(f"{args.model} alpha={args.alpha} {args.size}x{args.size}x{args.channels}, batch {args.batch}, "
          f"{args.rounds} rounds of {args.steps} steps, devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    print("| batch norm | train img/s (best round) | all rounds |")
    print("|---|---|---|")
    for name, values in rounds.items():
        print(f"| {name} | {best[name]:.0f} | {', '.join(f'{v:.0f}' for v in values)} |")
    print(f"fused / keras: {best['fused'] / best['keras']:.2f}")


if __name__ == "__main__":
    main()
