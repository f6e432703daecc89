"""Lazy imports of tf_keras and tensorflow-model-optimization (the ``compress`` extra).

Importing tfmot sets ``TF_USE_LEGACY_KERAS=1`` in ``os.environ``. tfmot binds
its Keras module once, at import, so :func:`tfmot` puts the variable back as it
was right after the import: child processes (a serving check, a worker) and
later ``tf.keras`` lookups keep seeing the user's setting. Nothing in
keras_lightnets reads ``tf.keras`` (every module imports Keras 3 as ``keras``).
"""

import importlib
import os

from keras_lightnets.errors import MissingExtraError

_LEGACY_KERAS = "TF_USE_LEGACY_KERAS"
INSTALL_HINT = 'install the compression extra: pip install "keras_lightnets[compress]"'


class CompressionUnavailableError(MissingExtraError):
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
    before = os.environ.get(_LEGACY_KERAS)
    try:
        return _load("tensorflow_model_optimization", "tensorflow-model-optimization")
    finally:
        if before is None:
            os.environ.pop(_LEGACY_KERAS, None)
        else:
            os.environ[_LEGACY_KERAS] = before
