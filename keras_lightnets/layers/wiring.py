"""Helpers shared by the composite layers: calling sublayers and symbolic builds."""

import keras


def call_layer(layer, x):
    """Default way a block applies one of its sublayers."""
    return layer(x)


def build_by_tracing(layer, input_shape):
    """Builds every sublayer of ``layer`` by running its wiring symbolically.

    Args:
        layer: A composite layer whose ``_wire(x)`` applies its sublayers.
        input_shape: Full input shape including the batch dimension.
    """
    layer._wire(keras.KerasTensor(tuple(input_shape)))


def serialize(value):
    """Serializes an initializer/activation argument for ``get_config``."""
    if value is None or isinstance(value, str):
        return value
    return keras.saving.serialize_keras_object(value)
