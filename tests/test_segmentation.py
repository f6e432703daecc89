"""Segmentation heads (LR-ASPP, DeepLabV3/V3+) and the backbones' output_stride.

Reference outputs: torchvision 0.29.1's ``lraspp_mobilenet_v3_large`` and
``deeplabv3_mobilenet_v3_large`` (21 classes) with name-derived weights and measured batch-norm
statistics, stored by ``tools/make_segmentation_reference.py`` (torch side environment).
"""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from family_references import timm_tool, torchvision_outputs, torchvision_state_dict
from helpers import assert_depends_on_input, images, randomize, run, trainable_count
from keras_lightnets.heads import backbone as backbones
from keras_lightnets.features import layer_strides
from keras_lightnets.heads import common
from keras_lightnets.layers.resize import ResizeLike
from keras_lightnets.model_files import load_keras_model
from keras_lightnets.models.torchvision_weights import load_torchvision_state_dict

TOLERANCE = 1e-4
# torchvision 0.29.1 at 21 classes: sum(p.numel() for p in model.parameters()) and FlopCounterMode / 2 at 520x520.
TORCHVISION = {"lraspp_mobilenet_v3_large": (3_221_538, 2.0862e9), "deeplabv3_mobilenet_v3_large": (11_025_477, 10.4364e9)}
SEGMENTERS = sorted(TORCHVISION)


def _torchvision_logits(name, size):
    model = kl.create_model(name, input_shape=(size, size, 3))
    load_torchvision_state_dict(model, torchvision_state_dict(name))
    got = model.predict(timm_tool.reference_inputs(size).astype("float32"), verbose=0)
    return got, torchvision_outputs(name, size).transpose(0, 2, 3, 1)


@pytest.mark.zoo
@pytest.mark.parametrize("size", [48, 51])
@pytest.mark.parametrize("name", SEGMENTERS)
def test_logits_equal_torchvisions(name, size):
    got, expected = _torchvision_logits(name, size)
    assert_depends_on_input(expected)
    assert got.shape == expected.shape == (2, size, size, 21)
    assert np.abs(got - expected).max() < TOLERANCE


@pytest.mark.parametrize("name", SEGMENTERS)
def test_planted_changes_are_caught(name, monkeypatch):
    """Nearest-neighbour upsampling, and per head the batch-norm epsilon (torchvision's 1e-5) or the low endpoint."""
    monkeypatch.setattr(ResizeLike, "call", _nearest)
    got, expected = _torchvision_logits(name, 51)
    assert np.abs(got - expected).max() > 100 * TOLERANCE
    monkeypatch.undo()
    if name.startswith("lraspp"):  # the first block at stride 8, as torchvision's stage_indices, not the last
        monkeypatch.setattr(backbones, "block_endpoint", _last_block_endpoint)
    else:  # LR-ASPP's one head batch norm sees a large variance: 1e-3 moves it by 2e-3 only
        monkeypatch.setattr(common, "HEAD_BN_EPSILON", 1e-3)
    got, expected = _torchvision_logits(name, 51)
    assert np.abs(got - expected).max() > 100 * TOLERANCE


def _nearest(self, inputs):
    x, reference = inputs
    return keras.ops.image.resize(x, tuple(keras.ops.shape(reference)[1:3]), interpolation="nearest")


def _last_block_endpoint(model, stride, argument):
    from keras_lightnets.models import blocks

    strides = layer_strides(model)
    return [name for name in blocks.block_ends(model) if strides.get(name) == stride][-1]


@pytest.mark.zoo
@pytest.mark.parametrize("name", SEGMENTERS)
def test_parameters_and_multiply_adds_equal_torchvisions(name):
    model = kl.create_model(name, input_shape=(520, 520, 3))
    params, macs = TORCHVISION[name]
    assert trainable_count(model) == params
    profile = kl.profile(model)
    assert abs(profile.macs / macs - 1) < 0.01, profile.macs
    rows = {row.name: row for row in profile.rows}
    if name.startswith("deeplabv3"):  # the atrous and pooled branches are counted at their own sizes
        assert rows["classifier_0_convs_2_0"].macs == 33 * 33 * 9 * 960 * 256
        assert rows["classifier_0_convs_4_1"].macs == 960 * 256
    else:
        assert rows["classifier_scale_1"].macs == 960 * 128


@pytest.mark.zoo
@pytest.mark.parametrize("head, backbone, size", [
    ("lraspp", "mobilenet_v2", 64), ("lraspp", "mobilenet_v4_conv_small", 65), ("deeplabv3", "efficientnet_lite0", 67),
    ("deeplabv3", "mobilenet_v3_small", 64), ("deeplabv3plus", "efficientnet_b0", 64), ("deeplabv3plus", "mobilenet_v2", 65),
])
def test_heads_on_any_output_stride_backbone(head, backbone, size):
    arguments = dict(backbone=backbone, num_classes=5, input_shape=(size, size, 3))
    if head == "lraspp":
        model = kl.LRASPP(**arguments, inter_channels=32)
    else:
        model = kl.DeepLabV3(**arguments, decoder=head == "deeplabv3plus", separable=head == "deeplabv3plus",
                             atrous_rates=(2, 4, 6), activation="softmax")
    model = randomize(model)
    outputs = run(model, images((2, size, size, 3)))
    assert outputs.shape == (2, size, size, 5)
    assert_depends_on_input(outputs)
    if head != "lraspp":
        np.testing.assert_allclose(outputs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.zoo
def test_a_given_backbone_model_and_unknown_input_sizes():
    backbone = kl.EfficientNetLite(0, include_top=False, input_shape=(None, None, 3), output_stride=8,
                                   stages=None)
    model = randomize(kl.LRASPP(backbone, num_classes=3, output_stride=None, low_stride=4))
    for size in (64, 77):
        assert run(model, images((1, size, size, 3))).shape == (1, size, size, 3)


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    model = randomize(kl.DeepLabV3("mobilenet_v3_small", num_classes=4, input_shape=(64, 64, 3), decoder=True))
    path = str(tmp_path / "segmenter.keras")
    model.save(path)
    loaded = load_keras_model(path, "model")
    x = images((2, 64, 64, 3))
    expected = run(model, x)
    assert_depends_on_input(expected)
    np.testing.assert_allclose(run(loaded, x), expected, atol=1e-5)


def _bad_calls():
    return [
        (dict(backbone="mobilenet_v2", num_classes=1), "`num_classes`"),
        (dict(backbone="mobilenet_v2", num_classes=True), "`num_classes`"),
        (dict(backbone="mobilenet_v2", output_stride=4), "`output_stride`"),
        (dict(backbone="mobilenet_v1"), "`backbone`.*output_stride"),
        (dict(backbone="xception"), "`backbone`"),
        (dict(backbone="no_such_net"), "`name`"),
        (dict(backbone="lraspp_mobilenet_v3_large"), "`backbone`"),
        (dict(backbone="mobilenet_v2", input_shape=(16, 16, 3)), "`input_shape`"),
        (dict(backbone="mobilenet_v2", activation="sigmoid"), "`activation`"),
        (dict(backbone="mobilenet_v2", output_stride=8, low_stride=8), "`low_stride`"),
        (dict(backbone=42), "`backbone`"),
    ]


@pytest.mark.zoo
@pytest.mark.parametrize("builder", ["LRASPP", "DeepLabV3"])
@pytest.mark.parametrize("index", range(len(_bad_calls())))
def test_bad_arguments_are_named_before_any_layer_is_made(builder, index, monkeypatch):
    arguments, match = _bad_calls()[index]
    if builder == "DeepLabV3" and "low_stride" in arguments:
        arguments = {**arguments, "decoder": True}

    def no_layer(self, *args, **kwargs):
        raise AssertionError(f"a {type(self).__name__} was made before the arguments were checked")

    monkeypatch.setattr(keras.layers.Layer, "__init__", no_layer)
    with pytest.raises(kl.LightnetsError, match=match) as raised:
        getattr(kl, builder)(**arguments)
    assert "received" in str(raised.value) and "allowed" in str(raised.value)


@pytest.mark.zoo
def test_bad_deeplab_arguments_and_given_models():
    for arguments, match in [(dict(atrous_rates=(6, 12)), "`atrous_rates`"), (dict(decoder="yes"), "`decoder`"),
                             (dict(dropout=1.0), "`dropout`"), (dict(separable=1), "`separable`")]:
        with pytest.raises(kl.LightnetsError, match=match):
            kl.DeepLabV3("mobilenet_v2", **arguments)
    classifier = kl.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35)
    with pytest.raises(kl.LightnetsError, match="`backbone`.*4D"):
        kl.LRASPP(classifier, output_stride=None)
    features = kl.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, include_top=False)
    with pytest.raises(kl.LightnetsError, match="`output_stride`.*32"):
        kl.LRASPP(features, output_stride=16)
    with pytest.raises(kl.LightnetsError, match="`backbone_weights`"):
        kl.LRASPP(features, output_stride=None, backbone_weights="imagenet")
    plain = keras.Model(features.inputs, features.outputs)
    with pytest.raises(kl.LightnetsError, match="`backbone`.*recorded"):
        kl.LRASPP(plain, output_stride=None)


# output_stride on the backbones: stride-2 stages past it at stride 1, parameters unchanged.
OUTPUT_STRIDE_CASES = [
    (kl.MobileNetV2, dict(alpha=0.35)), (kl.MobileNetV3Large, dict(alpha=0.75)), (kl.MobileNetV3Small, {}),
    (kl.MobileNetV4, dict(variant="small")), (kl.EfficientNet, dict(phi=0)), (kl.EfficientNetLite, dict(phi=0)),
    (kl.TorchvisionMobileNetV3Large, dict(alpha=0.5)),
]


@pytest.mark.zoo
@pytest.mark.parametrize("builder, arguments", OUTPUT_STRIDE_CASES, ids=lambda value: getattr(value, "__name__", ""))
def test_output_stride_keeps_parameters_and_dilates(builder, arguments):
    size = 64
    reference = builder(input_shape=(size, size, 3), include_top=False, **arguments)
    for output_stride in (16, 8):
        model = builder(input_shape=(size, size, 3), include_top=False, output_stride=output_stride, **arguments)
        assert model.count_params() == reference.count_params()
        assert model.output_shape[1:3] == (size // output_stride, size // output_stride)
        rates = {layer.dilation_rate[0] for layer in model.layers if hasattr(layer, "dilation_rate")}
        assert rates == {1, 2} if output_stride == 16 else {1, 2, 4}, rates
        model.set_weights(reference.get_weights())  # the same weights fit: classification weights port as they are


def test_a_dilated_kernel_pads_like_pytorch():
    """TF "same" at stride 1 with dilation d pads d * (k - 1) // 2 on every side: PyTorch's symmetric padding."""
    x = images((1, 13, 13, 4), seed=4) / 255.0
    for kernel, dilation in ((3, 2), (5, 2), (3, 4)):
        same = keras.layers.DepthwiseConv2D(kernel, padding="same", dilation_rate=dilation, use_bias=False)
        valid = keras.layers.DepthwiseConv2D(kernel, padding="valid", dilation_rate=dilation, use_bias=False)
        same.build(x.shape)
        valid.build(x.shape)
        valid.set_weights(same.get_weights())
        pad = dilation * (kernel - 1) // 2
        expected = valid(np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))))
        np.testing.assert_allclose(same(x), expected, atol=1e-6)


@pytest.mark.zoo
def test_bad_dilation_rows():
    with pytest.raises(kl.LightnetsError, match=r"`stages\[0\]\.dilation"):
        kl.MobileNetV2(input_shape=(64, 64, 3), stages=[kl.Stage("inverted_residual", 16, dilation=0)])
    with pytest.raises(kl.LightnetsError, match=r"`stages\[0\]\.dilation"):
        kl.Xception(input_shape=(71, 71, 3), stages=[kl.Stage("xception_down", 16, dilation=2)])
    table = [kl.Stage("inverted_residual", 16, stride=2), kl.Stage("inverted_residual", 24, stride=2)]
    with pytest.raises(kl.LightnetsError, match="`output_stride`.*up to 8"):
        kl.MobileNetV2(input_shape=(64, 64, 3), stages=table, output_stride=16)
