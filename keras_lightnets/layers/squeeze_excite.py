"""Squeeze-and-excitation: channel gates computed from global context.

GlobalAveragePooling -> Reshape(1, 1, C) -> 1x1 Conv(reduce, activation)
-> 1x1 Conv(C, gate) -> Multiply with the input, exactly as in
keras.applications' EfficientNet (layer roles ``se_squeeze`` ... ``se_excite``).
"""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.context import BuildContext
from keras_lightnets.layers.wiring import build_by_tracing, call_layer, serialize

SE_ROLES = ("se_squeeze", "se_reshape", "se_reduce", "se_expand", "se_excite")


def make_squeeze_excite_layers(ctx, channels, reduced_channels, names, activation="swish", gate="sigmoid"):
    """Creates the stock layers of one squeeze-excite unit.

    Args:
        ctx: :class:`BuildContext`.
        channels: Channels of the gated feature map (int >= 1).
        reduced_channels: Bottleneck width (int >= 1).
        names: Mapping role -> layer name for ``SE_ROLES``.
        activation: Activation of the reducing convolution.
        gate: Activation of the expanding convolution ("sigmoid" or
            "hard_sigmoid").

    Returns:
        dict role -> layer.
    """
    gate_shape = (1, 1, channels) if ctx.channel_axis == -1 else (channels, 1, 1)
    return {
        "se_squeeze": ctx.global_pool("avg", names["se_squeeze"]),
        "se_reshape": ctx.layers.Reshape(gate_shape, name=names["se_reshape"]),
        "se_reduce": ctx.conv(reduced_channels, 1, names["se_reduce"], use_bias=True, activation=activation),
        "se_expand": ctx.conv(channels, 1, names["se_expand"], use_bias=True, activation=gate),
        "se_excite": ctx.layers.Multiply(name=names["se_excite"]),
    }


def apply_squeeze_excite(sublayers, x, call=call_layer):
    """Applies the layers made by :func:`make_squeeze_excite_layers`."""
    gate = x
    for role in SE_ROLES[:-1]:
        gate = call(sublayers[role], gate)
    return call(sublayers["se_excite"], [x, gate])


def squeeze_excite_block(ctx, x, reduced_channels, names, activation="swish", gate="sigmoid"):
    """Functional helper: squeeze-excite on ``x`` with stock layers."""
    sublayers = make_squeeze_excite_layers(ctx, ctx.channels(x), reduced_channels, names, activation, gate)
    return apply_squeeze_excite(sublayers, x)


@keras.saving.register_keras_serializable(package="keras_lightnets")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excitation channel gating as one layer.

    Args:
        reduced_channels: Bottleneck width (int >= 1); keras.applications'
            EfficientNet uses ``max(1, int(block_input_channels * 0.25))``.
        activation: Activation of the reducing convolution (default "swish").
        gate: "sigmoid" (default) or "hard_sigmoid".
        data_format: "channels_last", "channels_first" or None (Keras default).
        **kwargs: Base ``Layer`` arguments.
    """

    def __init__(self, reduced_channels, activation="swish", gate="sigmoid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        validation.check_number("reduced_channels", reduced_channels, minimum=1, integer=True)
        validation.check_choice("gate", gate, ["sigmoid", "hard_sigmoid"])
        self.reduced_channels = reduced_channels
        self.se_activation = activation
        self.gate = gate
        self.data_format = data_format or keras.config.image_data_format()
        self.sublayers = None

    def _wire(self, x, call=call_layer):
        return apply_squeeze_excite(self.sublayers, x, call)

    def build(self, input_shape):
        """Creates and builds the sublayers for ``input_shape``."""
        ctx = BuildContext(data_format=self.data_format)
        channels = input_shape[ctx.channel_axis]
        self.sublayers = make_squeeze_excite_layers(
            ctx, channels, self.reduced_channels, {role: role for role in SE_ROLES},
            self.se_activation, self.gate,
        )
        build_by_tracing(self, input_shape)

    def call(self, inputs):
        """Gates ``inputs`` channel-wise."""
        return self._wire(inputs)

    def compute_output_shape(self, input_shape):
        """Same shape as the input."""
        return tuple(input_shape)

    def get_config(self):
        """Serializable configuration."""
        config = super().get_config()
        config.update(
            reduced_channels=self.reduced_channels, activation=serialize(self.se_activation),
            gate=self.gate, data_format=self.data_format,
        )
        return config
