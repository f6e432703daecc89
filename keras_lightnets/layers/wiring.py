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


class BlockLayer(keras.layers.Layer):
    """Base of the block layers whose sublayers depend on the input shape (InvertedResidual, FusedInvertedResidual).

    Subclasses set ``make_layers`` (``make(ctx, in_channels, spatial, filters, names, **options)``),
    ``apply_layers`` (``apply(sublayers, x, call)``), ``roles`` and ``serialized`` (config keys holding
    activations), and store their arguments in ``self._config``.
    """

    make_layers = None
    apply_layers = None
    roles = ()
    serialized = ("activation", "se_activation")
    _CONTEXT_KEYS = ("filters", "bn_momentum", "bn_epsilon", "data_format")

    def _wire(self, x, call=call_layer):
        return type(self).apply_layers(self.sublayers, x, call)

    def build(self, input_shape):
        """Creates and builds the sublayers for ``input_shape``."""
        from keras_lightnets.layers.context import BuildContext

        c = self._config
        ctx = BuildContext(data_format=c["data_format"], bn_epsilon=c["bn_epsilon"], bn_momentum=c["bn_momentum"])
        probe = keras.KerasTensor(tuple(input_shape))
        options = {key: value for key, value in c.items() if key not in self._CONTEXT_KEYS}
        self.sublayers = type(self).make_layers(
            ctx, ctx.channels(probe), ctx.spatial(probe), c["filters"], {r: r for r in self.roles}, **options,
        )
        build_by_tracing(self, input_shape)

    def call(self, inputs):
        """Applies the block."""
        return self._wire(inputs)

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch included)."""
        if self.sublayers is None:
            self.build(input_shape)
        return self._wire(keras.KerasTensor(tuple(input_shape))).shape

    def get_config(self):
        """Serializable configuration."""
        config = super().get_config()
        config.update(self._config)
        for key in self.serialized:
            config[key] = serialize(self._config[key])
        return config
