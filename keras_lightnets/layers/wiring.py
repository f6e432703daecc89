"""Helpers shared by the composite layers: calling sublayers and symbolic builds."""

import keras

from keras_lightnets import validation


def call_layer(layer, x):
    """Default way a block applies one of its sublayers."""
    return layer(x)


def apply_in_role_order(sublayers, inputs, roles, call=call_layer):
    """Applies a block's sublayers in ``roles`` order (absent roles skipped).

    The squeeze-excite roles act as one gate on the running tensor and ``add``
    adds the block input: the wiring of every inverted-residual kind.
    """
    # squeeze_excite imports this module, hence the import here.
    from keras_lightnets.layers.squeeze_excite import SE_ROLES, apply_squeeze_excite

    x = inputs
    for role in roles:
        if role not in sublayers or role in SE_ROLES[:-1]:
            continue
        if role == "se_excite":
            x = apply_squeeze_excite(sublayers, x, call)
        elif role == "add":
            x = call(sublayers[role], [x, inputs])
        else:
            x = call(sublayers[role], x)
    return x


def residual_layers(ctx, names, drop_rate):
    """The residual tail of a block whose output matches its input: [stochastic depth] and the add."""
    made = {}
    if drop_rate > 0:
        made["drop"] = ctx.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=names["drop"])
    made["add"] = ctx.layers.Add(name=names["add"])
    return made


def stock_block(make, apply, ctx, x, filters, names, **kwargs):
    """A block's stock layers made for ``x`` by ``make`` and applied by ``apply``: the builders' functional form."""
    return apply(make(ctx, ctx.channels(x), ctx.spatial(x), filters, names, **kwargs), x)


def check_block_options(filters, expand_ratio, strides, se_ratio, drop_rate, se_gate,
                        expansion_rounding="exact", se_base="input", se_rounding="int"):
    """Validates the arguments the inverted-residual layers share (a ValueError naming the first bad one)."""
    validation.check_number("filters", filters, minimum=1, integer=True)
    validation.check_number("expand_ratio", expand_ratio, minimum=0.0, exclusive_minimum=True)
    validation.check_choice("strides", strides, [1, 2])
    validation.check_number("se_ratio", se_ratio, minimum=0.0, maximum=1.0)
    validation.check_rate("drop_rate", drop_rate)
    validation.check_choice("se_gate", se_gate, ["sigmoid", "hard_sigmoid"])
    validation.check_choice("expansion_rounding", expansion_rounding, ["exact", "divisible"])
    validation.check_choice("se_base", se_base, ["input", "expanded"])
    validation.check_choice("se_rounding", se_rounding, ["int", "divisible"])


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
