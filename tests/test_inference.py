"""The inference graph: BatchNormalization folded into its producer, dropout removed, outputs unchanged."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import assert_depends_on_input, images, randomize, run, small_models

FAMILIES = small_models()
# Dropout layers of each small model: the classifier's, plus EfficientNet's stochastic depth.
DROPOUTS = {"mobilenet_v1": 1, "mobilenet_v2": 0, "efficientnet": 4, "xception": 0, "mobilenet_v3": 1, "efficientnet_v2": 3,
            "mobilenet_v4": 0, "efficientnet_lite": 2}


def _batch_norms(model):
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _assert_folded_equals(model, folded, x, atol=1e-5):
    expected = run(model, x)
    assert_depends_on_input(expected)
    got = run(folded, x)
    assert np.abs(got - expected).max() < atol


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_batch_norm_folds_and_outputs_stay(family):
    model = randomize(FAMILIES[family]())
    result = kl.fold_batch_norms(model)
    folded, report = result.model, result.report
    assert sorted(report.folded) == sorted(_batch_norms(model)) and report.left == []
    assert len(report.removed) == DROPOUTS[family]
    assert _batch_norms(folded) == []
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in folded.layers)
    kept = {layer.name: layer for layer in model.layers}
    for layer in folded.layers:  # every surviving layer keeps its name and kind
        assert type(layer) is type(kept[layer.name]), layer.name
    assert folded.count_params() < model.count_params()
    _assert_folded_equals(model, folded, images((4, *model.input_shape[1:])))
    assert f"{len(report.folded)} BatchNormalization layers folded, 0 left" in str(report)


@pytest.mark.slow  # every family folds by default above; this adds real training steps and EMA weights (1 min)
def test_folding_after_training_steps_and_with_ema_weights():
    """Moving statistics and kernels after real training steps (and the EMA weights swapped in) fold exactly."""
    model = kl.MobileNetV2(alpha=0.35, input_shape=(64, 64, 3), classes=4)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.5  # a few steps move the statistics far from their initial values
    model.compile(keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=0.5), "sparse_categorical_crossentropy")
    x = images((32, 64, 64, 3), seed=4)
    y = np.arange(32) % 4
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    test = images((4, 64, 64, 3), seed=9)
    _assert_folded_equals(model, kl.inference_model(model), test)
    model.optimizer.finalize_variable_values(model.trainable_variables)  # the EMA weights, as SwapEMAWeights does
    _assert_folded_equals(model, kl.inference_model(model), test)


def _unfoldable():
    """A graph where four BNs cannot fold, each for another reason, and one can."""
    inputs = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_relu")(inputs)
    a = keras.layers.BatchNormalization(name="bn_after_activation")(a)
    b = keras.layers.Conv2D(8, 3, padding="same", name="shared_output")(a)
    c = keras.layers.BatchNormalization(name="bn_of_shared_output")(b)
    d = keras.layers.Add(name="add")([b, c])
    d = keras.layers.BatchNormalization(name="bn_after_add")(d)
    e = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")(d)
    e = keras.layers.BatchNormalization(name="bn_folds")(e)
    f = keras.layers.Conv2D(4, 1, name="pointwise")(e)
    f = keras.layers.BatchNormalization(axis=1, name="bn_on_rows")(f)
    x = keras.layers.GlobalAveragePooling2D()(f)
    return keras.Model(inputs, keras.layers.Dense(3, name="fc")(x))


def test_batch_norms_that_cannot_fold_stay_and_say_why():
    model = randomize(_unfoldable())
    result = kl.fold_batch_norms(model)
    assert result.report.folded == ["bn_folds"]
    reasons = dict(result.report.left)
    assert set(reasons) == {"bn_after_activation", "bn_of_shared_output", "bn_after_add", "bn_on_rows"}
    assert "built-in activation" in reasons["bn_after_activation"]
    assert "also feeds add" in reasons["bn_of_shared_output"]
    assert "not a Conv2D" in reasons["bn_after_add"]
    assert "axis" in reasons["bn_on_rows"]
    assert sorted(_batch_norms(result.model)) == sorted(reasons)
    _assert_folded_equals(model, result.model, images((4, 12, 12, 3), low=-1, high=1))
    assert "1 BatchNormalization layers folded, 4 left" in str(result.report)


def test_keras_separable_conv2d_and_sequential_models_fold():
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.SeparableConv2D(8, 3, use_bias=False, name="sep"),
        keras.layers.BatchNormalization(name="sep_bn"),
        keras.layers.ReLU(),
        keras.layers.Flatten(),
        keras.layers.Dense(5, name="fc"),
        keras.layers.BatchNormalization(name="fc_bn"),
    ])
    randomize(model)
    result = kl.fold_batch_norms(model)
    assert sorted(result.report.folded) == ["fc_bn", "sep_bn"]
    _assert_folded_equals(model, result.model, images((4, 16, 16, 3), low=-1, high=1))


def test_inference_model_saves_and_loads_as_stock_layers(tmp_path):
    model = randomize(FAMILIES["efficientnet"]())
    folded = kl.inference_model(model)
    path = tmp_path / "folded.keras"
    folded.save(path)
    restored = keras.saving.load_model(path)
    x = images((2, *model.input_shape[1:]))
    np.testing.assert_array_equal(run(restored, x), run(folded, x))
    assert {type(layer).__module__.split(".")[0] for layer in restored.layers} == {"keras"}


def test_the_original_model_keeps_its_weights_and_batch_norms():
    model = randomize(FAMILIES["mobilenet_v1"]())
    before = [w.numpy().copy() for w in model.weights]
    kl.inference_model(model)
    for old, weight in zip(before, model.weights):
        np.testing.assert_array_equal(old, weight.numpy())
    assert len(_batch_norms(model)) == 27


def test_a_subclassed_model_is_refused():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    custom = Custom()
    custom(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="`model`"):
        kl.fold_batch_norms(custom)


@pytest.mark.parametrize(
    "build, size, merged",
    [
        # keras.applications pads before every stride-2 depthwise convolution; at even sizes those zeros are
        # exactly TensorFlow's "same" padding (MobileNetV2: 4, EfficientNet: 5 with its 5x5 kernels).
        (lambda shape: kl.MobileNetV2(alpha=0.35, input_shape=shape, classes=10), 96, 4),
        (lambda shape: kl.EfficientNet(1, scaling="compound", compound_coefficients=(0.5, 0.5, 1.0),
                                       input_shape=shape, classes=10), 64, 5),
        # MobileNet pads bottom/right by 1 whatever the size: at odd sizes "same" would pad (1, 1), so those stay.
        (lambda shape: kl.MobileNetV1(alpha=0.25, input_shape=shape, classes=10), 96, 4),
        (lambda shape: kl.MobileNetV1(alpha=0.25, input_shape=shape, classes=10), 97, 3),
    ],
)
def test_zero_padding_merges_into_the_convolution_only_where_it_equals_same(build, size, merged):
    model = randomize(build((size, size, 3)))
    result = kl.fold_batch_norms(model)
    paddings = [layer.name for layer in model.layers if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert len(result.report.padding_merged) == merged and set(result.report.padding_merged) <= set(paddings)
    left = [layer.name for layer in result.model.layers if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert sorted(left + result.report.padding_merged) == sorted(paddings)
    _assert_folded_equals(model, result.model, images((4, size, size, 3)))


def test_dynamic_sizes_keep_their_padding():
    """With None spatial dimensions "same" depends on the size at run time: nothing is merged."""
    model = randomize(kl.MobileNetV2(alpha=0.35, input_shape=(None, None, 3), include_top=False, pooling="avg"),
                      calibration=images((16, 96, 96, 3)))
    result = kl.fold_batch_norms(model)
    assert result.report.padding_merged == []
    for size in (96, 97):  # 1280 pooled features around 0.5, not probabilities: float32 rounding measured 3.5e-5
        _assert_folded_equals(model, result.model, images((2, size, size, 3)), atol=1e-4)
