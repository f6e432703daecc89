"""A user's .keras file is opened in Keras' safe mode everywhere: a Lambda's Python code is refused, never run."""

import os

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.cli import main
from keras_lightnets.model_files import load_keras_model

REFUSAL = r"holds a Lambda layer with Python code.*safe mode.*safe_mode=False"


@pytest.fixture(scope="module")
def lambda_file(tmp_path_factory):
    """A digits-shaped MobileNetV1 (32 px, 10 classes) whose input passes through a Python lambda that leaves a mark."""
    folder = tmp_path_factory.mktemp("lambda")
    marker = str(folder / "ran")
    inputs = keras.Input((32, 32, 1))
    # The lambda would create a file if it ever ran while the model is rebuilt from the file.
    touched = keras.layers.Lambda(lambda x: x + 0.0 * len(open(marker, "w").name))(inputs)
    outputs = kl.MobileNetV1(alpha=0.25, input_shape=(32, 32, 1), classes=10)(touched)
    path = str(folder / "with_lambda.keras")
    keras.Model(inputs, outputs).save(path)
    os.remove(marker)  # building the model above ran it once
    return path, marker


def test_the_loader_refuses_a_lambda_and_says_how_to_load_it_deliberately(lambda_file):
    path, marker = lambda_file
    with pytest.raises(kl.LightnetsError, match=REFUSAL) as caught:
        load_keras_model(path)
    assert path in str(caught.value) and not os.path.exists(marker)
    model = keras.saving.load_model(path, safe_mode=False)  # what the message says works, and runs the lambda
    assert model.output_shape == (None, 10) and os.path.exists(marker)
    os.remove(marker)


def test_every_entry_point_refuses_it(lambda_file, tmp_path, capsys):
    from keras_lightnets.compress.recipe import open_session
    from keras_lightnets.train import finetune
    from keras_lightnets.train.config import TrainConfig
    from keras_lightnets.train.evaluate import load_classifier_and_data

    path, marker = lambda_file
    assert main(["export", path, "--quantization", "fp16", "--no-gpu", "--base-dir", str(tmp_path)]) == 2
    assert "holds a Lambda layer with Python code" in capsys.readouterr().err
    assert main(["evaluate", path, "--dataset", "digits"]) == 2
    assert "holds a Lambda layer with Python code" in capsys.readouterr().err
    with pytest.raises(kl.LightnetsError, match=REFUSAL):
        load_classifier_and_data(path, "digits")
    with pytest.raises(kl.LightnetsError, match=REFUSAL):
        open_session(path, "digits", None, str(tmp_path / "qat"), 32)
    config = TrainConfig(model="mobilenet_v1", alpha=0.25, image_size=32, dataset="digits", output_dir=str(tmp_path / "ft"))
    with pytest.raises(kl.LightnetsError, match=r"Invalid `backbone`: .*" + REFUSAL):
        finetune.transfer_model(config, 10, 1, path, trainable=False)
    assert not os.path.exists(marker)


def test_a_file_that_is_not_a_model_is_a_lightnets_error(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(kl.LightnetsError, match="broken.keras is not a readable .keras file"):
        load_keras_model(path)
    with pytest.raises(kl.LightnetsError, match="Invalid `backbone`: .*missing.keras does not exist"):
        load_keras_model(tmp_path / "missing.keras", "backbone")
