"""Builders accept every keras.applications argument with its meaning, and reject bad input early."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import images, randomize, run

SMALL = {
    "mobilenet_v1": (kl.MobileNetV1, {"alpha": 0.25}),
    "mobilenet_v2": (kl.MobileNetV2, {"alpha": 0.35}),
    "efficientnet": (kl.EfficientNet, {"phi": 0}),
    "xception": (kl.Xception, {}),
}
FINAL_CHANNELS = {"mobilenet_v1": 256, "mobilenet_v2": 1280, "efficientnet": 1280, "xception": 2048}


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in ("efficientnet", "xception") else f
                                    for f in sorted(SMALL)])
def test_dynamic_spatial_input_and_pooling(family):
    builder, kwargs = SMALL[family]
    model = builder(include_top=False, pooling="avg", **kwargs)
    assert tuple(model.input.shape) == (None, None, None, 3)
    for size in (96, 128):
        out = run(model, images((1, size, size, 3)))
        assert out.shape == (1, FINAL_CHANNELS[family])
    feature_map = randomize(builder(include_top=False, input_shape=(96, 96, 3), **kwargs))
    assert len(feature_map.output.shape) == 4
    x = images((2, 96, 96, 3), seed=3)
    maps = run(feature_map, x)
    for pooling, reduce in (("max", np.max), ("avg", np.mean)):
        pooled = builder(include_top=False, pooling=pooling, input_shape=(96, 96, 3), **kwargs)
        assert pooled.output.shape == (None, FINAL_CHANNELS[family])
        pooled.set_weights(feature_map.get_weights())
        np.testing.assert_allclose(run(pooled, x), reduce(maps, axis=(1, 2)), rtol=1e-5, atol=1e-5)
    assert np.abs(maps.max(axis=(1, 2)) - maps.mean(axis=(1, 2))).max() > 1e-2  # the two poolings differ here


@pytest.mark.parametrize("family", sorted(SMALL))
@pytest.mark.parametrize("channels", [1, 4])
def test_any_channel_count(family, channels):
    builder, kwargs = SMALL[family]
    model = builder(input_shape=(96, 96, channels), classes=5, **kwargs)
    out = run(model, images((2, 96, 96, channels)))
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_non_rgb_efficientnet_preprocessing_is_plain_rescaling():
    model = kl.EfficientNet(0, input_shape=(64, 64, 1), include_top=False)
    mean, variance, _ = model.get_layer("normalization").get_weights()
    assert mean.tolist() == [0.0] and variance.tolist() == [1.0]
    rgb = kl.EfficientNet(0, input_shape=(64, 64, 3), include_top=False)
    mean, variance, _ = rgb.get_layer("normalization").get_weights()
    np.testing.assert_allclose(mean, [0.485, 0.456, 0.406], atol=1e-6)
    np.testing.assert_allclose(np.sqrt(variance), [0.229, 0.224, 0.225], atol=1e-6)


def test_input_tensor_is_shared():
    inputs = keras.Input((96, 96, 3))
    backbone = kl.MobileNetV2(input_tensor=inputs, include_top=False, alpha=0.35, pooling="avg")
    assert backbone.inputs[0] is inputs
    head = keras.layers.Dense(3)(backbone.output)
    assert keras.Model(inputs, head).output.shape == (None, 3)


def test_name_classes_and_logits():
    model = kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3), classes=7, classifier_activation=None, name="tiny")
    assert model.name == "tiny"
    out = run(model, images((2, 128, 128, 3)))
    assert out.shape == (2, 7) and not np.allclose(out.sum(axis=1), 1.0)
    assert kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3)).name == "mobilenet_0.25_128"
    assert kl.EfficientNet(2).name == "efficientnetb2"


def test_efficientnet_official_table_sets_default_resolution_and_dropout():
    model = kl.EfficientNet(3)
    assert tuple(model.input.shape) == (None, 300, 300, 3)
    assert model.get_layer("top_dropout").rate == 0.3
    drops = [layer.rate for layer in model.layers if layer.name.endswith("_drop")]
    assert drops == sorted(drops) and 0 < drops[0] and drops[-1] < 0.2


def test_efficientnet_compound_formula():
    assert kl.compound_scaling(1) == pytest.approx((1.1, 1.2, 258))
    model = kl.EfficientNet(1, scaling="compound")
    assert tuple(model.input.shape) == (None, 258, 258, 3)
    assert model.get_layer("top_conv").filters == 1408  # 1280 * 1.1
    blocks = {layer.name.split("_")[0] for layer in model.layers if layer.name.endswith("_project_conv")}
    assert len(blocks) == sum(int(np.ceil(1.2 * r)) for r in (1, 2, 2, 3, 3, 4, 1))
    half = kl.EfficientNet(0.5, scaling="compound", compound_coefficients=(1.3, 1.2, 1.1))
    assert tuple(half.input.shape) == (None, round(224 * 1.1**0.5), round(224 * 1.1**0.5), 3)


def test_channels_first_builds_like_keras_applications():
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        ours = kl.MobileNetV2(input_shape=(3, 96, 96), alpha=0.35)
        ka = keras.applications.MobileNetV2(input_shape=(3, 96, 96), alpha=0.35, weights=None)
        assert ours.count_params() == ka.count_params()
        assert ours.get_layer("Conv_1").output.shape == (None, 1280, 3, 3)
        effnet = kl.EfficientNet(0, input_shape=(3, 64, 64), include_top=False)
        assert effnet.output.shape == (None, 1280, 2, 2)
    finally:
        keras.config.set_image_data_format(previous)


def test_weights_from_our_own_file(tmp_path):
    model = kl.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), classes=4)
    for weight in model.trainable_weights[:5]:
        weight.assign(weight + 0.5)
    for suffix in (".keras", ".weights.h5"):
        path = tmp_path / f"saved{suffix}"
        model.save(path) if suffix == ".keras" else model.save_weights(path)
        loaded = kl.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), classes=4, weights=str(path))
        x = images((1, 96, 96, 3))
        np.testing.assert_allclose(run(loaded, x), run(model, x), atol=1e-6)
