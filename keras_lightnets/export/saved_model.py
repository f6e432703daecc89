"""SavedModel export in the TF Serving layout ``<base_dir>/<name>/<version>/``."""

import os
import re

import keras
import numpy as np
import tensorflow as tf

from keras_lightnets import validation
from keras_lightnets.export import signatures
from keras_lightnets.export.atomic import atomic_directory, remove_stale_temporaries
from keras_lightnets.inference import serving_model
from keras_lightnets.errors import MissingExtraError

DEFAULT_BASE_DIR = "saved_models"
SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "predict_image_bytes"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def existing_versions(model_dir):
    """Sorted integer versions present in ``model_dir`` (what TF Serving would see)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(entry) for entry in os.listdir(model_dir) if entry.isdigit())


def _warmup_records(model_name, height, width, channels, count):
    """Serialized PredictionLog records with real tensorflow-serving-api protos."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for index in range(count):
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SERVING_SIGNATURE)
        )
        pixels = np.full((1, height, width, channels), 127.5 + 50.0 * np.sin(index), np.float32)
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(pixels))
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        records.append(log.SerializeToString())
    return records


def _write_warmup(export_dir, records):
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


def _serving_available():
    try:
        import tensorflow_serving.apis.prediction_log_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def to_saved_model(
    model,
    base_dir=DEFAULT_BASE_DIR,
    version=None,
    name=None,
    top_k=None,
    class_names=None,
    image_size=None,
    warmup=None,
    warmup_requests=4,
):
    """Exports ``model`` for TF Serving, atomically.

    Signatures:
      * ``serving_default``: ``images`` float32 (batch, H, W, C), values as the
        model takes them ([0, 255] for our builders) -> ``probabilities``,
        ``top_k_scores``, ``top_k_classes`` (+ ``top_k_labels`` with
        ``class_names``); segmenters (:mod:`keras_lightnets.heads`) return
        per-pixel ``probabilities`` (batch, H, W, classes) and ``class_map``
        (batch, H, W) int32; detectors (``kl.SSDLite``) return ``boxes``
        (normalized ymin, xmin, ymax, xmax), ``classes``, ``scores`` and
        ``num_detections`` after NMS; feature extractors return ``features``.
      * ``predict_image_bytes``: ``image_bytes`` string (batch,) of encoded
        JPEG/PNG (REST clients send ``{"b64": ...}``; the server decodes the
        base64) -> the same outputs; the graph decodes and resizes.

    Args:
        model: Keras model with a channels-last image input.
        base_dir: Root of the model repository (default ``saved_models``).
        version: Integer version >= 1; None picks the highest existing + 1.
        name: Model directory name (default: the model's name); letters,
            digits, ``_ . -``.
        top_k: Number of top classes returned (1 <= top_k <= classes);
            None: min(5, classes).
        class_names: Optional list of ``classes`` label strings.
        image_size: Input size for models built with ``None`` spatial dims.
        warmup: Write ``assets.extra/tf_serving_warmup_requests``. None: when
            tensorflow-serving-api is installed; True: required.
        warmup_requests: Number of warm-up records (1..100).

    Returns:
        Path of the new version directory.
    """
    name = name or model.name
    if not isinstance(name, str) or not _NAME.match(name):
        validation.fail("name", name, "letters, digits, '_', '.', '-' (a directory name)")
    height, width, channels = signatures.input_size(model, image_size)
    classifier = signatures.is_classifier(model)
    classes = model.outputs[0].shape[-1] if classifier else None
    if classifier:
        top_k = min(5, classes) if top_k is None else top_k
        validation.check_number("top_k", top_k, minimum=1, maximum=classes, integer=True)
        if class_names is not None and len(class_names) != classes:
            validation.fail("class_names", f"{len(class_names)} names", f"exactly {classes} names")
    if version is not None:
        validation.check_number("version", version, minimum=1, integer=True)
    validation.check_number("warmup_requests", warmup_requests, minimum=1, maximum=100, integer=True)
    if warmup is None:
        warmup = _serving_available()
    elif warmup and not _serving_available():
        raise MissingExtraError("warmup=True needs tensorflow-serving-api: pip install 'keras_lightnets[serving]'")

    model_dir = os.path.join(base_dir, name)
    remove_stale_temporaries(model_dir)
    if version is None:
        version = (existing_versions(model_dir) or [0])[-1] + 1
    final_dir = os.path.join(model_dir, str(version))
    if os.path.exists(final_dir):
        validation.fail("version", version, f"a version not yet in {model_dir} (has {existing_versions(model_dir)})")

    top = top_k if classifier else 0
    model = serving_model(model)  # BatchNormalization folded, dropout removed: same outputs, faster
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SERVING_SIGNATURE,
        lambda images: signatures.model_outputs(model, images, top, class_names),
        input_signature=[tf.TensorSpec((None, height, width, channels), tf.float32, name="images")],
    )
    archive.add_endpoint(
        BYTES_SIGNATURE,
        lambda image_bytes: signatures.model_outputs(
            model, signatures.decode_images(image_bytes, height, width, channels), top, class_names
        ),
        input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")],
    )
    with atomic_directory(final_dir) as tmp:
        archive.write_out(tmp, verbose=False)
        if warmup:
            _write_warmup(tmp, _warmup_records(name, height, width, channels, warmup_requests))
    return final_dir
