"""Class names travel from a run's labels.txt to the SavedModel's top_k_labels and the TFLite metadata."""

import os

import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.cli import main
from keras_lightnets.labels import read_labels, resolve_labels, write_labels


def test_labels_are_found_beside_a_run_model_or_its_checkpoint(tmp_path):
    run = tmp_path / "runs" / "mobilenet_v1_photos"
    (run / "checkpoints").mkdir(parents=True)
    write_labels(run / "labels.txt", ["cat", "coffee", "tea"])
    assert read_labels(run / "labels.txt") == ["cat", "coffee", "tea"]
    assert resolve_labels(None, 3, model_path=run / "model.keras") == ["cat", "coffee", "tea"]
    assert resolve_labels(None, 3, model_path=run / "checkpoints" / "best.keras") == ["cat", "coffee", "tea"]
    assert resolve_labels(None, 3, model_path=tmp_path / "elsewhere.keras") is None
    assert resolve_labels(None, 1000, imagenet_weights=True)[285] == "Egyptian cat"
    assert resolve_labels("imagenet", 1000)[967] == "espresso"
    with pytest.raises(kl.LightnetsError, match=r"Invalid `labels`: .*labels.txt.*the model has 4 classes and the labels give 3"):
        resolve_labels(None, 4, model_path=run / "model.keras")
    with pytest.raises(kl.LightnetsError, match=r"the model has 10 classes and the labels give 1000"):
        resolve_labels("imagenet", 10)
    (tmp_path / "gaps.txt").write_text("a\n\nb\n")
    with pytest.raises(kl.LightnetsError, match="none empty"):
        read_labels(tmp_path / "gaps.txt")
    with pytest.raises(kl.LightnetsError, match="names without line breaks"):
        write_labels(tmp_path / "bad.txt", ["a\nb"])


def test_a_training_run_writes_its_class_names(tmp_path):
    from keras_lightnets.train.config import TrainConfig
    from keras_lightnets.train.engine import fit

    fit(TrainConfig(model="mobilenet_v1", alpha=0.25, image_size=32, epochs=1, batch_size=256, verbose=0,
                    dataset="digits", output_dir=str(tmp_path / "run")))
    assert (tmp_path / "run" / "labels.txt").read_text() == "".join(f"{i}\n" for i in range(10))


def _saved_model_with_labels(tmp_path, labels):
    from helpers import randomize

    run = tmp_path / "run"
    run.mkdir()
    path = str(run / "model.keras")
    randomize(kl.MobileNetV1(alpha=0.25, input_shape=(64, 64, 3), classes=4)).save(path)
    if labels is not None:
        write_labels(run / "labels.txt", labels)
    return path


def test_export_puts_the_runs_labels_in_the_saved_model(tmp_path):
    import tensorflow as tf

    path = _saved_model_with_labels(tmp_path, ["cat", "coffee", "tea", "dog"])
    assert main(["export", path, "--quantization", "fp16", "--no-gpu", "--base-dir", str(tmp_path / "out")]) == 0
    loaded = tf.saved_model.load(str(tmp_path / "out" / "mobilenet_0.25_64" / "1"))
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)), tf.float32)
    outputs = loaded.signatures["serving_default"](images=images)
    labels = [label.decode() for label in outputs["top_k_labels"].numpy().ravel()]
    assert set(labels) <= {"cat", "coffee", "tea", "dog"} and len(labels) == 8


def test_export_refuses_labels_of_another_count_or_uint8_without_int8_before_writing(tmp_path, capsys):
    path = _saved_model_with_labels(tmp_path, ["cat", "coffee", "tea"])
    out = tmp_path / "out"
    assert main(["export", path, "--no-gpu", "--base-dir", str(out)]) == 2
    assert "the model has 4 classes and the labels give 3" in capsys.readouterr().err
    (tmp_path / "four.txt").write_text("a\nb\nc\nd\n")
    assert main(["export", path, "--no-gpu", "--base-dir", str(out), "--labels", str(tmp_path / "four.txt"),
                 "--int8-io", "uint8"]) == 2
    assert "Invalid `--int8-io`: received uint8 without an int8 file" in capsys.readouterr().err
    assert not os.path.exists(out)
