"""The fused batch-norm kernel used while training computes what Keras 3's BatchNormalization computes."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from keras_lightnets.train.fused_batch_norm import fused_batch_norm  # noqa: E402
from helpers import training_step  # noqa: E402


def _small_net(seed, channels_axis=-1):
    """Conv -> BN -> ReLU -> BN(no scale/center) -> pool -> Dense -> BN (rank 2: not fusable) -> softmax."""
    keras.utils.set_random_seed(seed)
    shape = (6, 4, 4) if channels_axis == 1 else (4, 4, 6)
    data_format = "channels_first" if channels_axis == 1 else "channels_last"
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(8, 3, padding="same", data_format=data_format, name="conv")(inputs) if channels_axis != 1 else inputs
    x = keras.layers.BatchNormalization(axis=channels_axis, momentum=0.5, name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.BatchNormalization(axis=channels_axis, momentum=0.5, center=False, scale=False, name="bn_plain")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format)(x)
    x = keras.layers.Dense(5, name="dense")(x)
    x = keras.layers.BatchNormalization(momentum=0.5, name="bn_rank2")(x)
    return keras.Model(inputs, keras.layers.Softmax()(x))




@pytest.mark.parametrize("channels_axis", [-1, 1], ids=["channels_last", "channels_first"])
def test_fused_training_step_matches_keras_outputs_gradients_and_moving_statistics(channels_axis):
    rng = np.random.default_rng(0)
    shape = (6, 4, 4) if channels_axis == 1 else (4, 4, 6)
    images = tf.constant(rng.normal(1.0, 2.0, (3, *shape)).astype("float32"))  # 48 values per channel: Bessel's n/(n-1) shows
    labels = keras.utils.to_categorical(rng.integers(0, 5, 3), 5)
    reference, fused = _small_net(1, channels_axis), _small_net(1, channels_axis)
    expected = training_step(reference, images, labels)
    with fused_batch_norm(fused) as switched:
        got = training_step(fused, images, labels)
    assert switched == 3
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
    for name, g, e in zip([w.path for w in fused.trainable_weights], got[1], expected[1]):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=name)  # dense/bias: 0 up to rounding (BN follows)
    for name, g, e in zip([w.path for w in fused.weights], got[2], expected[2]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=name)  # moving mean/variance (biased, as Keras 3)
    assert not np.allclose(fused.get_layer("bn").moving_variance.numpy(), 1.0), "the step must have moved the statistics"


def test_frozen_and_inference_mode_use_the_moving_statistics():
    rng = np.random.default_rng(1)
    images = tf.constant(rng.normal(3.0, 2.0, (2, 4, 4, 6)).astype("float32"))
    reference, fused = _small_net(2), _small_net(2)
    for model in (reference, fused):
        model.get_layer("bn").trainable = False
        model.get_layer("bn").moving_mean.assign(np.full(8, 0.5, "float32"))
    before = fused.get_layer("bn").moving_mean.numpy().copy()
    with fused_batch_norm(fused):
        frozen_training = fused(images, training=True).numpy()
        inference = fused(images, training=False).numpy()
    np.testing.assert_array_equal(fused.get_layer("bn").moving_mean.numpy(), before)
    np.testing.assert_allclose(frozen_training, reference(images, training=True).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inference, reference(images, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_layers_get_their_own_call_back_and_save_as_stock_batch_norm(tmp_path):
    model = _small_net(3)
    with fused_batch_norm(model):
        assert all("call" in layer.__dict__ for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
        model.save(tmp_path / "inside.keras")
    assert not any("call" in layer.__dict__ for layer in model.layers)
    reloaded = keras.saving.load_model(tmp_path / "inside.keras")
    assert type(reloaded.get_layer("bn")) is keras.layers.BatchNormalization
    images = np.random.default_rng(3).normal(0, 1, (2, 4, 4, 6)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)
