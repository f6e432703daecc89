"""Export: SavedModel for TF Serving and TFLite for LiteRT (CPU and GPU accelerator).

Every name loads on first use, so ``import keras_lightnets.export``
stays cheap.
"""

from keras_lightnets.lazy import attach as _attach

_ATTRIBUTES = {
    "to_saved_model": "keras_lightnets.export.saved_model",
    "to_tflite": "keras_lightnets.export.tflite",
    "to_tflite_variants": "keras_lightnets.export.tflite",
}

__getattr__, __dir__, __all__ = _attach(__name__, _ATTRIBUTES)
