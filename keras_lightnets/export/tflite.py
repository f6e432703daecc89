"""TFLite conversion (builtin ops only, static input shape) for LiteRT and its GPU accelerator."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_lightnets import validation
from keras_lightnets.export import signatures
from keras_lightnets.export.atomic import atomic_write_bytes
from keras_lightnets.inference import serving_model

QUANTIZATIONS = (None, "fp16", "dynamic", "int8")
INT8_IO = ("float", "uint8")
SIGNATURE = "serving_default"
DEFAULT_CALIBRATION_STEPS = 200


def _calibration(representative_data, height, width, channels, steps, batch_size=1):
    """Yields float32 (batch_size, H, W, C) batches, ``steps`` images in all, from an array or an iterable of batches.

    The batches match the file's static batch size (the calibrator runs the converted graph); with
    fewer images than one batch, the images are repeated to fill it.
    """

    batches = [representative_data] if isinstance(representative_data, np.ndarray) else representative_data

    def images():
        produced = 0
        for batch in batches:
            batch = np.asarray(batch, np.float32)
            if batch.ndim == 3:
                batch = batch[None]
            if batch.shape[1:] != (height, width, channels):
                validation.fail("representative_data", f"images of shape {batch.shape[1:]}",
                                f"images of shape {(height, width, channels)} (the model input)")
            for image in batch:
                yield image
                produced += 1
                if produced >= steps:
                    return

    def generator():
        chunk, yielded = [], 0
        for image in images():
            chunk.append(image)
            if len(chunk) == batch_size:
                yield [np.stack(chunk)]
                chunk, yielded = [], yielded + 1
        if chunk and not yielded:
            yield [np.stack([chunk[i % len(chunk)] for i in range(batch_size)])]

    return generator


def _converter(saved_dir, quantization, representative_data, height, width, channels, calibration_steps, trained_ranges,
               batch_size=1, int8_io="float", custom_ops=False):
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_dir, signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = custom_ops
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8" and not trained_ranges:
        # A quantization-aware graph carries its ranges; TF 2.21 rejects the INT8-only op set for it
        # when converting from a SavedModel, so such files are checked with float_ops() instead.
        converter.representative_dataset = _calibration(
            representative_data, height, width, channels, calibration_steps, batch_size)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if custom_ops:  # a detector's post-processing op runs in float after the int8 network
            converter.target_spec.supported_ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    if quantization == "int8" and int8_io == "uint8":
        # Raw camera pixels in, quantized probabilities out: the form on-device apps pass and read.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter


def convert_saved_model(saved_dir, path, quantization=None, trained_ranges=False):
    """Converts the ``serving_default`` signature of a SavedModel to a ``.tflite`` file.

    Args:
        saved_dir: SavedModel directory whose ``serving_default`` takes one
            float32 (N, H, W, C) input.
        path: Output ``.tflite`` path (written atomically).
        quantization: None (fp32), "fp16", "dynamic", or "int8" with
            ``trained_ranges`` (calibrated int8 goes through :func:`to_tflite`).
        trained_ranges: Take int8 ranges from a quantization-aware model's
            fake-quant ops (no calibration data).

    Returns:
        ``path``.
    """
    validation.check_choice("quantization", quantization, QUANTIZATIONS)
    if quantization == "int8" and not trained_ranges:
        validation.fail("trained_ranges", trained_ranges, 'True for quantization="int8" (calibrate with to_tflite instead)')
    converter = _converter(saved_dir, quantization, None, None, None, None, DEFAULT_CALIBRATION_STEPS, trained_ranges)
    atomic_write_bytes(os.fspath(path), converter.convert())
    return path


def to_tflite_variants(
    model,
    paths,
    representative_data=None,
    batch_size=1,
    image_size=None,
    calibration_steps=DEFAULT_CALIBRATION_STEPS,
    int8_io="float",
    detection_postprocess=True,
):
    """Converts ``model`` to several ``.tflite`` files, tracing the model once.

    Args:
        model: Keras model with a channels-last image input.
        paths: Mapping quantization -> output path, quantization one of
            None (fp32), "fp16", "dynamic", "int8"; e.g.
            ``{None: "m.tflite", "fp16": "m_fp16.tflite"}``.
        representative_data: Real images for "int8" (see :func:`to_tflite`).
        batch_size: Static batch size (int >= 1).
        image_size: Input size for models built with ``None`` spatial dims.
        calibration_steps: Images used for int8 calibration (int >= 1).
        int8_io: Interface of the "int8" file: "float" (float32 images in, probabilities out) or
            "uint8" (uint8 pixels in, uint8 probabilities out, scale 1/256; what apps pass a camera frame as).
        detection_postprocess: For a detector: end the file with LiteRT's ``TFLite_Detection_PostProcess``
            op (its four outputs, what MediaPipe's ObjectDetector reads), or (False) the network alone
            (``cls_scores``, ``bbox_regression``: what the GPU accelerator runs).

    Returns:
        The same mapping quantization -> path, all files written.
    """
    if not isinstance(paths, dict) or not paths:
        validation.fail("paths", paths, "a non-empty dict quantization -> .tflite path")
    for quantization, path in paths.items():
        validation.check_choice("quantization", quantization, QUANTIZATIONS)
        if not str(path).endswith(".tflite"):
            validation.fail("path", path, "a file name ending in .tflite")
    validation.check_number("batch_size", batch_size, minimum=1, integer=True)
    validation.check_number("calibration_steps", calibration_steps, minimum=1, integer=True)
    validation.check_choice("int8_io", int8_io, INT8_IO)
    if "int8" in paths and representative_data is None:
        validation.fail("representative_data", None, 'real images (N, H, W, C) when quantization="int8"')
    height, width, channels = signatures.input_size(model, image_size)
    model = serving_model(model)  # the converter folds BN itself; folded first, the file is the same
    from keras_lightnets.detection.detector import is_detector

    detector = is_detector(model)
    if detector and int8_io == "uint8":
        validation.fail("int8_io", int8_io, '"float" for a detector (its post-processing op reads float scores)')
    if detector and detection_postprocess and batch_size != 1:
        validation.fail("batch_size", batch_size, "1 for a detector with its post-processing op (the op takes one image)")

    def outputs(images, clip_boxes):
        if detector:
            from keras_lightnets.export.detection_postprocess import tflite_outputs

            return tflite_outputs(model, images, detection_postprocess, clip_boxes)
        # One output: a segmenter's per-pixel probabilities (MediaPipe's ImageSegmenter takes the argmax itself).
        return signatures.model_outputs(model, images, class_map=False)

    # A detector's boxes are clipped in the graph before its post-processing op, except in an int8 file: there
    # the decode-clip-encode ops would be quantized too (measured: AP75 0.55 -> 0.46), so the op decodes the offsets.
    groups = {}
    for quantization, path in paths.items():
        groups.setdefault(not (detector and detection_postprocess and quantization == "int8"), {})[quantization] = path
    for clip_boxes, group in groups.items():
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            SIGNATURE, lambda images, clip_boxes=clip_boxes: outputs(images, clip_boxes),
            input_signature=[tf.TensorSpec((batch_size, height, width, channels), tf.float32, name="images")],
        )
        with tempfile.TemporaryDirectory() as saved:
            archive.write_out(saved, verbose=False)
            for quantization, path in group.items():
                converter = _converter(
                    saved, quantization, representative_data, height, width, channels, calibration_steps, False,
                    batch_size, int8_io, custom_ops=detector and detection_postprocess,
                )
                content = converter.convert()
                if detector and detection_postprocess:
                    from keras_lightnets.export.detection_postprocess import order_outputs

                    content = order_outputs(content)
                atomic_write_bytes(os.fspath(path), content)
    return paths


def to_tflite(
    model,
    path,
    quantization=None,
    representative_data=None,
    batch_size=1,
    image_size=None,
    calibration_steps=DEFAULT_CALIBRATION_STEPS,
):
    """Converts ``model`` to a ``.tflite`` file with builtin ops only.

    The file has one signature, ``serving_default``: input ``images`` float32
    (batch_size, H, W, C) as the model takes them; output ``probabilities``
    for classifiers and segmenters (softmax added to logit models; per pixel
    for segmenters) or ``features``.

    Args:
        model: Keras model with a channels-last image input.
        path: Output ``.tflite`` path (written atomically).
        quantization: None (fp32), "fp16" (fp16 weights; the GPU delegate's
            preferred form), "dynamic" (int8 weights, float activations) or
            "int8" (int8 weights and activations, float input/output;
            needs ``representative_data``).
        representative_data: For "int8": real images as the model takes
            them, a (N, H, W, C) array or an iterable of such batches.
        batch_size: Static batch size (int >= 1; default 1).
        image_size: Input size for models built with ``None`` spatial dims.
        calibration_steps: Images used for int8 calibration (int >= 1).

    Returns:
        ``path``.
    """
    validation.check_choice("quantization", quantization, QUANTIZATIONS)
    to_tflite_variants(model, {quantization: path}, representative_data, batch_size, image_size, calibration_steps)
    return path


# Ops that legitimately read or write float tensors in an int8 file with float input/output.
_BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


def float_ops(path):
    """Compute ops of a ``.tflite`` file that read or write float32 tensors.

    An int8 file with a float interface has only QUANTIZE at its input and
    DEQUANTIZE at its output touching float tensors; anything listed here runs
    in float.

    Args:
        path: ``.tflite`` file.

    Returns:
        Sorted list of op names (empty for a fully integer graph).
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.fspath(path))
    tensors = {detail["index"]: detail["dtype"] for detail in interpreter.get_tensor_details()}
    found = set()
    for op in interpreter._get_ops_details():
        if op["op_name"] in _BOUNDARY_OPS:
            continue
        used = [index for index in (*op["inputs"], *op["outputs"]) if index >= 0]
        if any(tensors.get(index) == np.float32 for index in used):
            found.add(op["op_name"])
    return sorted(found)


def gpu_compatibility_report(path):
    """TensorFlow's static GPU-compatibility analysis of a ``.tflite`` file, as text.

    A report for people, not a gate: TF 2.21 marks some ops compatible that
    the GPU accelerator does not run. Use
    :func:`keras_lightnets.export.litert.gpu_check` for the real answer.
    """
    import contextlib
    import io

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        tf.lite.experimental.Analyzer.analyze(model_path=os.fspath(path), gpu_compatibility=True)
    return captured.getvalue()

