"""SeparableConv, SqueezeExcite and InvertedResidual: math, shapes, serialization, bad input."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import assert_depends_on_input, assert_same_outputs, images, randomize, run

pytestmark = pytest.mark.zoo  # backend-agnostic: CI runs these under KERAS_BACKEND=jax too


def _round_trip(model, tmp_path, x):
    randomize(model)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    expected = run(model, x)
    assert_depends_on_input(expected)
    np.testing.assert_array_equal(run(restored, x), expected)
    return restored


def test_separable_conv_equals_depthwise_then_pointwise():
    inputs = keras.Input((12, 12, 5))
    ours = keras.Model(inputs, kl.SeparableConv(7, kernel_size=3, strides=2, name="sep")(inputs))
    randomize(ours)
    reference_in = keras.Input((12, 12, 5))
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(reference_in)
    x = keras.layers.BatchNormalization(epsilon=1e-3)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(7, 1, use_bias=False)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3)(x)
    reference = keras.Model(reference_in, keras.layers.ReLU()(x))
    reference.set_weights(ours.get_weights())
    x = images((3, 12, 12, 5), low=-1, high=1)
    assert_same_outputs(run(reference, x), ours, x, atol=1e-6)
    assert ours.output.shape == (None, 6, 6, 7)


def test_separable_conv_parameter_count_is_k2c_plus_cn():
    layer = kl.SeparableConv(16, kernel_size=5, depthwise_bn=False, pointwise_bn=False, use_bias=False)
    layer.build((None, 20, 20, 8))
    assert layer.count_params() == 5 * 5 * 8 + 8 * 16


def test_separable_conv_round_trip(tmp_path):
    inputs = keras.Input((10, 10, 3))
    x = kl.SeparableConv(8, activation="swish", depthwise_activation=None, depth_multiplier=2)(inputs)
    model = keras.Model(inputs, kl.SeparableConv(4, strides=2, padding="valid")(x))
    restored = _round_trip(model, tmp_path, images((2, 10, 10, 3)))
    assert restored.layers[1].get_config()["depth_multiplier"] == 2
    assert restored.layers[1].get_config()["activation"] == "swish"


def test_squeeze_excite_gates_channels(tmp_path):
    inputs = keras.Input((6, 6, 8))
    model = keras.Model(inputs, kl.SqueezeExcite(2, name="se")(inputs))
    randomize(model)
    rng = np.random.default_rng(1)  # feature maps whose channel means differ between images, as real ones do
    x = rng.normal(rng.normal(0.0, 1.0, (2, 1, 1, 8)), 0.5, (2, 6, 6, 8)).astype("float32")
    se = model.get_layer("se").sublayers
    squeezed = x.mean(axis=(1, 2))
    reduce_kernel, reduce_bias = se["se_reduce"].get_weights()
    expand_kernel, expand_bias = se["se_expand"].get_weights()
    hidden = squeezed @ reduce_kernel[0, 0] + reduce_bias
    hidden = hidden / (1 + np.exp(-hidden))
    gate = 1 / (1 + np.exp(-(hidden @ expand_kernel[0, 0] + expand_bias)))
    expected = x * gate[:, None, None, :]
    assert_depends_on_input(gate)  # the gate itself differs between images, not only the gated input
    np.testing.assert_allclose(run(model, x), expected, atol=1e-5)
    _round_trip(model, tmp_path, x)


@pytest.mark.parametrize(
    "in_channels, filters, strides, residual",
    [(16, 16, 1, True), (16, 24, 1, False), (16, 16, 2, False)],
)
def test_inverted_residual_shortcut_only_when_shapes_allow(in_channels, filters, strides, residual):
    layer = kl.InvertedResidual(filters, expand_ratio=4, strides=strides, se_ratio=0.25, activation="swish")
    out = layer(np.zeros((1, 16, 16, in_channels), "float32"))
    assert ("add" in layer.sublayers) is residual
    assert out.shape == (1, 16 // strides, 16 // strides, filters)


def test_inverted_residual_stochastic_depth_only_in_training():
    rate = 0.3
    layer = kl.InvertedResidual(8, expand_ratio=2, drop_rate=rate)
    x = images((512, 4, 4, 8), low=-1, high=1)
    inference = [np.asarray(layer(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    # The same block without stochastic depth gives the residual branch (BN on batch statistics in both).
    whole = kl.InvertedResidual(8, expand_ratio=2)
    whole.build(x.shape)
    whole.set_weights(layer.get_weights())
    branch = np.asarray(whole(x, training=True)) - x
    assert np.abs(branch).max() > 0.1
    trained = np.asarray(layer(x, training=True))
    dropped = np.all(np.isclose(trained, x, atol=1e-5), axis=(1, 2, 3))
    kept = np.all(np.isclose(trained, x + branch / (1 - rate), atol=1e-4), axis=(1, 2, 3))
    assert np.all(dropped ^ kept)  # each sample: only the shortcut, or the branch rescaled by 1 / keep
    assert abs(dropped.mean() - rate) < 0.08  # 512 samples: 4 standard deviations of the binomial


def test_inverted_residual_round_trip(tmp_path):
    inputs = keras.Input((8, 8, 16))
    x = kl.InvertedResidual(16, se_ratio=0.25, drop_rate=0.1, activation="swish")(inputs)
    model = keras.Model(inputs, kl.InvertedResidual(24, strides=2, kernel_size=5)(x))
    _round_trip(model, tmp_path, images((2, 8, 8, 16), low=-1, high=1))


def test_mobilenet_v3_style_inverted_residual_and_fused_block_round_trip(tmp_path):
    inputs = keras.Input((16, 16, 16))
    x = kl.InvertedResidual(24, expand_ratio=72 / 16, strides=2, se_ratio=0.25, activation="hard_swish",
                            expansion_rounding="divisible", se_base="expanded", se_rounding="divisible",
                            se_activation="relu", se_gate="hard_sigmoid")(inputs)
    x = kl.FusedInvertedResidual(24, expand_ratio=4)(x)
    model = keras.Model(inputs, kl.FusedInvertedResidual(32, expand_ratio=1, strides=2)(x))
    _round_trip(model, tmp_path, images((2, 16, 16, 16), low=-1, high=1))
    # MobileNetV3's widths: expanded make_divisible(16 * 4.5) = 72, squeeze-excite make_divisible(72 / 4) = 24.
    assert model.layers[1].sublayers["expand"].filters == 72 and model.layers[1].sublayers["se_reduce"].filters == 24
    assert "add" in model.layers[2].sublayers and "project_act" in model.layers[3].sublayers


def test_the_layers_and_the_builders_are_one_implementation():
    """A builder's block (stock layers) and the exported layer compute the same function with the same weights."""
    model = kl.EfficientNetV2("b0", input_shape=(32, 32, 3), include_top=False, include_preprocessing=False,
                              stages=[kl.Stage("fused_inverted_residual", 32, expansion=4)])
    randomize(model)
    block = keras.Model(model.get_layer("block1a_expand_conv").input, model.get_layer("block1a_add").output)
    inputs = keras.Input(block.input.shape[1:])
    layer = kl.FusedInvertedResidual(32, expand_ratio=4, bn_momentum=0.9)
    twin = keras.Model(inputs, layer(inputs))
    twin.set_weights(block.get_weights())
    x = images((2, *block.input.shape[1:]), low=-1, high=1)
    assert_same_outputs(run(block, x), twin, x, atol=1e-6)


@pytest.mark.parametrize(
    "factory, argument",
    [
        (lambda: kl.SeparableConv(0), "filters"),
        (lambda: kl.FusedInvertedResidual(8, se_gate="tanh"), "se_gate"),
        (lambda: kl.InvertedResidual(8, se_base="output"), "se_base"),
        (lambda: kl.SeparableConv(8, strides=3), "strides"),
        (lambda: kl.SeparableConv(8, padding="full"), "padding"),
        (lambda: kl.SqueezeExcite(0), "reduced_channels"),
        (lambda: kl.InvertedResidual(8, drop_rate=1.5), "drop_rate"),
        (lambda: kl.InvertedResidual(8, expand_ratio=0), "expand_ratio"),
    ],
)
def test_layers_reject_bad_arguments(factory, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        factory()
