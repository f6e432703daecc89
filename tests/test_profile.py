"""Cost analysis: MACs against the papers, and the standard-convolution twin against a real one."""

import json

import keras
import pytest

import keras_lightnets as kl

# Multiply-adds from the papers (../shared/REFERENCE.md).
PAPER_MACS = [
    (lambda: kl.MobileNetV1(), 569e6),
    (lambda: kl.MobileNetV1(alpha=0.75), 325e6),
    (lambda: kl.MobileNetV1(alpha=0.5), 149e6),
    (lambda: kl.MobileNetV1(input_shape=(192, 192, 3)), 418e6),
    (lambda: kl.MobileNetV1(input_shape=(160, 160, 3)), 290e6),
    (lambda: kl.MobileNetV1(input_shape=(128, 128, 3)), 186e6),
    (lambda: kl.MobileNetV2(), 300e6),
    (lambda: kl.MobileNetV2(alpha=1.4), 585e6),
    (lambda: kl.EfficientNet(0), 0.39e9),
    (lambda: kl.EfficientNet(1), 0.70e9),
]


@pytest.mark.parametrize("build, paper", PAPER_MACS)
def test_macs_match_the_papers_within_one_percent(build, paper):
    model = build()
    result = kl.profile(model)
    assert abs(result.macs / paper - 1) < 0.01
    assert result.params == model.count_params()
    assert sum(row.params for row in result.rows) == result.params


@pytest.mark.zoo
def test_mobilenet_v1_025_within_two_percent_of_the_rounded_41m():
    # The paper rounds to 41M; the exact count is 41.4M (1% is below the rounding step).
    assert abs(kl.profile(kl.MobileNetV1(alpha=0.25)).macs / 41e6 - 1) < 0.02


def _tiny(separable, kernel=3, filters=(16, 32, 64)):
    """A small network built with separable (no BN between) or standard convolutions."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(filters[0], 3, strides=2, padding="same", name="stem")(inputs)
    for index, width in enumerate(filters[1:]):
        if separable:
            x = keras.layers.DepthwiseConv2D(kernel, strides=2, padding="same", use_bias=False, name=f"dw{index}")(x)
            x = keras.layers.ReLU()(x)
            x = keras.layers.Conv2D(width, 1, use_bias=False, name=f"pw{index}")(x)
        else:
            x = keras.layers.Conv2D(width, kernel, strides=2, padding="same", use_bias=False, name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.parametrize("kernel", [3, 5])
def test_standard_twin_costs_equal_a_real_standard_network(kernel):
    separable = kl.profile(_tiny(True, kernel))
    standard = kl.profile(_tiny(False, kernel))
    assert separable.separable_pairs == 2 and standard.separable_pairs == 0
    assert separable.standard_params == standard.params
    assert separable.standard_macs == standard.macs
    assert separable.macs < standard.macs


def test_pair_ratio_is_one_over_n_plus_one_over_k_squared():
    inputs = keras.Input((28, 28, 32))
    layer = kl.SeparableConv(64, kernel_size=3, depthwise_bn=False, pointwise_bn=False,
                             depthwise_activation=None, activation=None)
    result = kl.profile(keras.Model(inputs, layer(inputs)))
    assert result.separable_pairs == 1
    assert result.macs_ratio == pytest.approx(1 / 64 + 1 / 9)
    kinds = result.by_kind
    assert kinds["depthwise"]["macs"] == 28 * 28 * 32 * 9 and kinds["pointwise"]["macs"] == 28 * 28 * 32 * 64


@pytest.mark.zoo
def test_keras_separable_conv2d_layer_is_priced_and_paired():
    inputs = keras.Input((20, 20, 8))
    model = keras.Model(inputs, keras.layers.SeparableConv2D(16, 3, padding="same", use_bias=False)(inputs))
    result = kl.profile(model)
    assert result.macs == 20 * 20 * (9 * 8 + 8 * 16)
    assert result.standard_macs == 20 * 20 * 9 * 8 * 16
    assert result.standard_params == 9 * 8 * 16


@pytest.mark.zoo
def test_every_separable_pair_of_each_family_is_found():
    assert kl.profile(kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3))).separable_pairs == 13
    assert kl.profile(kl.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3))).separable_pairs == 17
    assert kl.profile(kl.EfficientNet(0, input_shape=(64, 64, 3))).separable_pairs == 16
    assert kl.profile(kl.Xception(input_shape=(96, 96, 3))).separable_pairs == 34


def test_separable_network_is_8_to_9x_cheaper_than_its_standard_twin():
    result = kl.profile(kl.MobileNetV1())
    assert 8 < 1 / result.macs_ratio < 9


@pytest.mark.zoo
def test_dynamic_model_needs_input_size():
    model = kl.MobileNetV2(alpha=0.35, include_top=False)
    with pytest.raises(ValueError, match="`input_size`"):
        kl.profile(model)
    at_256 = kl.profile(model, input_size=256)
    at_128 = kl.profile(model, input_size=128)
    assert at_256.input_shape == (256, 256, 3)
    assert at_256.macs == 4 * at_128.macs


def test_text_and_notebook_renderings():
    inputs = keras.Input((28, 28, 32))
    layer = kl.SeparableConv(64, depthwise_bn=False, pointwise_bn=False, depthwise_activation=None, activation=None)
    result = kl.profile(keras.Model(inputs, layer(inputs), name="pair"))
    macs, params = 28 * 28 * 32 * (9 + 64), 9 * 32 + 32 * 64  # worked out by hand
    text = str(result)
    assert "pair" in text and f"params {params:,}" in text and "MACs 1.83M" in text
    assert "depthwise" in text and "pointwise" in text and "standard convolutions" in text
    assert "MACs 0.127 (7.9x fewer)" in text  # 73 / (9 * 64): separable over standard
    assert len(result.layer_lines(top=1)) == 2 and "pointwise" in result.layer_lines(top=1)[1]
    html = result._repr_html_()
    assert "<table>" in html and f"{params:,} params, 1.83M MACs" in html
    exported = json.loads(json.dumps(result.to_dict()))
    assert exported["macs"] == macs and exported["params"] == params
    assert sum(row["macs"] for row in exported["layers"]) == macs
    assert exported["standard_macs"] == 28 * 28 * 9 * 32 * 64


@pytest.mark.zoo
def test_composite_layers_are_expanded():
    inputs = keras.Input((16, 16, 8))
    x = kl.InvertedResidual(8, expand_ratio=4, se_ratio=0.25, name="mb")(inputs)
    result = kl.profile(keras.Model(inputs, x))
    names = [row.name for row in result.rows]
    assert "mb/depthwise" in names and "mb/se_reduce" in names
    assert result.separable_pairs == 1
    expected = 16 * 16 * (8 * 32 + 9 * 32 + 32 + 32 * 8) + 16 * 16 * 32 + (32 * 2 + 2 * 32)
    assert result.macs == expected
