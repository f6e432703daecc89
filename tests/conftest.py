"""Shared test helpers: deterministic random weights, offline weight cache."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_LIGHTNETS_OFFLINE"] = "1"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def randomize(model, seed=0):
    """Gives every weight (BN statistics included) a random, well-conditioned value."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        if weight.path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 1.5, weight.shape))
        elif weight.path.endswith(("normalization/mean", "normalization/variance", "normalization/count")):
            values.append(np.asarray(weight.numpy()))
        else:
            values.append(rng.normal(0.0, 0.1, weight.shape))
    model.set_weights([np.asarray(v, dtype=w.dtype) for v, w in zip(values, model.weights)])
    return model


def images(shape, seed=1, low=0.0, high=255.0):
    """A batch of random images in [low, high]."""
    return np.random.default_rng(seed).uniform(low, high, shape).astype("float32")


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache root (``$KERAS_HOME``) for weight-file tests."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    return tmp_path


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    yield


def run(model, x):
    """One inference pass, eagerly (no tf.function tracing: faster for one-off calls)."""
    return keras.ops.convert_to_numpy(model(x, training=False))
