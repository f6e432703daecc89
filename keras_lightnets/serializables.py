"""Registers the library's serializable Keras classes as soon as Keras is loaded.

A ``.keras`` file that holds one of our layers or our learning-rate schedule
names it ``keras_lightnets>SeparableConv``, ``keras_lightnets>WarmupDecay``...
Keras resolves such names only from its registry of custom objects (it imports
modules by name for its own packages only), so the classes must be registered
before the file loads. ``import keras_lightnets`` is lazy (the ``lightnets``
command must not load TensorFlow to print its help), so :func:`install`
registers them at once when Keras is already imported, and otherwise right
after Keras finishes importing, through a one-shot import hook: both
``import keras_lightnets, keras`` and ``import keras, keras_lightnets`` then
load trained files.
"""

import importlib
import importlib.abc
import importlib.util
import sys

# Modules whose import registers classes with keras.saving.register_keras_serializable.
REGISTERING_MODULES = (
    "keras_lightnets.layers.separable",
    "keras_lightnets.layers.squeeze_excite",
    "keras_lightnets.layers.inverted_residual",
    "keras_lightnets.layers.fused_inverted_residual",
    "keras_lightnets.layers.universal_inverted_residual",
    "keras_lightnets.layers.resize",
    "keras_lightnets.detection.detector",
    "keras_lightnets.train.schedule",
)


def register():
    """Imports every registering module (needs Keras; cheap once Keras is loaded)."""
    for module in REGISTERING_MODULES:
        importlib.import_module(module)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of the top-level ``keras`` module to call :func:`register`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)  # one shot; find the real spec without this finder
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register()

        spec.loader.exec_module = exec_then_register
        return spec


def install():
    """Registers now if Keras is imported, else once it is (idempotent)."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())
