"""weights="imagenet": the published keras.applications file format, from the Keras cache, offline."""

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import keras_lightnets as kl
from helpers import assert_same_outputs, images, randomize, run


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


def _md5(path):
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_imagenet_feature_extractor_file_for_xception(keras_home, monkeypatch):
    from keras_lightnets.models.families import xception

    published = randomize(keras.applications.Xception(include_top=False, weights=None, input_shape=(96, 96, 3)))
    path = keras_home / "models" / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    _publish(published, path)
    monkeypatch.setitem(xception.WEIGHTS_HASHES, False, _md5(path))  # this test's file stands in for the published one
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


def test_published_hashes_are_keras_applications_own():
    """Our md5 table must be the one keras.applications checks (read from its source; fails loudly if Keras moves it)."""
    import inspect
    import re

    from keras.src.applications import efficientnet as ka_efficientnet
    from keras.src.applications import efficientnet_v2 as ka_efficientnet_v2
    from keras.src.applications import mobilenet_v3 as ka_mobilenet_v3
    from keras.src.applications import xception as ka_xception

    from keras_lightnets.models.families import efficientnet, efficientnet_v2, mobilenet_v3, xception

    assert {f"b{phi}": pair for phi, pair in efficientnet.WEIGHTS_HASHES.items()} == ka_efficientnet.WEIGHTS_HASHES
    assert re.findall(r'file_hash="([0-9a-f]{32})"', inspect.getsource(ka_xception)) == [
        xception.WEIGHTS_HASHES[True], xception.WEIGHTS_HASHES[False]]
    assert mobilenet_v3.WEIGHTS_HASHES == ka_mobilenet_v3.WEIGHTS_HASHES
    assert {key if key.startswith("b") else f"-{key}": pair for key, pair in efficientnet_v2.WEIGHTS_HASHES.items()} == (
        ka_efficientnet_v2.WEIGHTS_HASHES)


def test_a_damaged_cached_file_is_an_error_naming_it_when_offline(keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_LIGHTNETS_OFFLINE", "1")
    cached = keras_home / "models" / "efficientnetb0_notop.h5"
    cached.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(1000))  # a truncated download
    with pytest.raises(ValueError, match="damaged: md5 .* != published 50bc09e76180e00e4465e1a485ddc09d") as raised:
        kl.EfficientNet(0, include_top=False, weights="imagenet", input_shape=(64, 64, 3))
    assert str(cached) in str(raised.value) and isinstance(raised.value, kl.WeightsUnavailableError)


def test_a_truncated_file_without_a_published_hash_is_detected(keras_home, monkeypatch):
    """MobileNet's files have no published hash: every array must read back."""
    monkeypatch.setenv("KERAS_LIGHTNETS_OFFLINE", "1")
    cached = keras_home / "models" / "mobilenet_2_5_128_tf.h5"
    _publish(keras.applications.MobileNet(input_shape=(128, 128, 3), alpha=0.25, weights=None), cached)
    kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3), weights="imagenet")  # intact: loads
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    with pytest.raises(kl.WeightsUnavailableError, match="damaged: not a readable HDF5 file"):
        kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3), weights="imagenet")


def test_a_damaged_cached_file_is_fetched_again_when_online(keras_home, tmp_path, monkeypatch):
    """The real download path (keras.utils.get_file) from a file:// URL: the damaged copy is replaced and verified."""
    from keras_lightnets.weights import WeightSource, fetch

    monkeypatch.delenv("KERAS_LIGHTNETS_OFFLINE", raising=False)
    good = tmp_path / "served" / "weights.h5"
    good.parent.mkdir()
    _publish(keras.applications.MobileNet(input_shape=(128, 128, 3), alpha=0.25, weights=None), good)
    source = WeightSource(filename="weights.h5", url=good.as_uri(), twin=None, file_hash=_md5(good))
    cached = keras_home / "models" / "weights.h5"
    cached.write_bytes(good.read_bytes()[:5000])
    assert fetch(source) == str(cached)
    assert cached.read_bytes() == good.read_bytes()
    wrong = WeightSource(filename="other.h5", url=good.as_uri(), twin=None, file_hash="0" * 32)
    with pytest.raises(kl.WeightsUnavailableError, match="other.h5"):
        fetch(wrong)  # a download that does not match its hash is refused
    assert not (keras_home / "models" / "other.h5").exists()
