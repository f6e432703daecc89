"""Quantization-aware training (tfmot default 8-bit scheme) and its int8 TFLite file.

tfmot's default registry knows convolutions, depthwise convolutions, BN
folding, ReLU/ReLU6, swish and sigmoid activations, Add, pooling and Dense.
Where our builders' stock layers fall outside it, the quantization-aware
graph gets an exact equivalent that quantizes fully (checked by converting
with no float op left, :func:`keras_lightnets.export.tflite.float_ops`):

* ``Multiply`` (the squeeze-excite gate of EfficientNet) gets a real
  ``QuantizeConfig`` that fake-quantizes its output, like tfmot's ``Add``;
* ``Rescaling`` and ``Normalization`` (the built-in preprocessing that lets
  every model take raw [0, 255] pixels) become a 1x1 ``DepthwiseConv2D``
  with the same per-channel scale and offset: a float MUL/ADD by a constant
  would stay in float, an int8 depthwise convolution does not;
* a convolution with a built-in swish (the squeeze-excite reduction) is split
  into the linear convolution and an ``Activation("swish")``, so the
  convolution's output is quantized before the swish;
* a hard-swish activation layer (MobileNetV3) gets the output
  ``QuantizeConfig`` (TFLite fuses x * relu6(x + 3) / 6 into one int8
  HARD_SWISH op);
* hard-sigmoid (MobileNetV3's squeeze-excite gate), ``relu6(x + 3) / 6``,
  becomes stock int8 layers: the + 3 in the convolution's bias, ReLU6, and a
  1x1 depthwise convolution by 1/6.
"""

import functools
import os
import tempfile

import numpy as np

from keras_lightnets import keras_internals, validation
from keras_lightnets.compress import activations, backend, bridge, ranges

# Layer classes quantized by their output only (no weights to quantize).
OUTPUT_QUANTIZED = ("Multiply",)
# Activations fused into a convolution that TFLite cannot fuse in int8.
_UNFUSABLE_ACTIVATIONS = ("swish", "silu")


def _affine(layer):
    """(scale, offset) per channel of a Rescaling or Normalization layer (y = x * scale + offset)."""
    if type(layer).__name__ == "Rescaling":
        channels = layer.input_shape[-1] if hasattr(layer, "input_shape") else layer.input.shape[-1]
        scale = np.broadcast_to(np.asarray(layer.scale, np.float32), (channels,))
        return scale, np.broadcast_to(np.asarray(layer.offset, np.float32), (channels,))
    # The statistics as weights (adapted or set) or as constructor constants (EfficientNetV2): both are .mean/.variance.
    mean, variance = (np.asarray(w, np.float32).reshape(-1) for w in (layer.mean, layer.variance))
    scale = 1.0 / np.maximum(np.sqrt(variance), 1e-7)
    return scale, -mean * scale


def _quantizable_rewrite(tf_keras):
    """The layer rewrite that makes a Keras 3 graph fully int8-quantizable (see the module docstring)."""

    def rewrite(layer):
        kind = type(layer).__name__
        if kind in ("Rescaling", "Normalization"):
            scale, offset = _affine(layer)
            # Constants of the preprocessing, not weights: trainable, their gradients (inputs up to 255) would
            # move them far at any learning rate a fine-tune uses.
            affine = tf_keras.layers.DepthwiseConv2D(1, use_bias=True, name=layer.name, trainable=False)
            return [(affine, [scale.reshape(1, 1, -1, 1), offset.copy()])]
        activation = getattr(layer, "activation", None)
        if activations.activation_name(layer) == "hard_sigmoid" and kind in ("Conv2D", "Activation"):
            return _hard_sigmoid_chain(tf_keras, layer)
        if kind in ("Conv2D", "Dense") and getattr(activation, "__name__", "") in _UNFUSABLE_ACTIVATIONS:
            linear = bridge.translate_layer(layer, bridge.legacy())
            linear.activation = tf_keras.activations.linear
            return [(linear, layer.get_weights()), (tf_keras.layers.Activation("swish", name=f"{layer.name}_swish"), None)]
        return None

    return rewrite


def _hard_sigmoid_chain(tf_keras, layer):
    """relu6(x + 3) / 6 as stock int8 layers: (x + 3) in the convolution's bias (or a 1x1 depthwise), ReLU6, a 1x1 depthwise of 1/6."""
    channels = layer.output.shape[-1]
    sixth = tf_keras.layers.DepthwiseConv2D(1, use_bias=False, name=f"{layer.name}_sixth", trainable=False)  # constants
    chain = []
    if type(layer).__name__ == "Conv2D":
        linear = bridge.translate_layer(layer, bridge.legacy())
        linear.activation = tf_keras.activations.linear
        kernel, bias = layer.get_weights()
        chain.append((linear, [kernel, bias + 3.0]))
    else:
        shift = tf_keras.layers.DepthwiseConv2D(1, use_bias=True, name=layer.name, trainable=False)
        chain.append((shift, [np.ones((1, 1, channels, 1), np.float32), np.full((channels,), 3.0, np.float32)]))
    chain.append((tf_keras.layers.ReLU(6.0, name=f"{layer.name}_relu6"), None))
    chain.append((sixth, [np.full((1, 1, channels, 1), 1.0 / 6.0, np.float32)]))
    return chain


@functools.lru_cache(maxsize=None)
def output_quantize_config_class():
    """The ``QuantizeConfig`` that fake-quantizes a layer's output with 8-bit moving-average ranges.

    Built on first use so that importing this module does not import tfmot.
    """
    tfmot = backend.tfmot()
    quantizers = tfmot.quantization.keras.quantizers

    class OutputQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """Quantizes the output tensor (asymmetric, per tensor, 8 bits), as tfmot does for ``Add``."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    return OutputQuantizeConfig


def quantize_scope():
    """Context manager that lets tf_keras load QAT models using our config (``tfmot.quantization.keras.quantize_scope``)."""
    tfmot = backend.tfmot()
    return tfmot.quantization.keras.quantize_scope({"OutputQuantizeConfig": output_quantize_config_class(),
                                                    **activations.legacy_functions()})


def quantize_aware(model, calibration=None, batch_size=64):
    """A quantization-aware copy of a model: fake-quantized int8 weights and activations.

    The Keras 3 model is rebuilt in tf_keras (same layer names and weights,
    with the exact rewrites listed in the module docstring), every layer is
    annotated (tfmot's default 8-bit scheme; ``Multiply`` with
    :func:`output_quantize_config_class`) and tfmot applies the scheme
    (conv + batch-norm folding included).

    Args:
        model: A Keras 3 functional model from a keras_lightnets builder (any
            family), trained or not.
        calibration: Images (N, H, W, C) at the model's input scale, or None.
            Given, every activation range starts where its moving average
            would settle on them (:func:`keras_lightnets.compress.ranges.calibrate_ranges`),
            instead of tfmot's [-6, 6]: what a short fine-tune of a trained
            network needs. A few hundred training images are enough.
        batch_size: The fine-tune's batch size, at which the ranges are measured (int >= 1).

    Returns:
        A ``tf_keras`` model to fine-tune at a low learning rate (compile and
        fit it with tf_keras), then convert with :func:`to_int8_tflite`.
    """
    tfmot = backend.tfmot()
    tf_keras = backend.tf_keras()
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    config_class = output_quantize_config_class()

    def annotated(layer):
        if type(layer).__name__ in OUTPUT_QUANTIZED or activations.is_keras3_only(layer):
            return annotate(layer, quantize_config=config_class())
        return annotate(layer)

    legacy_model = bridge.to_tf_keras(model, rewrite=_quantizable_rewrite(tf_keras))
    marked = tf_keras.models.clone_model(legacy_model, clone_function=annotated)
    with quantize_scope():
        qat_model = tfmot.quantization.keras.quantize_apply(marked)
    for wrapper in qat_model.layers:  # frozen layers and our rewrites' constants stay frozen
        inner = getattr(wrapper, "layer", None)
        if inner is not None and not inner.trainable:
            keras_internals.freeze_wrapped_weights(wrapper)
    if calibration is not None:
        ranges.calibrate_ranges(qat_model, legacy_model, calibration, batch_size)
    return qat_model


def is_quantize_aware(model):
    """Whether ``model`` holds tfmot quantization wrappers."""
    return any(type(layer).__name__ in ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer") for layer in model.layers)


def to_int8_tflite(qat_model, path, batch_size=1, output_name="probabilities"):
    """Converts a quantization-aware model to a full-integer TFLite file.

    The ranges learned during QAT are used (no calibration data). Only int8
    builtin ops are allowed, so a layer left in float fails the conversion
    instead of hiding in the file. Input and output stay float32, as in
    :func:`keras_lightnets.export.to_tflite` (signature ``serving_default``,
    input ``images``).

    Args:
        qat_model: A model from :func:`quantize_aware` (tf_keras).
        path: Output ``.tflite`` path (written atomically).
        batch_size: Static batch size (int >= 1).
        output_name: Name of the output tensor ("probabilities" for a
            classifier, "features" otherwise).

    Returns:
        ``path``.
    """
    import tensorflow as tf

    from keras_lightnets.export.tflite import convert_saved_model

    if not is_quantize_aware(qat_model):
        validation.fail("qat_model", getattr(qat_model, "name", qat_model), "a model returned by quantize_aware()")
    validation.check_number("batch_size", batch_size, minimum=1, integer=True)
    input_shape = (batch_size, *qat_model.input_shape[1:])
    module = tf.Module()
    # Track the variables only: a tracked tf_keras model makes tf.saved_model.save trace every layer's
    # call for Keras' own metadata (measured: 42 s of 54 s to save the half-size EfficientNet, and a
    # 3x slower conversion), none of which the converter reads.
    module.qat_variables = list(qat_model.variables)

    @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32, name="images")])
    def serve(images):
        return {output_name: qat_model(images, training=False)}

    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(module, saved, signatures={"serving_default": serve})
        convert_saved_model(saved, os.fspath(path), "int8", trained_ranges=True)
    return path
