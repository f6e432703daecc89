"""Test-time augmentation: the views, their pixels, and the averaged prediction."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lightnets.train.test_time_augmentation import averaged_predictor, predict_batches, view, views


def test_each_policy_has_its_views():
    assert views("none") == [(False, 0, 0)]
    assert views("flip") == [(False, 0, 0), (True, 0, 0)]
    shifted = views("flip_shift", shift=2)
    assert len(shifted) == len(set(shifted)) == 10
    assert {(down, right) for _, down, right in shifted} == {(0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)}
    assert {mirror for mirror, _, _ in shifted} == {False, True}


@pytest.mark.parametrize("policy, shift, field", [("crops", 1, "tta"), ("flip_shift", 0, "shift"), ("flip", 1.5, "shift")])
def test_bad_policy_or_shift_is_named(policy, shift, field):
    with pytest.raises(ValueError, match=f"Invalid `{field}`"):
        views(policy, shift)


def _one_pixel(row, column, size=5):
    image = np.zeros((1, size, size, 1), "float32")
    image[0, row, column, 0] = 7.0
    return image


@pytest.mark.parametrize("mirror, down, right, expected", [
    (False, 0, 0, (1, 3)), (True, 0, 0, (1, 1)), (False, 1, 0, (2, 3)), (False, -1, 0, (0, 3)),
    (False, 0, 1, (1, 4)), (False, 0, -2, (1, 1)), (True, 1, 1, (2, 2)),
])
def test_a_view_moves_the_content_and_keeps_the_shape(mirror, down, right, expected):
    moved = view(_one_pixel(1, 3), mirror, down, right).numpy()
    assert moved.shape == (1, 5, 5, 1)
    assert list(zip(*np.nonzero(moved[0, :, :, 0]))) == [expected]
    assert moved.sum() == 7.0


def test_content_shifted_past_the_edge_is_dropped_and_the_vacated_side_is_zero():
    moved = view(_one_pixel(0, 4), False, 0, 1).numpy()
    assert not moved.any()
    full = view(np.ones((1, 4, 4, 1), "float32"), False, -1, 0).numpy()[0, :, :, 0]
    assert (full[:3] == 1).all() and (full[3] == 0).all()


def _numpy_view(images, mirror, down, right):
    """Reference: the same view with NumPy rolls and explicit zeroing."""
    images = images[:, :, ::-1] if mirror else images.copy()
    images = np.roll(images, (down, right), axis=(1, 2))
    if down > 0:
        images[:, :down] = 0
    if down < 0:
        images[:, down:] = 0
    if right > 0:
        images[:, :, :right] = 0
    if right < 0:
        images[:, :, right:] = 0
    return images


def _classifier(size=6, classes=3):
    model = keras.Sequential([keras.Input((size, size, 1)), keras.layers.Flatten(), keras.layers.Dense(classes, activation="softmax")])
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=(size * size, classes)).astype("float32"), np.zeros(classes, "float32")])
    return model


@pytest.mark.parametrize("policy", ["none", "flip", "flip_shift"])
def test_the_prediction_is_the_mean_over_the_views(policy):
    model = _classifier()
    images = np.random.default_rng(0).uniform(0, 1, (4, 6, 6, 1)).astype("float32")
    expected = np.mean([model.predict(_numpy_view(images, *choice), verbose=0) for choice in views(policy, 1)], axis=0)
    averaged = averaged_predictor(model, policy)(images)
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    np.testing.assert_allclose(averaged.sum(-1), 1.0, atol=1e-5)
    if policy != "none":
        assert np.abs(averaged - model.predict(images, verbose=0)).max() > 1e-3  # the views changed the answer


def test_predict_batches_covers_every_batch_in_order():
    model = _classifier()
    images = np.random.default_rng(2).uniform(0, 1, (10, 6, 6, 1)).astype("float32")
    labels = keras.utils.to_categorical(np.arange(10) % 3, 3)
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)  # 4 + 4 + 2
    single, probabilities, one_hot = predict_batches(model, batches, "flip")
    np.testing.assert_array_equal(one_hot, labels)
    np.testing.assert_allclose(probabilities, averaged_predictor(model, "flip")(images), atol=1e-6)
    np.testing.assert_allclose(single, model.predict(images, verbose=0), atol=1e-6)
