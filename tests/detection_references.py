"""What the detection tests share: torchvision's stored SSDLite reference and MediaPipe's detections compared.

The reference is ``tests/data/ssdlite_reference.npz`` (``tools/make_ssdlite_reference.py``, torch side
environment): torchvision 0.29.1's ``ssdlite320_mobilenet_v3_large`` at 91 classes with name-derived weights.
"""

import sys
from pathlib import Path

import keras
import numpy as np

import keras_lightnets as kl
from family_references import timm_tool
from keras_lightnets.detection import compare
from keras_lightnets.heads.ssdlite import load_torchvision_ssdlite_state_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import make_ssdlite_reference as reference_tool  # noqa: E402, F401  (numpy-only parts: inputs, synthetic raw outputs)

REFERENCE = Path(__file__).parent / "data" / "ssdlite_reference.npz"
NAME = "ssdlite320_mobilenet_v3_large"


def reference():
    return np.load(REFERENCE)


def state_dict(data):
    """The name-derived state dict of the stored network, its measured running statistics included."""
    keys = [str(key) for key in data["keys"]]
    shapes = [tuple(int(d) for d in shape.split(",")) for shape in data["shapes"]]
    state = {key: timm_tool.synthetic_tensor(key, shape) for key, shape in zip(keys, shapes)}
    state.update({key[len("statistics_"):]: data[key] for key in data.files if key.startswith("statistics_")})
    return state


def torchvision_weighted(dtype="float32", **changes):
    """``ssdlite320_mobilenet_v3_large`` with the stored state dict, built under ``dtype``."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        model = kl.create_model(NAME, **changes)
    finally:
        keras.config.set_dtype_policy(previous)
    return load_torchvision_ssdlite_state_dict(model, state_dict(reference()))


def as_detections(per_image, size, class_names, limit=300):
    """MediaPipe's detections (pixels, names) in ``Detector.predict``'s form (normalized y/x boxes, class indices)."""
    count = len(per_image)
    found = {"boxes": np.zeros((count, limit, 4), np.float32), "scores": np.zeros((count, limit), np.float32),
             "classes": np.zeros((count, limit), np.int32), "num_detections": np.zeros(count, np.int32)}
    for image, detections in enumerate(per_image):
        detections = sorted(detections, key=lambda d: -d[2])[:limit]
        found["num_detections"][image] = len(detections)
        for row, (_, name, score, (x, y, w, h)) in enumerate(detections):
            found["boxes"][image, row] = [y / size, x / size, (y + h) / size, (x + w) / size]
            found["scores"][image, row] = score
            found["classes"][image, row] = class_names.index(name)
    return found


def on_mediapipe_grid(found, size):
    """``found`` with its boxes as MediaPipe reports boxes: whole pixels, origin and extent truncated.

    MediaPipe's ``BoundingBox`` holds ints (origin_x = int(xmin * width), width = int((xmax - xmin) * width),
    measured on its detections against the same file's raw outputs); comparing at that precision keeps
    a 1-2 pixel truncation from counting as a different box.
    """
    boxes = np.clip(np.asarray(found["boxes"], np.float64), 0.0, 1.0) * size
    top, left = np.floor(boxes[..., 0]), np.floor(boxes[..., 1])
    height, width = np.floor(boxes[..., 2] - boxes[..., 0]), np.floor(boxes[..., 3] - boxes[..., 1])
    return {**found, "boxes": (np.stack([top, left, top + height, left + width], -1) / size).astype(np.float32)}


def agreement(theirs, ours, minimum_score=0.5, minimum_iou=0.9):
    """(share of ``ours`` detections above ``minimum_score`` that ``theirs`` has too, number compared)."""
    share, compared, _ = compare.agreement(theirs, ours, minimum_score, minimum_iou)
    return share, compared
