"""Segmenters shipped: SavedModel (class map and probabilities), TFLite on LiteRT's GPU accelerator, MediaPipe's ImageSegmenter.

The networks are torchvision's configurations with the name-derived weights of its stored
reference (tools/make_segmentation_reference.py), on real photos at 128 px.
"""

import importlib.util
import json

import numpy as np
import pytest
import tensorflow as tf

import keras_lightnets as kl
from family_references import torchvision_state_dict
from helpers import assert_depends_on_input
from keras_lightnets.export import litert, metadata, mediapipe_client, to_saved_model, to_tflite_variants
from keras_lightnets.export.verify import load_in_fresh_process
from keras_lightnets.models.torchvision_weights import load_torchvision_state_dict

SIZE = 128
LABELS = [f"class_{index}" for index in range(21)]
needs_vulkan = pytest.mark.skipif(not litert.vulkan_driver_present(),
                                  reason="no Vulkan driver for LiteRT's GPU accelerator: run tools/install-software-vulkan.sh")
needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="MediaPipe Tasks is not installed")


def _photos():
    from skimage import data, transform

    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    return np.rint(np.stack([transform.resize(photo, (SIZE, SIZE), preserve_range=True, anti_aliasing=True)
                             for photo in photos])).astype("float32")


# Each network's tests share one worker (its conversion is made once); DeepLabV3's run in the slow set.
SEGMENTER_PARAMS = [
    pytest.param("lraspp_mobilenet_v3_large", marks=pytest.mark.xdist_group("segmenter_lraspp")),
    pytest.param("deeplabv3_mobilenet_v3_large", marks=[pytest.mark.xdist_group("segmenter_deeplabv3"), pytest.mark.slow]),
]


@pytest.fixture(scope="module", params=SEGMENTER_PARAMS)
def segmenter(request):
    model = kl.create_model(request.param, input_shape=(SIZE, SIZE, 3))
    load_torchvision_state_dict(model, torchvision_state_dict(request.param))
    photos = _photos()
    logits = model.predict(photos, verbose=0)
    assert_depends_on_input(logits)
    return model, photos, logits


@pytest.fixture(scope="module")
def converted(segmenter, tmp_path_factory):
    model, photos, logits = segmenter
    folder = tmp_path_factory.mktemp(model.name)
    paths = {None: str(folder / "fp32.tflite"), "fp16": str(folder / "fp16.tflite")}
    return to_tflite_variants(model, paths)


def test_saved_model_returns_the_class_map_and_probabilities_in_a_tensorflow_only_process(segmenter, tmp_path):
    model, photos, logits = segmenter
    export_dir = to_saved_model(model, base_dir=str(tmp_path), warmup=False)
    report = load_in_fresh_process(export_dir, images=photos[:2])
    outputs = report["outputs"]
    assert "keras_lightnets" not in report["modules"]
    # The served graph has its batch norms folded (float32 rounding): measured 1.6e-4 at most, 1 near-tied
    # pixel of 32,768 flipped.
    assert np.mean(outputs["serving_default/class_map"] == logits[:2].argmax(-1)) > 0.999
    probabilities = tf.nn.softmax(logits[:2]).numpy()
    assert np.abs(outputs["serving_default/probabilities"] - probabilities).max() < 1e-3
    assert outputs["serving_default/class_map"].dtype == np.int32


@needs_vulkan
@pytest.mark.parametrize("quantization", [None, pytest.param("fp16", marks=pytest.mark.slow)])
def test_tflite_runs_fully_on_the_gpu_accelerator(segmenter, converted, quantization):
    """Bilinear resizes, the pooled branches and the atrous convolutions all delegated."""
    model, photos, logits = segmenter
    check = litert.gpu_check(converted[quantization], images=photos, runs=1)
    assert check.ran, check.error
    assert check.fully_accelerated, "some ops fell back to the CPU"
    # The accelerator computes in fp16: on these name-derived (near-tied) weights 95-97% of the pixels keep
    # their class (measured); MediaPipe on the CPU below is the exact check.
    agreement = np.mean(check.outputs["probabilities"].argmax(-1) == logits.argmax(-1))
    assert agreement >= 0.9, agreement


@needs_mediapipe
def test_mediapipe_segments_like_keras(segmenter, converted, tmp_path):
    model, photos, logits = segmenter
    path = tmp_path / "with_metadata.tflite"
    path.write_bytes(open(converted[None], "rb").read())
    metadata.add_segmenter_metadata(str(path), LABELS, model.name, "test segmenter")
    described = json.loads(metadata.metadata_json(str(path)))
    assert described["name"] == model.name
    assert described["subgraph_metadata"][0]["output_tensor_metadata"][0]["associated_files"][0]["name"] == "labels.txt"
    assert described["subgraph_metadata"][0]["custom_metadata"][0]["name"] == "SEGMENTER_METADATA"
    result = mediapipe_client.segment(str(path), photos)
    assert "error" not in result, result
    agreement = np.mean(result["category_masks"] == logits.argmax(-1))
    assert agreement >= 0.99, agreement


@needs_mediapipe
def test_a_segmenter_without_metadata_is_refused_by_mediapipe(converted):
    result = mediapipe_client.segment(converted[None], _photos()[:1])
    assert "error" in result


@needs_mediapipe
def test_bad_labels_are_refused(converted):
    with pytest.raises(kl.LightnetsError, match="`labels`"):
        metadata.add_segmenter_metadata(converted[None], ["ok", ""], "name", "description")


@needs_vulkan
@pytest.mark.slow
def test_int8_runs_fully_on_the_gpu_accelerator(segmenter, tmp_path):
    """Calibrated on the photos; every op of the integer graph delegated (agreement: see docs/segmentation.md)."""
    model, photos, logits = segmenter
    path = str(tmp_path / "int8.tflite")
    to_tflite_variants(model, {"int8": path}, representative_data=photos)
    check = litert.gpu_check(path, images=photos, runs=1)
    assert check.ran, check.error
    assert check.fully_accelerated, "some int8 ops fell back to the CPU"


@needs_mediapipe
@pytest.mark.slow
def test_the_export_command_writes_segmenter_metadata_and_per_pixel_agreement(segmenter, tmp_path):
    from keras_lightnets.export.report import export_and_measure

    model, photos, logits = segmenter
    rows = export_and_measure(model, str(tmp_path / "saved"), str(tmp_path / "tflite"), quantizations=(None,),
                              sample_images=photos, gpu=False, log=lambda message: None, class_names=LABELS)
    assert [row.kind for row in rows] == ["saved_model", "fp32"]
    assert all(row.top1_agreement > 0.999 for row in rows), rows
    described = json.loads(metadata.metadata_json(rows[1].path))
    assert described["subgraph_metadata"][0]["custom_metadata"][0]["name"] == "SEGMENTER_METADATA"
    assert "semantic segmenter over 21 classes" in described["description"]
