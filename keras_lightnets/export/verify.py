"""Check an export the way TF Serving loads it: a fresh process that imports only TensorFlow."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

_SCRIPT = r"""
import json, os, sys
import numpy as np
import tensorflow as tf

work = sys.argv[1]
loaded = tf.saved_model.load(sys.argv[2])
report = {"signatures": sorted(loaded.signatures.keys()), "errors": {}}
results = {}
images = os.path.join(work, "images.npy")
if os.path.exists(images):
    out = loaded.signatures["serving_default"](images=tf.constant(np.load(images)))
    results.update({"serving_default/" + k: v.numpy() for k, v in out.items()})
blobs = sorted(f for f in os.listdir(work) if f.startswith("blob"))
if blobs:
    data = [open(os.path.join(work, f), "rb").read() for f in blobs]
    try:
        out = loaded.signatures["predict_image_bytes"](image_bytes=tf.constant(data))
        results.update({"predict_image_bytes/" + k: v.numpy() for k, v in out.items()})
    except tf.errors.InvalidArgumentError as error:
        report["errors"]["predict_image_bytes"] = error.message
report["modules"] = sorted(m for m in ("keras", "keras_lightnets", "tf_keras") if m in sys.modules)
# String outputs (top_k_labels) as unicode arrays: an npz of object arrays would need pickle to read back.
np.savez(os.path.join(work, "outputs.npz"), **{k: (v.astype(bytes).astype(str) if v.dtype == object else v) for k, v in results.items()})
with open(os.path.join(work, "report.json"), "w") as handle:
    json.dump(report, handle)
"""


def load_in_fresh_process(export_dir, images=None, image_bytes=None, timeout=600):
    """Loads a SavedModel in a new Python process that imports only TensorFlow and runs its signatures.

    Args:
        export_dir: A version directory written by :func:`to_saved_model`.
        images: Optional float32 batch for ``serving_default``.
        image_bytes: Optional list of encoded images for ``predict_image_bytes``.
        timeout: Seconds before the process is killed.

    Returns:
        dict with ``signatures`` (names), ``outputs`` ({"signature/output":
        array}), ``errors`` ({signature: message} for requests that failed)
        and ``modules`` (which of keras / keras_lightnets / tf_keras the
        process ended up importing).
    """
    with tempfile.TemporaryDirectory() as work:
        if images is not None:
            np.save(os.path.join(work, "images.npy"), np.asarray(images, np.float32))
        for index, blob in enumerate(image_bytes or []):
            with open(os.path.join(work, f"blob{index:05d}"), "wb") as handle:
                handle.write(blob)
        # A serving host runs plain TensorFlow: no import path of ours, no tf_keras switch.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT, work, os.path.abspath(export_dir)],
            capture_output=True, text=True, timeout=timeout, env=env, cwd=work,
        )
        if done.returncode != 0:
            raise RuntimeError(f"Loading {export_dir} in a fresh TensorFlow process failed:\n{done.stderr[-3000:]}")
        with open(os.path.join(work, "report.json")) as handle:
            report = json.load(handle)
        report["outputs"] = dict(np.load(os.path.join(work, "outputs.npz")))
    return report
