"""SSDLite: default boxes, raw outputs and post-processing exact against torchvision; the detector's contract.

Reference: torchvision 0.29.1's ``ssdlite320_mobilenet_v3_large`` (91 classes) with name-derived
weights and measured batch-norm statistics, stored by ``tools/make_ssdlite_reference.py`` (torch
side environment): default boxes, head outputs on two images (computed in float64), and
``postprocess_detections`` on raw outputs made from numpy alone.
"""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from detection_references import NAME, reference_tool, torchvision_weighted
from detection_references import reference as _reference
from family_references import timm_tool
from helpers import assert_depends_on_input
from keras_lightnets.detection import box_coder
from keras_lightnets.detection.anchors import DefaultBoxes
from keras_lightnets.heads import ssdlite

TOLERANCE = 1e-4
# torchvision 0.29.1, 91 classes: sum(p.numel() for p in model.parameters()) and FlopCounterMode / 2 of
# backbone + head at 320 x 320 (printed by the tool).
TORCHVISION_PARAMETERS = 3_440_060
TORCHVISION_MACS = 0.5832e9


def _raw(model, images):
    out = model(images.astype(model.inputs[0].dtype), training=False)
    return {key: np.asarray(value) for key, value in out.items()}


@pytest.fixture(scope="module")
def torchvision_ssdlite():
    return torchvision_weighted("float64")


def test_parameters_and_multiply_adds_equal_torchvisions(torchvision_ssdlite):
    model = kl.create_model(NAME)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == TORCHVISION_PARAMETERS
    macs = kl.profile(model).macs
    assert abs(macs / TORCHVISION_MACS - 1) < 0.01, macs
    assert model.settings.grid_sizes == tuple(tuple(int(d) for d in shape[2:]) for shape in _reference()["feature_shapes"])


def test_default_boxes_equal_torchvisions():
    data = _reference()
    grid = [tuple(int(d) for d in shape[2:]) for shape in data["feature_shapes"]]
    ours = DefaultBoxes().corners(grid, (320, 320))
    assert ours.shape == data["anchors"].shape == (3234, 4)
    assert np.abs(ours - data["anchors"]).max() < 1e-6
    moved = DefaultBoxes(min_ratio=0.15).corners(grid, (320, 320))  # power: torchvision's generic default scale
    assert np.abs(moved - data["anchors"]).max() > 1.0


def test_raw_outputs_equal_torchvisions(torchvision_ssdlite):
    """In float64 on both sides: the 1x1 maps' batch norms (variance ~1e-5) amplify float32 rounding to ~1e-4."""
    data = _reference()
    expected = {"cls_logits": data["cls_logits"], "bbox_regression": data["bbox_regression"]}
    assert_depends_on_input(expected)
    got = _raw(torchvision_ssdlite, reference_tool.reference_inputs())
    for key, value in expected.items():
        assert got[key].shape == (2, 3234, value.shape[-1])
        assert np.abs(got[key][:, data["anchor_index"]] - value).max() < TOLERANCE, key


def test_planted_changes_are_caught(monkeypatch):
    """TF "same" padding in the extras' and heads' depthwise convolutions moves the outputs far past the tolerance."""
    data = _reference()
    monkeypatch.setattr(ssdlite._Layers, "conv_bn_relu6", _same_padding(ssdlite._Layers.conv_bn_relu6))
    model = torchvision_weighted("float64")
    got = _raw(model, reference_tool.reference_inputs())
    assert np.abs(got["cls_logits"][:, data["anchor_index"]] - data["cls_logits"]).max() > 100 * TOLERANCE


def _same_padding(original):
    def conv_bn_relu6(self, x, filters, prefix, depthwise=False, stride=1):
        if not depthwise:
            return original(self, x, filters, prefix, depthwise, stride)
        x = self.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{prefix}_0")(x)
        x = self.layers.BatchNormalization(epsilon=ssdlite.BN_EPSILON, name=f"{prefix}_1")(x)
        return self.layers.ReLU(6.0, name=f"{prefix}_2")(x)

    return conv_bn_relu6


def test_postprocessing_equals_torchvisions():
    from keras_lightnets.detection.postprocess import Postprocessing, detections

    data = _reference()
    logits, regression = reference_tool.synthetic_raw_outputs(timm_tool, 3234)
    grid = [tuple(int(d) for d in shape[2:]) for shape in data["feature_shapes"]]
    found = detections(logits, regression, DefaultBoxes().centered(grid), Postprocessing())
    for i in range(2):
        count = int(found["num_detections"][i])
        boxes = np.asarray(found["boxes"][i, :count])[:, [1, 0, 3, 2]] * 320.0  # -> torchvision's x1, y1, x2, y2 pixels
        assert count == len(data[f"post_scores_{i}"]) == 300
        np.testing.assert_array_equal(np.asarray(found["classes"][i, :count]) + 1, data[f"post_labels_{i}"])
        assert np.abs(np.asarray(found["scores"][i, :count]) - data[f"post_scores_{i}"]).max() < 1e-6
        assert np.abs(boxes - data[f"post_boxes_{i}"]).max() < 1e-3
        assert not np.asarray(found["boxes"][i, count:]).any()
    assert not np.array_equal(data["post_labels_0"], data["post_labels_1"])
    looser = detections(logits, regression, DefaultBoxes().centered(grid), Postprocessing(iou_threshold=0.9))
    kept = np.asarray(looser["classes"][0]) + 1
    assert not np.array_equal(kept, data["post_labels_0"])  # power: another NMS threshold keeps other boxes


def test_box_coding_round_trips():
    anchors = DefaultBoxes().centered([(4, 4), (2, 2), (1, 1), (1, 1), (1, 1), (1, 1)])
    rng = np.random.default_rng(0)
    corners = np.sort(rng.uniform(0, 1, (len(anchors), 2, 2)), axis=1).transpose(0, 2, 1).reshape(-1, 4)[:, [0, 2, 1, 3]]
    corners[:, 2:] += 0.01
    decoded = np.asarray(box_coder.decode(box_coder.encode(corners.astype("float32"), anchors), anchors))
    assert np.abs(decoded - corners).max() < 1e-5


@pytest.mark.zoo
@pytest.mark.parametrize("backbone", ["mobilenet_v2", "efficientnet_lite0", "mobilenet_v4_conv_small"])
def test_ssdlite_on_other_backbones(backbone):
    model = kl.SSDLite(backbone, num_classes=4, image_size=128, class_names=("a", "b", "c"))
    assert model.settings.grid_sizes == ((8, 8), (4, 4), (2, 2), (1, 1), (1, 1), (1, 1))
    raw = model(np.random.default_rng(0).uniform(0, 255, (2, 128, 128, 3)).astype("float32"))
    assert raw["cls_logits"].shape == (2, 6 * (64 + 16 + 4 + 3), 4) and raw["bbox_regression"].shape[-1] == 4


def test_predict_gives_detections_and_the_keras_file_keeps_them(tmp_path):
    from keras_lightnets.model_files import load_keras_model

    model = kl.SSDLite("mobilenet_v2", num_classes=3, image_size=96, max_detections=20, class_names=("x", "y"))
    images = np.random.default_rng(1).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    found = model.predict(images, verbose=0)
    assert found["boxes"].shape == (2, 20, 4) and found["classes"].dtype == np.int32
    assert (found["num_detections"] == 20).all() and found["scores"].max() <= 1.0
    assert ((found["boxes"] >= 0) & (found["boxes"] <= 1)).all()
    model.save(tmp_path / "detector.keras")
    loaded = load_keras_model(tmp_path / "detector.keras")
    assert isinstance(loaded, type(model)) and loaded.settings == model.settings
    again = loaded.predict(images, verbose=0)
    for key in found:
        np.testing.assert_allclose(again[key], found[key], atol=1e-5)


def _bad_calls():
    return [
        (dict(), "`backbone`"),
        (dict(backbone="mobilenet_v2", num_classes=1), "`num_classes`"),
        (dict(backbone="mobilenet_v2", image_size=100), "`image_size`"),
        (dict(backbone="mobilenet_v2", image_size=32), "`image_size`"),
        (dict(backbone="mobilenet_v2", normalization="imagenet"), "`normalization`"),
        (dict(backbone="mobilenet_v2", extra_channels=(512, 1)), "`extra_channels`"),
        (dict(backbone="mobilenet_v2", aspect_ratios=()), "`aspect_ratios`"),
        (dict(backbone="mobilenet_v2", min_ratio=0.9, max_ratio=0.5), "`min_ratio/max_ratio`"),
        (dict(backbone="mobilenet_v2", iou_threshold=0.0), "`iou_threshold`"),
        (dict(backbone="mobilenet_v2", max_detections=0), "`max_detections`"),
        (dict(backbone="mobilenet_v2", classification_loss="l2"), "`classification_loss`"),
        (dict(backbone="mobilenet_v2", num_classes=3, class_names=("a",)), "`class_names`"),
        (dict(backbone="mobilenet_v2", backbone_options={"depth": 2}), "`backbone_options`"),
        (dict(backbone="lraspp_mobilenet_v3_large"), "`backbone`"),
        (dict(backbone="no_such_net"), "`name`"),
    ]


@pytest.mark.zoo
@pytest.mark.parametrize("index", range(len(_bad_calls())))
def test_bad_arguments_are_named_before_any_layer_is_made(index, monkeypatch):
    arguments, match = _bad_calls()[index]

    def no_layer(self, *args, **kwargs):
        raise AssertionError(f"a {type(self).__name__} was made before the arguments were checked")

    monkeypatch.setattr(keras.layers.Layer, "__init__", no_layer)
    with pytest.raises(kl.LightnetsError, match=match) as raised:
        kl.SSDLite(**arguments)
    assert "received" in str(raised.value) and "allowed" in str(raised.value)


@pytest.mark.zoo
def test_backbones_without_the_needed_endpoints_are_named():
    dilated = kl.MobileNetV2(include_top=False, weights=None, input_shape=(128, 128, 3), output_stride=16)
    with pytest.raises(kl.LightnetsError, match="`backbone`.*stride 32"):
        kl.SSDLite(dilated, num_classes=3, image_size=128)
    plain = keras.Sequential([keras.Input((128, 128, 3)), keras.layers.Conv2D(8, 3, strides=32)])
    with pytest.raises(kl.LightnetsError, match="`backbone`"):
        kl.SSDLite(plain, num_classes=3, image_size=128)
    other_size = kl.MobileNetV2(include_top=False, weights=None, input_shape=(160, 160, 3))
    with pytest.raises(kl.LightnetsError, match="`backbone`.*input"):
        kl.SSDLite(other_size, num_classes=3, image_size=128)
