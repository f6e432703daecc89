"""Pruning and quantization-aware training through tensorflow-model-optimization.

tfmot 0.8.1 wraps only ``tf_keras`` (Keras 2) models. Every function here
takes a Keras 3 model made by our builders, rebuilds the same graph with
``tf_keras`` (same layer names, weights copied by name; see
:mod:`keras_lightnets.compress.bridge`), applies tfmot, and brings the result
back: pruned weights into a Keras 3 model (:func:`strip`), quantization-aware
models straight to an int8 TFLite file (:func:`to_int8_tflite`).

Needs the ``compress`` extra (``pip install "keras_lightnets[compress]"``);
tfmot is imported on first use, which sets ``TF_USE_LEGACY_KERAS=1`` for the
process (our code never reads ``tf.keras``, so Keras 3 models are unaffected).

Example::

    pruned = compress.prune(model, target_sparsity=0.5, end_step=steps)
    pruned.compile(...); pruned.fit(data, callbacks=compress.pruning_callbacks())
    sparse = compress.strip(pruned)          # Keras 3 model
    print(compress.sparsity_report(sparse).format())

    qat = compress.quantize_aware(model)
    qat.compile(...); qat.fit(data)
    compress.to_int8_tflite(qat, "model_int8.tflite")
"""

from keras_lightnets.compress.backend import CompressionUnavailableError
from keras_lightnets.compress.bridge import to_keras, to_tf_keras
from keras_lightnets.compress.pruning import is_pruned, prune, pruning_callbacks, pruning_schedule, strip
from keras_lightnets.compress.quantization import is_quantize_aware, quantize_aware, quantize_scope, to_int8_tflite
from keras_lightnets.compress.sparsity import LayerSparsity, SparsityReport, sparsity_report

__all__ = [
    "CompressionUnavailableError", "LayerSparsity", "SparsityReport", "is_pruned", "is_quantize_aware", "prune",
    "pruning_callbacks", "pruning_schedule", "quantize_aware", "quantize_scope", "sparsity_report", "strip",
    "to_int8_tflite", "to_keras", "to_tf_keras",
]
