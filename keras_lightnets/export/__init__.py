"""Export: SavedModel for TF Serving and TFLite for LiteRT (CPU and GPU accelerator).

TensorFlow-heavy modules load on first use, so ``import keras_lightnets``
stays cheap.
"""

from keras_lightnets.export.saved_model import to_saved_model
from keras_lightnets.export.tflite import to_tflite, to_tflite_variants

__all__ = ["to_saved_model", "to_tflite", "to_tflite_variants"]
