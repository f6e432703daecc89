"""Training throughput with the engine's kernels against Keras 3's own layers, same run.

While it trains, the engine runs every BatchNormalization layer on TensorFlow's fused
kernel (keras_lightnets.train.fused_batch_norm) and every pointwise Conv2D as a matrix
product (keras_lightnets.train.pointwise_matmul). This measures what each buys: the same
model, data and optimizer are trained with Keras' layers, with the fused batch norm, and
with both, in alternating rounds (the best round of each counts, so a noisy machine hurts
all alike).

    python benchmarks/training_kernels.py [--model mobilenet_v1] [--alpha 0.5] [--size 48] [--channels 1] [--batch 128]
"""

import argparse
import contextlib
import time

import keras
import numpy as np
import tensorflow as tf

from keras_lightnets import registry
from keras_lightnets.train.fused_batch_norm import fused_batch_norm
from keras_lightnets.train.training_kernels import training_kernels

# Kernel settings compared, each a function of the model returning the context it trains in.
SETTINGS = {
    "keras": lambda model: contextlib.nullcontext(),
    "fused batch norm": fused_batch_norm,
    "fused batch norm + pointwise matmul": training_kernels,  # what the engine trains with
}


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
    """Runs the benchmark and prints one table row per kernel setting, with its ratio to Keras' layers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v1", help="registry name (default mobilenet_v1)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="width multiplier, bare mobilenet names only (default: the builder's, 1.0)")
    parser.add_argument("--size", type=int, default=48, help="input resolution (default 48)")
    parser.add_argument("--channels", type=int, default=1, help="input channels (default 1)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per round (default 15)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args(argv)
    data = _batches(args.size, args.channels, args.batch)
    models = {name: _compiled(args) for name in SETTINGS}
    rounds = {name: [] for name in SETTINGS}
    with contextlib.ExitStack() as stack:
        for name, model in models.items():
            stack.enter_context(SETTINGS[name](model))
            model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # tracing and warm-up
        for _ in range(args.rounds):
            for name, model in models.items():
                rounds[name].append(_images_per_second(model, data, args.steps, args.batch))
    best = {name: max(values) for name, values in rounds.items()}
    print(f"{args.model} alpha={args.alpha} {args.size}x{args.size}x{args.channels}, batch {args.batch}, "
          f"{args.rounds} rounds of {args.steps} steps, devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    print("| kernels | train img/s (best round) | all rounds | / keras |")
    print("|---|---|---|---|")
    for name, values in rounds.items():
        print(f"| {name} | {best[name]:.0f} | {', '.join(f'{v:.0f}' for v in values)} | {best[name] / best['keras']:.2f} |")


if __name__ == "__main__":
    main()
