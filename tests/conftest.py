"""The test session: quiet TensorFlow import, offline weights, and the fixtures (helpers live in helpers.py)."""

import os
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_LIGHTNETS_OFFLINE"] = "1"


def _import_keras_without_native_banners():
    """Imports Keras (and its TensorFlow) with descriptor 2 on /dev/null.

    TensorFlow's import writes oneDNN/CUDA banners from C++ before absl is initialised, which
    TF_CPP_MIN_LOG_LEVEL cannot silence; pytest-xdist workers release them after pytest's summary.
    A failing import still raises here, with its Python traceback.
    """
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


_import_keras_without_native_banners()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import run  # noqa: E402


@pytest.fixture(scope="session")
def digits_model():
    """MobileNetV1-0.5 trained for 10 epochs on the real scikit-learn digits (32x32 grayscale).

    Returns a namespace: model, x_train, y_train, x_test, y_test, accuracy (test). The width matters: MobileNetV1-0.25 after 10 epochs
    (83% test accuracy) has so many near-ties that int8 rounding flipped 5% of its answers; this
    one: 98.3% agreement, 89.1% -> 88.6%.
    """
    from keras_lightnets.data import load_digits
    import keras_lightnets as kl

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=32, channels=1)
    model = kl.MobileNetV1(alpha=0.5, input_shape=(32, 32, 1), classes=10, dropout=0.0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # a small dataset: let the moving statistics converge
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
    accuracy = float(np.mean(run(model, x_test).argmax(1) == y_test))
    return types.SimpleNamespace(model=model, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                                 accuracy=accuracy)


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
