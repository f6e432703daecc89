"""Training and inference throughput of our builders against their keras.applications twins, same run.

Graph mode (tf.function via Model.fit / predict_on_batch), batch 32, random data, SGD.
For each family: ours / keras.applications img/s for training and inference (1.00 = same
speed), then ours with XLA (jit_compile=True) / ours without. On a CPU-only machine the
XLA row shows why ``--xla auto`` never compiles there.

    python benchmarks/train_throughput.py [--families mobilenet_v1 efficientnet] [--size 224] [--steps 6] [--no-xla]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

import keras_lightnets as kl

FAMILIES = {
    "mobilenet_v1": (kl.MobileNetV1, keras.applications.MobileNet),
    "mobilenet_v2": (kl.MobileNetV2, keras.applications.MobileNetV2),
    "efficientnet": (lambda **kw: kl.EfficientNet(0, **kw), keras.applications.EfficientNetB0),
}
BATCH = 32


def _data(size, steps):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (BATCH, size, size, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 1000, BATCH), 1000)
    return tf.data.Dataset.from_tensors((images, labels)).repeat(steps), images


def train_images_per_second(model, size, steps, jit_compile=False):
    """Training img/s over ``steps`` batches after two warm-up batches (tracing excluded)."""
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy", jit_compile=jit_compile)
    warmup, _ = _data(size, 2)
    model.fit(warmup, verbose=0)
    dataset, _ = _data(size, steps)
    start = time.perf_counter()
    model.fit(dataset, verbose=0)
    return steps * BATCH / (time.perf_counter() - start)


def inference_images_per_second(model, size, steps, jit_compile=False):
    """Inference img/s of a traced forward pass (batch 32) after warm-up."""
    function = tf.function(lambda x: model(x, training=False), jit_compile=jit_compile)
    _, images = _data(size, 1)
    images = tf.constant(images)
    for _ in range(2):
        function(images).numpy()
    start = time.perf_counter()
    for _ in range(steps):
        function(images).numpy()
    return steps * BATCH / (time.perf_counter() - start)


def main(argv=None):
    """Runs the benchmark and prints one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=sorted(FAMILIES))
    parser.add_argument("--size", type=int, default=224, help="input resolution (default 224)")
    parser.add_argument("--steps", type=int, default=6, help="timed batches per measurement (default 6)")
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA measurements")
    args = parser.parse_args(argv)
    shape = (args.size, args.size, 3)
    print(f"batch {BATCH}, {args.size}x{args.size}, {args.steps} timed steps; devices: "
          f"{[d.device_type for d in tf.config.list_logical_devices()]}")
    print("| model | train img/s ours | KA | ours/KA | inference img/s ours | KA | ours/KA | "
          "XLA train ours | XLA/no-XLA train | XLA infer | XLA/no-XLA infer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for family in args.families:
        ours_builder, ka_builder = FAMILIES[family]
        results = {}
        for label, builder in (("ours", ours_builder), ("ka", ka_builder)):
            keras.backend.clear_session()
            model = builder(input_shape=shape, weights=None)
            results[label] = (train_images_per_second(model, args.size, args.steps),
                              inference_images_per_second(model, args.size, args.steps))
        row = [family, *(f"{v:.1f}" for v in (results["ours"][0], results["ka"][0])), f"{results['ours'][0] / results['ka'][0]:.2f}",
               *(f"{v:.1f}" for v in (results["ours"][1], results["ka"][1])), f"{results['ours'][1] / results['ka'][1]:.2f}"]
        if args.no_xla:
            row += ["-"] * 4
        else:
            keras.backend.clear_session()
            model = ours_builder(input_shape=shape, weights=None)
            xla_train = train_images_per_second(model, args.size, max(2, args.steps // 3), jit_compile=True)
            xla_infer = inference_images_per_second(model, args.size, max(2, args.steps // 3), jit_compile=True)
            row += [f"{xla_train:.1f}", f"{xla_train / results['ours'][0]:.2f}",
                    f"{xla_infer:.1f}", f"{xla_infer / results['ours'][1]:.2f}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
