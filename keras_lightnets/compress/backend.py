"""Lazy imports of tf_keras and tensorflow-model-optimization (the ``compress`` extra).

Importing tfmot sets ``TF_USE_LEGACY_KERAS=1`` for the process. Nothing in
keras_lightnets reads ``tf.keras`` (every module imports Keras 3 as ``keras``),
so the flag does not change our models; it is imported only when a
compression function is called.
"""

import importlib

INSTALL_HINT = 'install the compression extra: pip install "keras_lightnets[compress]"'


class CompressionUnavailableError(ImportError):
    """tensorflow-model-optimization or tf_keras is not installed."""


def _load(module_name, pip_name):
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise CompressionUnavailableError(
            f"keras_lightnets.compress needs {pip_name} ({error}); {INSTALL_HINT}"
        ) from error


def tf_keras():
    """The ``tf_keras`` module (Keras 2), which tfmot wraps."""
    return _load("tf_keras", "tf-keras")


def tfmot():
    """The ``tensorflow_model_optimization`` module."""
    tf_keras()
    return _load("tensorflow_model_optimization", "tensorflow-model-optimization")
