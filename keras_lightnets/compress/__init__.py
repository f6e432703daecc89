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

from keras_lightnets.lazy import attach as _attach

_ATTRIBUTES = {
    "CompressionUnavailableError": "keras_lightnets.compress.backend",
    "LayerSparsity": "keras_lightnets.compress.sparsity",
    "SparsityReport": "keras_lightnets.compress.sparsity",
    "calibrate_ranges": "keras_lightnets.compress.ranges",
    "is_pruned": "keras_lightnets.compress.pruning",
    "is_quantize_aware": "keras_lightnets.compress.quantization",
    "prune": "keras_lightnets.compress.pruning",
    "pruning_callbacks": "keras_lightnets.compress.pruning",
    "pruning_schedule": "keras_lightnets.compress.pruning",
    "quantize_aware": "keras_lightnets.compress.quantization",
    "quantize_scope": "keras_lightnets.compress.quantization",
    "sparsity_report": "keras_lightnets.compress.sparsity",
    "strip": "keras_lightnets.compress.pruning",
    "to_int8_tflite": "keras_lightnets.compress.quantization",
    "to_keras": "keras_lightnets.compress.bridge",
    "to_tf_keras": "keras_lightnets.compress.bridge",
}

__getattr__, __dir__, __all__ = _attach(__name__, _ATTRIBUTES)
