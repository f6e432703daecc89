"""Export a model to every format and measure each file: size, parity with Keras, LiteRT latency, GPU."""

import dataclasses
import os

import numpy as np

from keras_lightnets.export import litert, signatures
from keras_lightnets.export import metadata as tflite_metadata
from keras_lightnets.export.saved_model import to_saved_model
from keras_lightnets.export.tflite import to_tflite_variants
from keras_lightnets.export.verify import load_in_fresh_process

TFLITE_NAMES = {None: "fp32", "fp16": "fp16", "dynamic": "dynamic", "int8": "int8"}
# What each artifact must keep of the Keras model's output on the sample images: float files the
# largest absolute difference (probabilities or features), quantized files the top-1 class (classifiers;
# or every probability within fp16's tolerance) or the difference relative to the largest output (feature extractors).
MAX_ABS_DIFF = {"saved_model": 1e-4, "fp32": 1e-4, "fp16": 1e-2}
MIN_TOP1_AGREEMENT = 0.9
MAX_RELATIVE_DIFF = 0.1
# A detector's artifacts are compared on the Keras detections above this score (else each image's best 5).
DETECTION_SCORE = 0.3


@dataclasses.dataclass
class ExportRow:
    """One exported artifact and what was measured on it.

    Attributes:
        kind: "saved_model", or the TFLite quantization ("fp32", "fp16", ...).
        path: Where it was written.
        size_mb: Size on disk in MB (SavedModel: all files).
        max_abs_diff: Largest absolute output difference against Keras.
        top1_agreement: Share of images (a segmenter: of pixels) whose most probable class matches Keras;
            a detector: share of Keras' detections the artifact has too (same class, IoU >= 0.9), with
            ``max_abs_diff`` the largest score difference of those.
        cpu_ms: LiteRT CPU (XNNPACK, 2 threads) median latency, batch 1.
        gpu_fully_accelerated: Every op ran on LiteRT's GPU accelerator.
        gpu_ms: GPU accelerator median latency, batch 1.
    """

    kind: str
    path: str
    size_mb: float
    max_abs_diff: float
    top1_agreement: float
    cpu_ms: float = None
    gpu_fully_accelerated: bool = None
    gpu_ms: float = None
    output_scale: float = 1.0
    detector: bool = False

    def problems(self):
        """Why this artifact fails its parity tolerance or the GPU claim: a list of sentences (empty: it passes)."""
        found = []
        if self.detector and not self.top1_agreement >= MIN_TOP1_AGREEMENT:
            found.append(f"finds {self.top1_agreement:.3f} of the Keras detections; allowed >= {MIN_TOP1_AGREEMENT}")
        if self.kind in MAX_ABS_DIFF:
            if not self.max_abs_diff <= MAX_ABS_DIFF[self.kind]:
                found.append(f"max |diff| {self.max_abs_diff:.2e} against Keras; allowed <= {MAX_ABS_DIFF[self.kind]:.0e}")
        elif self.detector:
            pass  # a quantized detector file: its share of found detections (above) is the check
        elif not np.isnan(self.top1_agreement):
            # A file within fp16's tolerance of every probability passes even where near-ties flip its top-1
            # (an undertrained classifier's nearly equal probabilities).
            close = self.max_abs_diff <= MAX_ABS_DIFF["fp16"]
            if not (self.top1_agreement >= MIN_TOP1_AGREEMENT or close):
                found.append(f"top-1 agreement {self.top1_agreement:.3f} with Keras and max |diff| "
                             f"{self.max_abs_diff:.2e}; allowed: agreement >= {MIN_TOP1_AGREEMENT} or max |diff| "
                             f"<= {MAX_ABS_DIFF['fp16']:.0e}")
        elif not self.max_abs_diff <= MAX_RELATIVE_DIFF * self.output_scale:
            found.append(f"max |diff| {self.max_abs_diff:.2e} against Keras outputs up to {self.output_scale:.2e}; "
                         f"allowed <= {MAX_RELATIVE_DIFF:.0%} of that")
        if self.gpu_fully_accelerated is False:
            found.append("not every op ran on the LiteRT GPU accelerator")
        return found


def _size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 1e6


def _compare(got, expected, output_name="probabilities"):
    """(max |diff|, agreement of the most probable class: per image for a classifier, per pixel for a segmenter)."""
    diff = float(np.abs(got - expected).max())
    agreement = float(np.mean(got.argmax(-1) == expected.argmax(-1))) if output_name == "probabilities" else float("nan")
    return diff, agreement


def _compare_detections(got, expected):
    """(largest score difference of a found detection, share of Keras' detections found) (see :class:`ExportRow`)."""
    from keras_lightnets.detection.compare import agreement

    scores = np.asarray(expected["scores"])
    threshold = DETECTION_SCORE if (scores > DETECTION_SCORE).any() else float(np.min(scores[:, 4])) - 1e-9
    share, _, largest = agreement(got, expected, threshold)
    return largest, share


def _tflite_detections(outputs):
    """The op's four outputs (``output_0`` .. ``output_3``) in ``Detector.predict``'s form."""
    limit = outputs["output_0"].shape[1]
    return {"boxes": outputs["output_0"], "classes": np.asarray(outputs["output_1"]).astype(np.int32),
            "scores": outputs["output_2"],
            "num_detections": np.minimum(np.asarray(outputs["output_3"]).reshape(-1), limit).astype(np.int32)}


def export_and_measure(
    model, base_dir, tflite_dir, quantizations=(None, "fp16"), sample_images=None, representative_data=None,
    image_size=None, gpu=True, log=print, class_names=None, int8_io="float", metadata="auto",
):
    """Exports ``model`` as a SavedModel and TFLite files and measures each.

    Args:
        model: Keras image model (our builders or any channels-last model).
        base_dir: TF Serving model repository root for the SavedModel.
        tflite_dir: Directory for ``<model>_<quantization>.tflite`` files.
        quantizations: TFLite variants: None (fp32), "fp16", "dynamic", "int8".
        sample_images: (N, H, W, C) images used for parity; default 8 random images.
        representative_data: Real images for int8 calibration.
        image_size: Input size for models with ``None`` spatial dims.
        gpu: Also run each TFLite file on LiteRT's GPU accelerator (subprocess).
        log: Progress printer.
        class_names: The classifier's class names (the SavedModel's ``top_k_labels``, the TFLite metadata's labels).
        int8_io: "float" or "uint8": the interface of the int8 file (see :func:`~keras_lightnets.export.tflite.to_tflite_variants`).
        metadata: TFLite metadata for MediaPipe Tasks (ImageClassifier; ImageSegmenter for
            segmenters; ObjectDetector for detectors) on the files: True, False, or "auto" (when the
            ``mediapipe`` extra is installed).

    A detector's TFLite files end in LiteRT's ``TFLite_Detection_PostProcess`` op, which runs on the
    CPU in every runtime; its GPU column is measured on a companion file of the network alone
    (``<name>_<quantization>_network.tflite``).

    Returns:
        list of :class:`ExportRow`.
    """
    height, width, channels = signatures.input_size(model, image_size)
    if sample_images is None:
        sample_images = np.random.default_rng(0).uniform(0, 255, (8, height, width, channels)).astype(np.float32)
    from keras_lightnets.detection.detector import is_detector

    if is_detector(model):
        return _export_detector(model, base_dir, tflite_dir, quantizations, sample_images, representative_data, gpu, log,
                                class_names, metadata)
    expected = signatures.model_outputs(model, sample_images)
    output_name, expected = next(iter(expected.items()))
    expected = np.asarray(expected)
    rows = []
    log(f"exporting SavedModel to {base_dir} ...")
    saved = to_saved_model(model, base_dir=base_dir, image_size=image_size, class_names=class_names)
    loaded = load_in_fresh_process(saved, images=sample_images)
    scale = float(np.abs(expected).max())
    rows.append(ExportRow("saved_model", saved, _size_mb(saved), *_compare(
        loaded["outputs"][f"serving_default/{output_name}"], expected, output_name), output_scale=scale))
    paths = {q: os.path.join(tflite_dir, f"{model.name}_{TFLITE_NAMES[q]}.tflite") for q in quantizations}
    log(f"converting to TFLite ({', '.join(TFLITE_NAMES[q] for q in quantizations)}) ...")
    to_tflite_variants(model, paths, representative_data=representative_data, image_size=image_size, int8_io=int8_io)
    if output_name == "probabilities" and (metadata is True or (metadata == "auto" and tflite_metadata.available())):
        log("adding MediaPipe Tasks metadata (normalization, labels) to the TFLite files ...")
        for quantization, path in paths.items():
            uint8_input = quantization == "int8" and int8_io == "uint8"
            if signatures.is_segmenter(model):
                tflite_metadata.add_segmenter_metadata(
                    path, class_names, model.name, tflite_metadata.describe(
                        model.name, expected.shape[-1], height, width, channels, TFLITE_NAMES[quantization], uint8_input,
                        task="segmenter"), uint8_input=uint8_input)
                continue
            tflite_metadata.add_classifier_metadata(
                path, class_names, model.name, tflite_metadata.describe(model.name, expected.shape[-1], height, width,
                                                                         channels, TFLITE_NAMES[quantization], uint8_input),
                channels=channels, uint8_input=uint8_input)
    for quantization, path in paths.items():
        runtime = litert.load(path)
        row = ExportRow(TFLITE_NAMES[quantization], path, _size_mb(path),
                        *_compare(runtime(sample_images)[output_name], expected, output_name), cpu_ms=runtime.latency_ms(),
                        output_scale=scale)
        if gpu and litert.vulkan_driver_present():
            log(f"running {os.path.basename(path)} on the LiteRT GPU accelerator ...")
            check = litert.gpu_check(path, runs=10)
            row.gpu_fully_accelerated, row.gpu_ms = (check.fully_accelerated, check.latency_ms) if check.ran else (False, None)
        rows.append(row)
    return rows


def _export_detector(model, base_dir, tflite_dir, quantizations, sample_images, representative_data, gpu, log, class_names,
                     metadata):
    """:func:`export_and_measure` for a detector: detections compared, the network alone on the GPU accelerator."""
    expected = {key: np.asarray(value) for key, value in signatures.model_outputs(model, sample_images).items()}
    rows = []
    log(f"exporting SavedModel to {base_dir} ...")
    saved = to_saved_model(model, base_dir=base_dir)
    loaded = load_in_fresh_process(saved, images=sample_images)["outputs"]
    served = {key: loaded[f"serving_default/{key}"] for key in expected}
    rows.append(ExportRow("saved_model", saved, _size_mb(saved), *_compare_detections(served, expected), detector=True))
    paths = {q: os.path.join(tflite_dir, f"{model.name}_{TFLITE_NAMES[q]}.tflite") for q in quantizations}
    log(f"converting to TFLite with LiteRT's detection post-processing ({', '.join(TFLITE_NAMES[q] for q in quantizations)}) ...")
    to_tflite_variants(model, paths, representative_data=representative_data)
    if metadata is True or (metadata == "auto" and tflite_metadata.available()):
        classes = int(model.output["cls_logits"].shape[-1]) - 1
        class_names = list(class_names or model.settings.class_names or [f"class_{i}" for i in range(1, classes + 1)])
        log("adding MediaPipe ObjectDetector metadata (normalization, labels, output roles) to the TFLite files ...")
        height, width, channels = signatures.input_size(model)
        for quantization, path in paths.items():
            tflite_metadata.add_detector_metadata(path, class_names, model.name, tflite_metadata.describe(
                model.name, len(class_names), height, width, channels, TFLITE_NAMES[quantization], task="detector"))
    networks = {}
    if gpu and litert.vulkan_driver_present():
        networks = {q: path[:-len(".tflite")] + "_network.tflite" for q, path in paths.items()}
        to_tflite_variants(model, networks, representative_data=representative_data, detection_postprocess=False)
    for quantization, path in paths.items():
        runtime = litert.load(path)
        row = ExportRow(TFLITE_NAMES[quantization], path, _size_mb(path),
                        *_compare_detections(_tflite_detections(runtime(sample_images)), expected),
                        cpu_ms=runtime.latency_ms(), detector=True)
        if quantization in networks:
            log(f"running {os.path.basename(networks[quantization])} (the network without its CPU post-processing op) "
                "on the LiteRT GPU accelerator ...")
            check = litert.gpu_check(networks[quantization], runs=10)
            row.gpu_fully_accelerated, row.gpu_ms = (check.fully_accelerated, check.latency_ms) if check.ran else (False, None)
        rows.append(row)
    return rows


def failures(rows):
    """One sentence per artifact outside its tolerance (:meth:`ExportRow.problems`), naming the artifact and file."""
    return [f"{row.kind} ({row.path}): {problem}" for row in rows for problem in row.problems()]


def format_rows(rows):
    """Text table of :func:`export_and_measure` rows."""
    header = f"{'artifact':<12}{'size MB':>9}{'max |diff|':>12}{'top-1 agree':>13}{'CPU ms':>9}{'GPU full':>10}{'GPU ms':>9}  path"
    lines = [header]
    for r in rows:
        cpu = f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else "-"
        full = "-" if r.gpu_fully_accelerated is None else ("yes" if r.gpu_fully_accelerated else "NO")
        gpu = f"{r.gpu_ms:.1f}" if r.gpu_ms is not None else "-"
        lines.append(f"{r.kind:<12}{r.size_mb:>9.2f}{r.max_abs_diff:>12.2e}{r.top1_agreement:>13.3f}{cpu:>9}{full:>10}{gpu:>9}  {r.path}")
    return "\n".join(lines)
