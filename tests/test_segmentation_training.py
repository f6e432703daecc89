"""Segmentation data (Fashion-MNIST scenes, image + mask folders) and the segmentation trainer."""

import importlib.util
import json
import os

import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.data import mask_folder, scenes
from keras_lightnets.train.segmentation import SegmentationConfig, fit_segmentation

needs_fashion = pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                                   reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


@needs_fashion
def test_scenes_are_fixed_and_label_each_items_own_pixels():
    (x_train, m_train), (x_test, m_test) = scenes.load_fashion_scenes(size=64, train_count=40, test_count=20)
    (again, m_again), _ = scenes.load_fashion_scenes(size=64, train_count=40, test_count=20)
    np.testing.assert_array_equal(x_train, again)
    np.testing.assert_array_equal(m_train, m_again)
    assert x_train.shape == (40, 64, 64, 3) and m_train.shape == (40, 64, 64) and x_test.shape == (20, 64, 64, 3)
    assert m_train.max() <= 10 and len(scenes.CLASS_NAMES) == 11
    # Every labelled pixel is one of an item's lit pixels (brighter than the dim background); background stays 0.
    brightness = x_train.max(-1)
    assert brightness[m_train > 0].min() >= scenes.ITEM_THRESHOLD * 0.6 - 1  # tinted down by 0.6 at most
    assert np.percentile(brightness[m_train == 0], 99) <= 60
    assert all(len(np.unique(mask)) >= 2 for mask in m_train)  # at least one item per scene
    assert not np.array_equal(x_train[:20], x_test)  # the held-out scenes are other scenes


def _write_pair(root, name, image, mask):
    from PIL import Image

    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    Image.fromarray(image).save(os.path.join(root, "images", name + ".jpg"))
    if mask is not None:
        Image.fromarray(mask).save(os.path.join(root, "masks", name + ".png"))


def _image(height=40, width=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_a_mask_folder_loads_with_its_splits(tmp_path):
    mask = np.zeros((40, 48), np.uint8)
    mask[10:20, 5:30] = 2
    mask[0, 0] = mask_folder.IGNORE_INDEX
    for split in ("train", "test"):
        for index in range(3):
            _write_pair(str(tmp_path / split), f"photo{index}", _image(seed=index), mask)
    (x_train, m_train), (x_test, m_test) = mask_folder.load_mask_folder(str(tmp_path), num_classes=3, size=32)
    assert x_train.shape == (3, 32, 32, 3) and m_train.shape == (3, 32, 32) and x_test.shape == (3, 32, 32, 3)
    assert set(np.unique(m_train)) <= {0, 2, mask_folder.IGNORE_INDEX}
    (x_all, m_all), held_out = mask_folder.load_mask_folder(str(tmp_path / "train"), num_classes=3)
    assert held_out is None and m_all.shape == (3, 40, 48)
    np.testing.assert_array_equal(m_all[0], mask)


@pytest.mark.parametrize("case, match", [
    ("size", r"`mask`.*bad\.png.*the size of its image"),
    ("class", r"`mask`.*bad\.png.*below num_classes=3.*holds 7"),
    ("missing", r"`data_dir`.*bad\.jpg.*with its mask"),
    ("colour", r"`mask`.*bad\.png.*single-channel"),
])
def test_bad_masks_are_named(tmp_path, case, match):
    root = str(tmp_path)
    _write_pair(root, "good", _image(), np.zeros((40, 48), np.uint8))
    mask = {"size": np.zeros((40, 40), np.uint8), "class": np.full((40, 48), 7, np.uint8), "missing": None,
            "colour": np.stack([np.zeros((40, 48), np.uint8), np.ones((40, 48), np.uint8), np.zeros((40, 48), np.uint8)], -1)}[case]
    _write_pair(root, "bad", _image(), mask)
    with pytest.raises(kl.LightnetsError, match=match):
        mask_folder.load_mask_folder(root, num_classes=3)


def _tiny_segmenter(classes=3):
    backbone = kl.MobileNetV3Small(input_shape=(48, 48, 3), include_top=False, alpha=0.75, minimalistic=True,
                                   output_stride=16)
    return kl.LRASPP(backbone, num_classes=classes, output_stride=None, inter_channels=16)


def _toy_data(count, seed):
    """Bright squares (class 1) and dark squares (class 2) on gray: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    images = np.full((count, 48, 48, 3), 128, np.uint8)
    masks = np.zeros((count, 48, 48), np.uint8)
    for index in range(count):
        for value, label in ((250, 1), (5, 2)):
            top, left = rng.integers(0, 32, size=2)
            images[index, top:top + 16, left:left + 16] = value
            masks[index, top:top + 16, left:left + 16] = label
    return images, masks


def test_the_trainer_learns_and_keeps_the_run_directory(tmp_path):
    run_dir = str(tmp_path / "run")
    config = SegmentationConfig(run_dir=run_dir, epochs=4, batch_size=16, learning_rate=3e-3, verbose=0)
    result = fit_segmentation(_tiny_segmenter, _toy_data(96, 0), _toy_data(32, 1), config, ["background", "bright", "dark"])
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["test_mean_iou"] == result.summary["test_mean_iou"]
    history = result.history
    assert len(history) == 4 and history[-1]["test_mean_iou"] > history[0]["test_mean_iou"] + 0.1, history
    for name in ("config.json", "labels.txt", "history.csv", "model.keras", "checkpoints/best.keras"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert not os.path.exists(os.path.join(run_dir, "backup"))
    with pytest.raises(kl.LightnetsError, match="`output_dir`"):  # a finished run is not trained over
        fit_segmentation(_tiny_segmenter, _toy_data(96, 0), _toy_data(32, 1), config, ["background", "bright", "dark"])


def test_bad_data_is_refused_before_any_step(tmp_path):
    config = SegmentationConfig(run_dir=str(tmp_path / "run"), epochs=1, batch_size=8, verbose=0)
    images, masks = _toy_data(16, 0)
    masks[3, 0, 0] = 5
    with pytest.raises(kl.LightnetsError, match="`train`.*class 5"):
        fit_segmentation(_tiny_segmenter, (images, masks), _toy_data(8, 1), config, ["a", "b", "c"])
    with pytest.raises(kl.LightnetsError, match="`test`"):
        fit_segmentation(_tiny_segmenter, _toy_data(16, 0), (images[:4], masks[:4, :40]), config, ["a", "b", "c"])
    with pytest.raises(kl.LightnetsError, match="`train`.*class 2"):  # two names: class 2 has no output
        fit_segmentation(_tiny_segmenter, _toy_data(16, 0), _toy_data(8, 1), config, ["a", "b"])
    with pytest.raises(kl.LightnetsError, match="`build`"):
        fit_segmentation(_tiny_segmenter(), _toy_data(16, 0), _toy_data(8, 1), config, ["a", "b", "c"])
    with pytest.raises(kl.LightnetsError, match="`epochs`"):
        fit_segmentation(_tiny_segmenter, _toy_data(16, 0), _toy_data(8, 1),
                         SegmentationConfig(run_dir=config.run_dir, epochs=0), ["a", "b", "c"])
    assert not os.path.exists(config.run_dir)


def test_an_interrupted_run_resumes(tmp_path, monkeypatch):
    import keras

    from keras_lightnets.train import segmentation

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("killed after the second epoch")

    run_dir = str(tmp_path / "run")
    config = SegmentationConfig(run_dir=run_dir, epochs=3, batch_size=16, learning_rate=3e-3, verbose=0, ema_momentum=0.9)
    callbacks = segmentation._callbacks
    monkeypatch.setattr(segmentation, "_callbacks", lambda config: callbacks(config) + [Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        fit_segmentation(_tiny_segmenter, _toy_data(48, 0), _toy_data(16, 1), config, ["background", "bright", "dark"])
    assert os.path.isdir(os.path.join(run_dir, "backup")) and not os.path.exists(os.path.join(run_dir, "summary.json"))
    monkeypatch.undo()
    changed = SegmentationConfig(**{**config.to_dict(), "run_dir": run_dir, "epochs": 4})
    with pytest.raises(kl.LightnetsError, match="changed: epochs"):
        fit_segmentation(_tiny_segmenter, _toy_data(48, 0), _toy_data(16, 1), changed, ["background", "bright", "dark"])
    result = fit_segmentation(_tiny_segmenter, _toy_data(48, 0), _toy_data(16, 1), config, ["background", "bright", "dark"])
    assert [int(row["epoch"]) for row in result.history] == [0, 1, 2] and result.summary["ema"]


@pytest.mark.slow
def test_mixed_precision_builds_the_network_under_its_policy(tmp_path):
    import keras

    config = SegmentationConfig(run_dir=str(tmp_path / "run"), epochs=1, batch_size=16, verbose=0, precision="mixed_float16")
    try:
        result = fit_segmentation(_tiny_segmenter, _toy_data(32, 0), _toy_data(16, 1), config, ["background", "bright", "dark"])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert result.model.get_layer("classifier_cbr_0").compute_dtype == "float16"
    assert result.model.layers[-1].compute_dtype == "float32"  # the logits leave in float32 for the loss
    assert np.isfinite(result.summary["test_loss"])


@needs_fashion
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="MediaPipe Tasks is not installed")
def test_mediapipe_segments_held_out_scenes_like_the_trained_keras_model(tmp_path):
    from keras_lightnets.export import metadata, mediapipe_client, to_tflite_variants

    train, (images, masks) = scenes.load_fashion_scenes(size=64, train_count=768, test_count=64)

    def build():  # EfficientNet-Lite0's ImageNet weights, installed offline by the setup
        return kl.LRASPP("efficientnet_lite0", num_classes=len(scenes.CLASS_NAMES), input_shape=(64, 64, 3),
                         backbone_weights="imagenet")

    config = SegmentationConfig(run_dir=str(tmp_path / "run"), epochs=3, batch_size=32, learning_rate=1e-3, verbose=0)
    result = fit_segmentation(build, train, (images, masks), config, list(scenes.CLASS_NAMES))
    background_only = np.mean(masks == 0) / len(scenes.CLASS_NAMES)  # mean IoU of predicting background everywhere
    assert result.summary["test_mean_iou"] > 2 * background_only, result.summary
    path = str(tmp_path / "scenes.tflite")
    to_tflite_variants(result.model, {None: path})
    metadata.add_segmenter_metadata(path, list(scenes.CLASS_NAMES), "lraspp_scenes", "test")
    segmented = mediapipe_client.segment(path, images)
    assert "error" not in segmented, segmented
    expected = result.model.predict(images.astype("float32"), verbose=0).argmax(-1)
    assert np.mean(segmented["category_masks"] == expected) >= 0.99
