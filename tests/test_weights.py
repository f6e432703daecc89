"""weights="imagenet": the published keras.applications file format, from the Keras cache, offline."""

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import keras_lightnets as kl
from conftest import assert_same_outputs, images, randomize, run


def _publish(ka_model, path):
    """Writes ``ka_model``'s weights in the legacy HDF5 layout of keras.applications' published files."""
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, ka_model)


@pytest.mark.parametrize(
    "ka_builder, ours, filename, shape, extra",
    [
        (keras.applications.MobileNetV2, kl.MobileNetV2,
         "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5", (96, 96, 3), {"alpha": 0.35}),
        (keras.applications.MobileNet, kl.MobileNetV1, "mobilenet_2_5_128_tf.h5", (128, 128, 3), {"alpha": 0.25}),
    ],
)
def test_imagenet_weights_come_from_the_keras_cache(keras_home, ka_builder, ours, filename, shape, extra):
    published = randomize(ka_builder(input_shape=shape, weights=None, classifier_activation=None, **extra), seed=7)
    _publish(published, keras_home / "models" / filename)
    # Logits: 1000 softmax probabilities of ~1e-3 each would hide a difference of 1e-5.
    model = ours(input_shape=shape, weights="imagenet", include_preprocessing=False, classifier_activation=None, **extra)
    x = images((2,) + shape, low=-1, high=1)
    assert_same_outputs(run(published, x), model, x, atol=1e-5)


def test_imagenet_feature_extractor_file_for_xception(keras_home):
    published = randomize(keras.applications.Xception(include_top=False, weights=None, input_shape=(96, 96, 3)))
    _publish(published, keras_home / "models" / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5")
    model = kl.Xception(include_top=False, weights="imagenet", input_shape=(96, 96, 3), include_preprocessing=False)
    x = images((2, 96, 96, 3), low=-1, high=1)
    assert_same_outputs(run(published, x), model, x, atol=1e-4)


def test_imagenet_feature_extractor_at_other_resolution_uses_224_file(keras_home):
    published = randomize(keras.applications.MobileNet(include_top=False, weights=None, alpha=0.25, input_shape=(224, 224, 3)))
    _publish(published, keras_home / "models" / "mobilenet_2_5_224_tf_no_top.h5")
    with pytest.warns(UserWarning, match="224x224"):
        model = kl.MobileNetV1(include_top=False, weights="imagenet", alpha=0.25, input_shape=(100, 100, 3))
    np.testing.assert_array_equal(model.get_layer("conv_pw_13").get_weights()[0],
                                  published.get_layer("conv_pw_13").get_weights()[0])


def test_missing_imagenet_file_names_the_file_and_the_place(keras_home):
    with pytest.raises(kl.WeightsUnavailableError) as raised:
        kl.EfficientNet(0, weights="imagenet")
    message = str(raised.value)
    assert "efficientnetb0.h5" in message
    assert str(keras_home / "models" / "efficientnetb0.h5") in message
    assert "https://storage.googleapis.com/keras-applications/efficientnetb0.h5" in message
