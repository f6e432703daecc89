"""Multi-scale feature endpoints (stride 4/8/16/32) for detection and segmentation."""

import math

import keras

from keras_lightnets import validation
from keras_lightnets.graph import square_input_shape, static_copy

DEFAULT_STRIDES = (4, 8, 16, 32)
_PROBE_SIZE = 256
_SKIPPED = (keras.layers.ZeroPadding2D, keras.layers.InputLayer)


def layer_strides(model):
    """Layer name -> output stride of every layer of ``model`` with a 4D output, in graph order.

    The stride of a layer is input size / output size (rounded to a power of
    two), measured on a symbolic probe input, so models with ``None``
    spatial dimensions work too.

    Args:
        model: Functional image model with one input.

    Returns:
        dict layer name -> int.
    """
    shape = tuple(model.inputs[0].shape[1:])
    if None in shape:
        shape = square_input_shape(model, _PROBE_SIZE)
    static = static_copy(model, shape)
    channels_last = keras.config.image_data_format() == "channels_last"
    rows_in = shape[0] if channels_last else shape[1]
    strides = {}
    for layer in static.layers:
        output = layer.output
        if not hasattr(output, "shape") or len(output.shape) != 4:
            continue
        rows = output.shape[1] if channels_last else output.shape[2]
        strides[layer.name] = 2 ** round(math.log2(rows_in / rows))
    return strides


def endpoint_names(model, strides=DEFAULT_STRIDES):
    """Names of the last layer producing each output stride (see :func:`layer_strides`).

    Args:
        model: Functional image model (e.g. a builder with include_top=False).
        strides: Output strides wanted (powers of two >= 2).

    Returns:
        dict stride -> layer name.
    """
    for stride in strides:
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 2 or stride & (stride - 1):
            validation.fail("strides", strides, "powers of two >= 2, e.g. (4, 8, 16, 32)")
    found = {}
    for name, stride in layer_strides(model).items():
        if stride in strides and not isinstance(model.get_layer(name), _SKIPPED):
            found[stride] = name
    missing = [s for s in strides if s not in found]
    if missing:
        validation.fail("strides", strides, f"strides the model produces; {model.name!r} has no stride {missing}")
    return {stride: found[stride] for stride in strides}


def feature_extractor(model, strides=DEFAULT_STRIDES, name=None):
    """A model that returns the feature maps of ``model`` at several strides.

    Args:
        model: A model from our builders (any ``include_top``).
        strides: Output strides (powers of two >= 2), default (4, 8, 16, 32).
        name: Name of the new model (default ``<model>_features``).

    Returns:
        ``keras.Model`` sharing layers and weights with ``model``, whose
        output is a dict ``{"stride_4": ..., "stride_8": ..., ...}``.
    """
    names = endpoint_names(model, strides)
    outputs = {f"stride_{stride}": model.get_layer(layer).output for stride, layer in names.items()}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=name or f"{model.name}_features")
