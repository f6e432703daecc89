"""TFLite size and LiteRT latency of our models against their keras.applications twins, same run.

For each family at its default resolution: port random weights from the
keras.applications network into ours, convert both to fp32 and fp16 TFLite,
and time batch-1 inference with LiteRT (XNNPACK, 2 threads) and on the GPU
accelerator. Prints ours/keras.applications ratios (1.00 = same cost).

    python benchmarks/export_latency.py [--families mobilenet_v1 efficientnet] [--no-gpu]
"""

import argparse
import os
import sys
import tempfile

import keras
import numpy as np

import keras_lightnets as kl
from keras_lightnets.export import litert, to_tflite_variants

FAMILIES = {
    "mobilenet_v1": (kl.MobileNetV1, keras.applications.MobileNet, 224),
    "mobilenet_v2": (kl.MobileNetV2, keras.applications.MobileNetV2, 224),
    "efficientnet": (lambda **kw: kl.EfficientNet(0, **kw), keras.applications.EfficientNetB0, 224),
    "xception": (kl.Xception, keras.applications.Xception, 299),
}


def measure(model, folder, gpu):
    """{quantization: (size MB, CPU ms, GPU ms or None, fully accelerated)} for fp32 and fp16."""
    paths = {None: os.path.join(folder, "fp32.tflite"), "fp16": os.path.join(folder, "fp16.tflite")}
    to_tflite_variants(model, paths)
    result = {}
    for quantization, path in paths.items():
        cpu = litert.load(path).latency_ms(runs=30)
        check = litert.gpu_check(path, runs=5) if gpu else None
        result[quantization or "fp32"] = (
            os.path.getsize(path) / 1e6, cpu, check.latency_ms if check and check.ran else None,
            check.fully_accelerated if check else None,
        )
    return result


def main(argv=None):
    """Runs the comparison and prints one row per family and precision."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU accelerator")
    args = parser.parse_args(argv)
    gpu = not args.no_gpu and litert.vulkan_driver_present()
    print(f"{'model':<14}{'prec':<6}{'MB':>7}{'CPU ms':>9}{'KA CPU ms':>11}{'ratio':>7}{'GPU ms':>9}{'KA GPU ms':>11}"
          f"{'GPU full':>10}")
    for family in args.families:
        ours_builder, ka_builder, size = FAMILIES[family]
        shape = (size, size, 3)
        ka = ka_builder(input_shape=shape, weights=None)
        rng = np.random.default_rng(0)
        ka.set_weights([rng.uniform(0.5, 1.5, w.shape) if w.path.endswith("variance") else rng.normal(0, 0.05, w.shape)
                        for w in ka.weights])
        ours = ours_builder(input_shape=shape, include_preprocessing=False)
        kl.port_weights(ka, ours)
        print(f"{family}: converting ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as ka_dir:
            mine, theirs = measure(ours, ours_dir, gpu), measure(ka, ka_dir, gpu)
        for precision in ("fp32", "fp16"):
            size_mb, cpu, gpu_ms, full = mine[precision]
            _, ka_cpu, ka_gpu, _ = theirs[precision]
            gpu_text = f"{gpu_ms:.1f}" if gpu_ms else "-"
            ka_gpu_text = f"{ka_gpu:.1f}" if ka_gpu else "-"
            print(f"{family:<14}{precision:<6}{size_mb:>7.2f}{cpu:>9.2f}{ka_cpu:>11.2f}{cpu / ka_cpu:>7.2f}"
                  f"{gpu_text:>9}{ka_gpu_text:>11}{str(full):>10}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
