"""Detectors shipped: SavedModel detections, TFLite with LiteRT's detection post-processing op, the GPU
accelerator, MediaPipe's ObjectDetector.

The network is torchvision's ``ssdlite320_mobilenet_v3_large`` with the name-derived weights of its
stored reference (tools/make_ssdlite_reference.py) on real photos at 320 px; its scores are low
(no detection above 0.33) but depend on the image, so detections are compared above 0.05.
"""

import importlib.util
import io
import json

import numpy as np
import pytest

import keras_lightnets as kl
from detection_references import agreement, as_detections, on_mediapipe_grid, reference_tool, torchvision_weighted
from keras_lightnets.export import litert, metadata, mediapipe_client, to_saved_model, to_tflite_variants
from keras_lightnets.export.detection_postprocess import OP_NAME
from keras_lightnets.export.verify import load_in_fresh_process

SIZE = 320
LABELS = [f"class_{index}" for index in range(1, 91)]
MINIMUM_SCORE = 0.05
needs_vulkan = pytest.mark.skipif(not litert.vulkan_driver_present(),
                                  reason="no Vulkan driver for LiteRT's GPU accelerator: run tools/install-software-vulkan.sh")
needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="MediaPipe Tasks is not installed")
pytestmark = pytest.mark.xdist_group("detector_export")  # one worker builds and converts the detector once


def _photos():
    from skimage import data, transform

    photos = [transform.resize(photo, (SIZE, SIZE), preserve_range=True, anti_aliasing=True)
              for photo in (data.chelsea(), data.coffee())]
    return np.concatenate([reference_tool.reference_inputs().astype("float32"), np.rint(np.stack(photos))]).astype("float32")


@pytest.fixture(scope="module")
def detector():
    model = torchvision_weighted()
    photos = _photos()
    found = model.predict(photos, verbose=0)
    assert (found["scores"][:, 0] > MINIMUM_SCORE).all()
    return model, photos, found


@pytest.fixture(scope="module")
def converted(detector, tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector")
    path = str(folder / "fp32.tflite")
    to_tflite_variants(detector[0], {None: path})
    return path


def _run_tflite(path, images):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()
    per_image = [runner(images=image[None]) for image in images]
    limit = per_image[0]["output_0"].shape[1]
    return {"boxes": np.concatenate([r["output_0"] for r in per_image]),
            "classes": np.concatenate([r["output_1"] for r in per_image]).astype(np.int32),
            "scores": np.concatenate([r["output_2"] for r in per_image]),
            "num_detections": np.minimum(np.concatenate([r["output_3"] for r in per_image]), limit).astype(np.int32)}


def test_saved_model_returns_keras_detections_in_a_tensorflow_only_process(detector, tmp_path):
    from PIL import Image

    model, photos, found = detector
    export_dir = to_saved_model(model, base_dir=str(tmp_path), warmup=False)
    blobs = []
    for photo in photos[:2].astype(np.uint8):
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    report = load_in_fresh_process(export_dir, images=photos[:2], image_bytes=blobs)
    assert "keras_lightnets" not in report["modules"] and not report["errors"]
    for signature in ("serving_default", "predict_image_bytes"):
        served = {key: report["outputs"][f"{signature}/{key}"] for key in ("boxes", "classes", "scores", "num_detections")}
        assert served["boxes"].shape == (2, 300, 4) and served["classes"].dtype == np.int32
        expected = {key: value[:2] for key, value in found.items()}
        for theirs, ours in ((served, expected), (expected, served)):
            share, compared = agreement(theirs, ours, MINIMUM_SCORE)
            assert compared > 20 and share >= 0.99, (signature, share, compared)


def test_tflite_ends_in_the_detection_postprocess_op_and_detects_like_keras(detector, converted):
    from ai_edge_litert.interpreter import Interpreter

    model, photos, found = detector
    ops = {op["op_name"] for op in Interpreter(model_path=converted)._get_ops_details()}
    assert OP_NAME in ops
    interpreter = Interpreter(model_path=converted)
    interpreter.allocate_tensors()
    outputs = interpreter.get_output_details()
    assert [tuple(o["shape"]) for o in outputs] == [(1, 300, 4), (1, 300), (1, 300), (1,)]
    tflite = _run_tflite(converted, photos)
    share, compared = agreement(tflite, found, MINIMUM_SCORE)
    assert compared > 40 and share >= 0.95, (share, compared)
    shifted = {key: np.roll(value, 1, axis=0) for key, value in tflite.items()}  # power: another photo's detections
    assert agreement(shifted, found, MINIMUM_SCORE)[0] < 0.5


@needs_mediapipe
def test_mediapipe_object_detector_reads_the_metadata_and_detects_like_keras(detector, converted, tmp_path):
    model, photos, found = detector
    path = tmp_path / "with_metadata.tflite"
    path.write_bytes(open(converted, "rb").read())
    metadata.add_detector_metadata(str(path), LABELS, model.name, "test detector")
    described = json.loads(metadata.metadata_json(str(path)))
    assert described["name"] == model.name
    names = [t["name"] for t in described["subgraph_metadata"][0]["output_tensor_metadata"]]
    assert names == ["location", "category", "score", "number of detections"]
    result = mediapipe_client.detect(str(path), photos)
    assert "error" not in result, result
    theirs = as_detections(result["detections"], SIZE, LABELS)
    share, compared = agreement(theirs, on_mediapipe_grid(found, SIZE), MINIMUM_SCORE)
    assert compared > 40 and share >= 0.95, (share, compared)


@needs_mediapipe
def test_bad_detector_exports_are_refused(detector, converted, tmp_path):
    with pytest.raises(kl.LightnetsError, match="`labels`"):
        metadata.add_detector_metadata(converted, None, "name", "description")
    with pytest.raises(kl.LightnetsError, match="`batch_size`"):
        to_tflite_variants(detector[0], {None: str(tmp_path / "b2.tflite")}, batch_size=2)
    with pytest.raises(kl.LightnetsError, match="`int8_io`"):
        to_tflite_variants(detector[0], {"int8": str(tmp_path / "u8.tflite")}, representative_data=detector[1],
                           int8_io="uint8")


@needs_vulkan
@pytest.mark.slow
@pytest.mark.parametrize("quantization", [None, "int8"])
def test_the_network_runs_fully_on_the_gpu_accelerator(detector, quantization, tmp_path):
    """The network alone (the post-processing op is CPU-only by design, in every LiteRT runtime)."""
    model, photos, found = detector
    path = str(tmp_path / "network.tflite")
    to_tflite_variants(model, {quantization: path}, representative_data=photos, detection_postprocess=False)
    check = litert.gpu_check(path, images=photos[:1], runs=1)
    assert check.ran, check.error
    assert check.fully_accelerated, "some ops fell back to the CPU"
    scores = check.outputs["cls_scores"]
    raw = model(photos[:1], training=False)
    expected = np.asarray(raw["cls_logits"])
    expected = np.exp(expected - expected.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    assert np.abs(scores - expected).max() < (0.02 if quantization is None else 0.1)


@pytest.mark.slow
def test_int8_keeps_the_op_after_an_integer_network(detector, tmp_path):
    from keras_lightnets.export.tflite import float_ops

    model, photos, found = detector
    path = str(tmp_path / "int8.tflite")
    to_tflite_variants(model, {"int8": path}, representative_data=photos)
    assert set(float_ops(path)) <= {OP_NAME, "SOFTMAX", "GATHER", "CONCATENATION", "RESHAPE"}, float_ops(path)
    tflite = _run_tflite(path, photos)
    assert tflite["num_detections"].min() > 0


@pytest.mark.slow
def test_the_export_command_measures_detections_and_writes_detector_metadata(detector, tmp_path):
    from keras_lightnets import cli

    model, photos, found = detector
    path = tmp_path / "run" / "model.keras"
    path.parent.mkdir()
    model.save(path)
    (tmp_path / "run" / "labels.txt").write_text("\n".join(LABELS) + "\n")
    status = cli.main(["export", str(path), "--base-dir", str(tmp_path / "out"), "--quantization", "fp32", "--no-gpu"])
    assert status == 0
    tflite = tmp_path / "out" / "tflite" / f"{model.name}_fp32.tflite"
    described = json.loads(metadata.metadata_json(str(tflite)))
    assert "object detector over 90 classes" in described["description"]
    assert described["subgraph_metadata"][0]["output_tensor_metadata"][1]["name"] == "category"


def test_the_profile_command_counts_the_detector(capsys):
    from keras_lightnets import cli

    assert cli.main(["profile", "ssdlite320_mobilenet_v3_large", "--json"]) == 0
    profile = json.loads(capsys.readouterr().out)
    assert profile["trainable_params"] == 3_440_060
