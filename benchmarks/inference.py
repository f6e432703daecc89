"""Inference throughput, side by side in one run: keras.applications, ours, ours as inference model,
the SavedModel as TF Serving loads it, TFLite fp32/int8 on LiteRT (XNNPACK) and ONNX Runtime.

Per family at its default resolution, batch 1 and 32: the keras.applications network's weights
are ported into ours (preprocessing off, so every runtime computes the same network). Keras runs in graph mode
(``tf.function``, no XLA). The SavedModel
(exported by ``to_saved_model``, BN folded) is timed in a fresh process that imports only
TensorFlow. TFLite files are converted with static batch 1 and 32 (int8: post-training, 32
calibration images) and run with LiteRT's XNNPACK on 2 threads. ONNX Runtime runs the Keras
model exported with ``model.export(format="onnx")`` (needs ``pip install "keras_lightnets[bench]"``).
Each figure is the median over ``--rounds`` rounds; within a round every runtime runs once
(interleaved), so a busy machine slows them alike. The compute ceiling is measured in the same run
with a 2048x2048 float32 matmul; "% ceiling" is 2 x MACs per second over it.

    python benchmarks/inference.py [--families mobilenet_v2 efficientnet] [--rounds 5] [--markdown]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import keras_lightnets as kl
from keras_lightnets.export import litert, to_saved_model, to_tflite

FAMILIES = {
    "mobilenet_v1": (kl.MobileNetV1, keras.applications.MobileNet, 224),
    "mobilenet_v2": (kl.MobileNetV2, keras.applications.MobileNetV2, 224),
    "efficientnet_b0": (lambda **kw: kl.EfficientNet(0, **kw), keras.applications.EfficientNetB0, 224),
    "xception": (kl.Xception, keras.applications.Xception, 299),
}
BATCHES = (1, 32)

_SERVING_TIMER = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
serve = loaded.signatures["serving_default"]
seconds = float(sys.argv[3])
result = {}
for batch in json.loads(sys.argv[2]):
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch,) + tuple(json.loads(sys.argv[4]))).astype("float32"))
    serve(images=images)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 3:
        serve(images=images)
        calls += 1
    result[batch] = calls * batch / (time.perf_counter() - start)
print(json.dumps(result))
"""


def matmul_ceiling_gflops(size=2048, seconds=2.0):
    """float32 matmul GFLOP/s on this machine (TensorFlow, all cores): the compute ceiling."""
    a = tf.random.normal((size, size))
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        matmul(a).numpy()
        calls += 1
    return 2 * size**3 * calls / (time.perf_counter() - start) / 1e9


def throughput(call, batch, seconds):
    """Images per second of ``call()`` (one batch per call), over at least ``seconds`` and 3 calls."""
    call()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 3:
        call()
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def keras_runner(model, images):
    """Graph-mode inference (tf.function, no XLA) of ``model`` on ``images``."""
    step = tf.function(lambda x: model(x, training=False), jit_compile=False)
    tensor = tf.constant(images)
    return lambda: step(tensor).numpy()


def serving_throughput(export_dir, shape, seconds):
    """{batch: img/s} of the SavedModel's serving_default in a fresh TensorFlow-only process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", _SERVING_TIMER, export_dir, json.dumps(BATCHES), str(seconds), json.dumps(shape)],
        capture_output=True, text=True, env=env, check=True,
    )
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def onnx_runner(model, folder, images):
    """An ONNX Runtime session of ``model`` (exported by Keras), or None when onnxruntime/tf2onnx are missing."""
    try:
        import onnxruntime
    except ImportError:
        return None
    path = os.path.join(folder, "model.onnx")
    if not os.path.exists(path):
        try:
            model(images[:1], training=False)  # Keras exports only a model that has been called
            model.export(path, format="onnx", verbose=False)
        except Exception as error:  # a converter failure is a result to report, not a crash of the benchmark
            print(f"ONNX export failed: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr)
            return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count()
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: images})


def trained_like_batch_norm(model, seed=0):
    """Gives every BatchNormalization non-trivial statistics and offsets, as a trained network has.

    Keras' initialisation (gamma 1, beta 0, mean 0, variance 1) is not neutral for speed: once
    batch norm is folded, every bias is exactly zero and Grappler deletes the additions, so a
    benchmark on initial weights times a graph no trained model has. Returns the model.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            draws = {"gamma": lambda n: rng.uniform(0.5, 1.5, n), "beta": lambda n: rng.normal(0, 0.2, n),
                     "moving_mean": lambda n: rng.normal(0, 0.2, n), "moving_variance": lambda n: rng.uniform(0.5, 1.5, n)}
            layer.set_weights([draws[w.path.rsplit("/", 1)[-1]](w.shape[0]).astype("float32") for w in layer.weights])
    return model


def measure_family(family, rounds, seconds, log):
    """{(runtime, batch): [img/s per round]} and the model's MACs per image."""
    ours_builder, ka_builder, size = FAMILIES[family]
    shape = (size, size, 3)
    ka = trained_like_batch_norm(ka_builder(input_shape=shape, weights=None))
    ours = ours_builder(input_shape=shape, include_preprocessing=False)
    kl.port_weights(ka, ours)
    folded = kl.inference_model(ours)
    macs = kl.profile(ours).macs
    rng = np.random.default_rng(1)
    images = {b: rng.uniform(-1, 1, (b,) + shape).astype("float32") for b in BATCHES}
    runners = {}
    with tempfile.TemporaryDirectory() as folder:
        log(f"{family}: exporting SavedModel, TFLite fp32/int8, ONNX ...")
        export_dir = to_saved_model(ours, base_dir=folder, warmup=False)
        calibration = rng.uniform(-1, 1, (32,) + shape).astype("float32")
        for batch in BATCHES:
            x = images[batch]
            runners[("keras.applications", batch)] = keras_runner(ka, x)
            runners[("ours", batch)] = keras_runner(ours, x)
            runners[("ours, inference model", batch)] = keras_runner(folded, x)
            for quantization in (None, "int8"):
                path = os.path.join(folder, f"{quantization or 'fp32'}_{batch}.tflite")
                to_tflite(ours, path, quantization=quantization, representative_data=calibration, batch_size=batch)
                runtime = litert.load(path)
                runners[(f"TFLite {quantization or 'fp32'} (LiteRT XNNPACK)", batch)] = (
                    lambda runtime=runtime, x=x: runtime(x))
            onnx = onnx_runner(folded, folder, x)
            if onnx is not None:
                runners[("ONNX Runtime (inference model)", batch)] = onnx
        results = {key: [] for key in runners}
        for key in [("SavedModel, fresh TF process", b) for b in BATCHES]:
            results[key] = []
        for index in range(rounds):
            log(f"{family}: round {index + 1}/{rounds}")
            for (name, batch), call in runners.items():
                results[(name, batch)].append(throughput(call, batch, seconds))
            for batch, value in serving_throughput(export_dir, shape, seconds).items():
                results[("SavedModel, fresh TF process", batch)].append(value)
    return results, macs


def table(family, results, macs, ceiling, markdown):
    """Rows: runtime, batch, img/s (median), ratio to keras.applications, % of the compute ceiling."""
    lines = []
    for batch in BATCHES:
        reference = statistics.median(results[("keras.applications", batch)])
        for (name, b), values in results.items():
            if b != batch:
                continue
            median = statistics.median(values)
            percent = 100 * 2 * macs * median / (ceiling * 1e9)
            spread = f"{min(values):.1f}-{max(values):.1f}"
            if markdown:
                lines.append(f"| {family} | {batch} | {name} | {median:.1f} | {spread} | {median / reference:.2f}x | {percent:.0f}% |")
            else:
                lines.append(f"{family:<16}{batch:>5}  {name:<36}{median:>9.1f}  {spread:>13}{median / reference:>8.2f}x{percent:>7.0f}%")
    return lines


def main(argv=None):
    """Runs the families and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--rounds", type=int, default=5, help="rounds per runtime (median reported)")
    parser.add_argument("--seconds", type=float, default=1.5, help="seconds per measurement")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    ceiling = matmul_ceiling_gflops()
    log(f"float32 matmul ceiling: {ceiling:.0f} GFLOP/s")
    header = ["model", "batch", "runtime", "img/s (median)", "range", "vs keras.applications", "% ceiling"]
    rows = []
    for family in args.families:
        results, macs = measure_family(family, args.rounds, args.seconds, log)
        rows += table(family, results, macs, ceiling, args.markdown)
    if args.markdown:
        print(f"float32 matmul ceiling {ceiling:.0f} GFLOP/s, {os.cpu_count()} cores, {args.rounds} rounds\n")
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    else:
        print(f"float32 matmul ceiling {ceiling:.0f} GFLOP/s")
        print(f"{'model':<16}{'batch':>5}  {'runtime':<36}{'img/s':>9}  {'range':>13}{'ratio':>9}{'ceil':>8}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
