"""Pointwise convolutions run as matrix products while training compute what Keras' Conv2D computes."""

import contextlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import keras_lightnets  # noqa: E402
from keras_lightnets.train.model_factory import find_layers  # noqa: E402
from keras_lightnets.train.pointwise_matmul import is_pointwise, pointwise_matmul  # noqa: E402
from helpers import training_step  # noqa: E402


def _small_net(seed):
    """Two pointwise convs (one with bias and activation, one inside a SeparableConv) and four convs that must stay."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 1, activation="relu", name="pointwise")(inputs)
    x = keras_lightnets.SeparableConv(12, name="separable")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="three_by_three")(x)
    x = keras.layers.Conv2D(8, 1, strides=2, name="strided")(x)
    x = keras.layers.Conv2D(8, 1, dilation_rate=2, name="dilated")(x)
    x = keras.layers.Conv2D(8, 1, groups=2, use_bias=False, name="grouped")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))




def test_only_plain_one_by_one_stride_one_convolutions_are_switched():
    model = _small_net(0)
    switched = [layer.name for layer in find_layers(model, is_pointwise)]
    assert "pointwise" in switched and len(switched) == 2  # + the SeparableConv's inner pointwise conv
    for name in ("three_by_three", "strided", "dilated", "grouped"):
        assert not is_pointwise(model.get_layer(name))
    assert not is_pointwise(keras.layers.Conv2D(4, 1, data_format="channels_first"))
    assert not is_pointwise(keras.layers.DepthwiseConv2D(1))


def test_training_step_matches_keras_outputs_and_gradients():
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(0.0, 1.0, (3, 6, 6, 3)).astype("float32"))
    labels = keras.utils.to_categorical(rng.integers(0, 4, 3), 4)
    reference, switched_model = _small_net(1), _small_net(1)
    expected = training_step(reference, images, labels)
    with pointwise_matmul(switched_model) as switched:
        got = training_step(switched_model, images, labels)
    assert switched == 2
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
    for name, g, e in zip([w.path for w in switched_model.trainable_weights], got[1], expected[1]):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6, err_msg=name)


def test_compiled_fit_with_unknown_batch_size_matches_keras():
    """Model.fit traces the step with a None batch dimension and the last batch is smaller."""
    rng = np.random.default_rng(1)
    images = rng.normal(0.0, 1.0, (10, 6, 6, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 4, 10), 4)
    losses = []
    for switch in (False, True):
        model = _small_net(2)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        with pointwise_matmul(model) if switch else contextlib.nullcontext():
            history = model.fit(images, labels, batch_size=4, epochs=2, shuffle=False, verbose=0)
        losses.append(history.history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_layers_get_their_own_convolution_back_and_save_as_stock_conv2d(tmp_path):
    model = _small_net(3)
    with pointwise_matmul(model):
        assert "convolution_op" in model.get_layer("pointwise").__dict__
        model.save(tmp_path / "inside.keras")
    assert "convolution_op" not in model.get_layer("pointwise").__dict__
    assert not any("convolution_op" in layer.__dict__ for layer in find_layers(model, lambda layer: True))
    reloaded = keras.saving.load_model(tmp_path / "inside.keras")
    assert type(reloaded.get_layer("pointwise")) is keras.layers.Conv2D
    images = np.random.default_rng(3).normal(0, 1, (2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)
