"""Depthwise separable convolution: DepthwiseConv2D then a 1x1 Conv2D.

The stock-layer recipe lives once, in :func:`make_separable_layers` and
:func:`apply_separable`; the functional helper :func:`separable_block`
(used by the builders) and the :class:`SeparableConv` layer both use it.
"""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.context import BuildContext
from keras_lightnets.layers.wiring import build_by_tracing, call_layer, serialize

SEPARABLE_ROLES = ("pad", "depthwise", "depthwise_bn", "depthwise_act", "pointwise", "pointwise_bn", "pointwise_act")


def make_separable_layers(
    ctx,
    filters,
    names,
    kernel_size=3,
    strides=1,
    padding="same",
    pad=None,
    depth_multiplier=1,
    use_bias=False,
    depthwise_bn=True,
    depthwise_activation="relu",
    pointwise_bn=True,
    activation="relu",
    dilation=1,
):
    """Creates the stock layers of one separable convolution.

    Args:
        ctx: :class:`BuildContext` that creates the layers.
        filters: Output channels of the pointwise convolution (int >= 1).
        names: Mapping role -> layer name for the roles in ``SEPARABLE_ROLES``.
        kernel_size: Depthwise kernel size (odd int >= 1).
        strides: Depthwise stride (1 or 2).
        padding: "same" or "valid" for the depthwise convolution.
        pad: Optional explicit ((top, bottom), (left, right)) zero padding
            applied before the depthwise convolution.
        depth_multiplier: Depthwise channel multiplier (int >= 1).
        use_bias: Whether both convolutions have a bias.
        depthwise_bn: Batch norm after the depthwise convolution.
        depthwise_activation: Activation after the depthwise stage or None.
        pointwise_bn: Batch norm after the pointwise convolution.
        activation: Activation after the pointwise stage or None.
        dilation: Dilation rate of the depthwise kernel (int >= 1; > 1 only with stride 1).

    Returns:
        dict role -> layer (roles that are not used are absent). With
        ``ctx.convolutions == "standard"`` the pair is one k x k ``Conv2D``
        (named like the pointwise layer) followed by the pointwise BN/activation.
    """
    made = {}
    if pad is not None:
        made["pad"] = ctx.zero_pad(pad, names["pad"])
    if ctx.convolutions == "standard":
        made["pointwise"] = ctx.conv(filters, kernel_size, names["pointwise"], strides=strides, padding=padding, use_bias=use_bias,
                                     dilation=dilation)
        return _add_pointwise_tail(ctx, made, names, pointwise_bn, activation)
    made["depthwise"] = ctx.depthwise(
        kernel_size, names["depthwise"], strides=strides, padding=padding,
        depth_multiplier=depth_multiplier, use_bias=use_bias, dilation=dilation,
    )
    if depthwise_bn:
        made["depthwise_bn"] = ctx.batch_norm(names["depthwise_bn"])
    if depthwise_activation is not None:
        made["depthwise_act"] = ctx.activation(depthwise_activation, names["depthwise_act"])
    made["pointwise"] = ctx.conv(filters, 1, names["pointwise"], use_bias=use_bias)
    return _add_pointwise_tail(ctx, made, names, pointwise_bn, activation)


def _add_pointwise_tail(ctx, made, names, pointwise_bn, activation):
    if pointwise_bn:
        made["pointwise_bn"] = ctx.batch_norm(names["pointwise_bn"])
    if activation is not None:
        made["pointwise_act"] = ctx.activation(activation, names["pointwise_act"])
    return made


def apply_separable(sublayers, x, call=call_layer):
    """Applies the layers made by :func:`make_separable_layers` in order."""
    for role in SEPARABLE_ROLES:
        if role in sublayers:
            x = call(sublayers[role], x)
    return x


def separable_block(ctx, x, filters, names, **kwargs):
    """Functional helper: one separable convolution on ``x`` with stock layers.

    Args:
        ctx: :class:`BuildContext`.
        x: Input tensor.
        filters: Pointwise output channels (int >= 1).
        names: Mapping role -> layer name.
        **kwargs: Any argument of :func:`make_separable_layers`.

    Returns:
        The output tensor.
    """
    return apply_separable(make_separable_layers(ctx, filters, names, **kwargs), x)


@keras.saving.register_keras_serializable(package="keras_lightnets")
class SeparableConv(keras.layers.Layer):
    """Depthwise separable convolution as one layer.

    ``DepthwiseConv2D(k x k)`` [-> BN -> activation] -> ``Conv2D(1 x 1)``
    [-> BN -> activation].  Costs ``H*W*C*(k*k + N)`` multiply-adds instead
    of ``H*W*C*k*k*N`` for a standard convolution with ``N`` filters.

    Args:
        filters: Output channels (int >= 1).
        kernel_size: Depthwise kernel size (odd int >= 1, default 3).
        strides: 1 or 2.
        padding: "same" or "valid".
        depth_multiplier: Depthwise channel multiplier (int >= 1).
        use_bias: Bias on both convolutions (default False, since BN follows).
        depthwise_bn: Batch norm after the depthwise convolution.
        pointwise_bn: Batch norm after the pointwise convolution.
        depthwise_activation: Activation after the depthwise stage, or None.
        activation: Activation after the pointwise stage, or None.
        bn_momentum: Batch-norm momentum in (0, 1).
        bn_epsilon: Batch-norm epsilon (> 0).
        kernel_initializer: Initializer of both kernels.
        data_format: "channels_last", "channels_first" or None (Keras default).
        **kwargs: Base ``Layer`` arguments (name, dtype, trainable).
    """

    # Sublayer roles of the depthwise + pointwise pair (read by the cost profiler).
    depthwise_pointwise_pairs = (("depthwise", "pointwise"),)

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        padding="same",
        depth_multiplier=1,
        use_bias=False,
        depthwise_bn=True,
        pointwise_bn=True,
        depthwise_activation="relu",
        activation="relu",
        bn_momentum=0.99,
        bn_epsilon=1e-3,
        kernel_initializer="glorot_uniform",
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_number("filters", filters, minimum=1, integer=True)
        validation.check_number("kernel_size", kernel_size, minimum=1, integer=True)
        validation.check_choice("strides", strides, [1, 2])
        validation.check_choice("padding", padding, ["same", "valid"])
        validation.check_number("depth_multiplier", depth_multiplier, minimum=1, integer=True)
        validation.check_number("bn_momentum", bn_momentum, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        validation.check_number("bn_epsilon", bn_epsilon, minimum=0.0, exclusive_minimum=True)
        data_format = data_format or keras.config.image_data_format()
        validation.check_choice("data_format", data_format, ["channels_last", "channels_first"])
        self._config = dict(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            depth_multiplier=depth_multiplier, use_bias=use_bias, depthwise_bn=depthwise_bn,
            pointwise_bn=pointwise_bn, depthwise_activation=depthwise_activation, activation=activation,
            bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, kernel_initializer=kernel_initializer,
            data_format=data_format,
        )
        ctx = BuildContext(
            data_format=data_format, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum,
            conv_initializer=kernel_initializer,
        )
        self.sublayers = make_separable_layers(
            ctx, filters, {role: role for role in SEPARABLE_ROLES}, kernel_size=kernel_size,
            strides=strides, padding=padding, depth_multiplier=depth_multiplier, use_bias=use_bias,
            depthwise_bn=depthwise_bn, depthwise_activation=depthwise_activation,
            pointwise_bn=pointwise_bn, activation=activation,
        )

    def _wire(self, x, call=call_layer):
        return apply_separable(self.sublayers, x, call)

    def build(self, input_shape):
        """Builds the sublayers for ``input_shape`` (batch included)."""
        build_by_tracing(self, input_shape)

    def call(self, inputs):
        """Applies depthwise then pointwise convolution."""
        return self._wire(inputs)

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch included)."""
        return self._wire(keras.KerasTensor(tuple(input_shape))).shape

    def get_config(self):
        """Serializable configuration (``.keras`` round trip)."""
        config = super().get_config()
        config.update(self._config)
        config["kernel_initializer"] = serialize(self._config["kernel_initializer"])
        config["depthwise_activation"] = serialize(self._config["depthwise_activation"])
        config["activation"] = serialize(self._config["activation"])
        return config
