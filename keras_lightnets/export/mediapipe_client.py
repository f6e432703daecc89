"""Classifying, segmenting and detecting with MediaPipe Tasks (ImageClassifier, ImageSegmenter, ObjectDetector) in a subprocess.

MediaPipe's Python API is the same C++ runtime as its Android, iOS and web
libraries; a file it opens and runs here is what an app gets. The
classifier runs in a child process that imports only MediaPipe and numpy
(neither TensorFlow nor this package), so the check is what a phone does,
and a crash in the runtime cannot take the caller down. Run as a script::

    python mediapipe_client.py MODEL.tflite IMAGES.npy RESULT.json MAX_RESULTS
    python mediapipe_client.py MODEL.tflite IMAGES.npy RESULT.json segment
    python mediapipe_client.py MODEL.tflite IMAGES.npy RESULT.json detect
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def _run_child(path, images, task, timeout, read=None):
    """Runs this file as a child on ``images`` (``task``: max results or "segment"); its result dict or an error."""
    images = np.asarray(images)
    with tempfile.TemporaryDirectory() as work:
        images_path, result_path = os.path.join(work, "images.npy"), os.path.join(work, "result.json")
        np.save(images_path, np.clip(np.rint(images), 0, 255).astype(np.uint8))
        command = [sys.executable, "-I", __file__, os.fspath(path), images_path, result_path, str(task)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        if not os.path.exists(result_path):
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            return {"error": f"exit status {done.returncode}: {tail}"}
        with open(result_path) as file:
            result = json.load(file)
        return result if read is None or "error" in result else read(result_path)


def classify(path, images, max_results=5, timeout=600):
    """MediaPipe Tasks' ImageClassifier on each image.

    Args:
        path: A ``.tflite`` classifier with metadata.
        images: uint8-valued (N, H, W, 3) array (what a camera frame is); the file's own input size
            avoids any resizing by MediaPipe.
        max_results: Categories per image (int >= 1).
        timeout: Seconds before the child is killed.

    Returns:
        dict: ``{"categories": [[(index, name, score), ...] per image]}`` best first, or
        ``{"error": message}`` when MediaPipe refused the file or failed.
    """
    return _run_child(path, images, max_results, timeout)


def segment(path, images, timeout=600):
    """MediaPipe Tasks' ImageSegmenter on each image: its category mask.

    Args:
        path: A ``.tflite`` segmenter with ImageSegmenter metadata.
        images: uint8-valued (N, H, W, 3) array; the file's own input size avoids any resizing by MediaPipe.
        timeout: Seconds before the child is killed.

    Returns:
        dict: ``{"category_masks": uint8 array (N, H, W)}`` (each pixel's class), or
        ``{"error": message}`` when MediaPipe refused the file or failed.
    """
    return _run_child(path, images, "segment", timeout,
                      read=lambda result_path: {"category_masks": np.load(result_path + ".npy", allow_pickle=False)})


def detect(path, images, timeout=600):
    """MediaPipe Tasks' ObjectDetector on each image (every detection, no score threshold of its own).

    Args:
        path: A ``.tflite`` detector with ObjectDetector metadata (``TFLite_Detection_PostProcess`` outputs).
        images: uint8-valued (N, H, W, 3) array; the file's own input size avoids any resizing by MediaPipe.
        timeout: Seconds before the child is killed.

    Returns:
        dict: ``{"detections": [[(index, name, score, (x, y, width, height)), ...] per image]}``, one
        entry per category of each MediaPipe detection (a box found for several classes is one detection
        with several categories), boxes in whole pixels of the image; or ``{"error": message}`` when
        MediaPipe refused the file or failed.
    """
    return _run_child(path, images, "detect", timeout)


def _detect_main(model_path, images_path, result_path):
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    images = np.load(images_path)
    options = vision.ObjectDetectorOptions(base_options=BaseOptions(model_asset_path=model_path), max_results=-1,
                                           score_threshold=0.0)
    try:
        with vision.ObjectDetector.create_from_options(options) as detector:
            found = []
            for image in images:
                frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
                # A box the model gives for several classes is one MediaPipe detection with several categories.
                found.append([(c.index, c.category_name, float(c.score), (d.bounding_box.origin_x, d.bounding_box.origin_y,
                                                                          d.bounding_box.width, d.bounding_box.height))
                              for d in detector.detect(frame).detections for c in d.categories])
        result = {"detections": found}
    except Exception as error:  # noqa: BLE001 - MediaPipe's refusal is the answer reported to the caller
        result = {"error": f"{type(error).__name__}: {error}"}
    with open(result_path, "w") as file:
        json.dump(result, file)


def _segment_main(model_path, images_path, result_path):
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    images = np.load(images_path)
    options = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=model_path),
                                           output_category_mask=True, output_confidence_masks=False)
    try:
        with vision.ImageSegmenter.create_from_options(options) as segmenter:
            masks = []
            for image in images:
                frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
                masks.append(np.array(segmenter.segment(frame).category_mask.numpy_view(), np.uint8).reshape(image.shape[:2]))
        np.save(result_path + ".npy", np.stack(masks))
        result = {"images": len(masks)}
    except Exception as error:  # noqa: BLE001 - MediaPipe's refusal is the answer reported to the caller
        result = {"error": f"{type(error).__name__}: {error}"}
    with open(result_path, "w") as file:
        json.dump(result, file)


def _main(model_path, images_path, result_path, max_results):
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    images = np.load(images_path)
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model_path), max_results=max_results)
    try:
        with vision.ImageClassifier.create_from_options(options) as classifier:
            categories = []
            for image in images:
                frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
                found = classifier.classify(frame).classifications[0].categories
                categories.append([(c.index, c.category_name, float(c.score)) for c in found])
        result = {"categories": categories}
    except Exception as error:  # noqa: BLE001 - MediaPipe's refusal is the answer reported to the caller
        result = {"error": f"{type(error).__name__}: {error}"}
    with open(result_path, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    if sys.argv[4] == "segment":
        _segment_main(sys.argv[1], sys.argv[2], sys.argv[3])
    elif sys.argv[4] == "detect":
        _detect_main(sys.argv[1], sys.argv[2], sys.argv[3])
    else:
        _main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
