"""Fused inverted residual (Fused-MBConv) of EfficientNetV2 (arXiv 2104.00298).

The 1x1 expansion and the depthwise k x k of an MBConv become one full
k x k convolution: k x k expand -> [squeeze-excite] -> linear 1x1 project
-> [stochastic depth] -> residual add. With expansion 1 the block is a single
k x k convolution with its activation.
"""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.inverted_residual import expanded_channels, reduced_channels
from keras_lightnets.layers.squeeze_excite import SE_ROLES, make_squeeze_excite_layers
from keras_lightnets.layers.wiring import (
    BlockLayer, apply_in_role_order, call_layer, check_block_options, residual_layers, stock_block,
)

FUSED_ROLES = ("pad", "expand", "expand_bn", "expand_act", *SE_ROLES, "project", "project_bn", "project_act", "drop", "add")


def make_fused_inverted_residual_layers(
    ctx,
    in_channels,
    spatial,
    filters,
    names,
    expand_ratio=4,
    kernel_size=3,
    strides=1,
    se_ratio=0.0,
    activation="swish",
    drop_rate=0.0,
    downsample="same",
    se_activation=None,
    se_gate="sigmoid",
    expansion_rounding="exact",
    dilation=1,
):
    """Creates the stock layers of one fused inverted residual block.

    Args:
        ctx: :class:`BuildContext`.
        in_channels: Channels of the block input (int >= 1).
        spatial: (height, width) of the block input; entries may be None.
        filters: Output channels (int >= 1).
        names: Mapping role -> layer name for ``FUSED_ROLES``.
        expand_ratio: Expansion factor (> 0); 1 makes the block one k x k convolution.
        kernel_size: Kernel of the fused convolution (odd int).
        strides: 1 or 2.
        se_ratio: Squeeze-excite width as a fraction of ``in_channels`` (0 disables).
        activation: Activation after the fused convolution.
        drop_rate: Stochastic-depth rate in [0, 1) on the residual branch.
        downsample: Stride 2 with TF "same" padding ("same", EfficientNetV2),
            explicit keras.applications ``correct_pad`` ("correct") or
            PyTorch's k // 2 on every side ("symmetric", MobileNetV4).
        se_activation: Activation of the squeeze-excite reduction (None = ``activation``).
        se_gate: "sigmoid" or "hard_sigmoid".
        expansion_rounding: Expanded width ``int(in * e)`` ("exact") or
            ``make_divisible(in * e, 8)`` ("divisible", MobileNetV4).
        dilation: Dilation rate of the k x k convolution (int >= 1; > 1 only with stride 1).

    Returns:
        dict role -> layer.
    """
    expanded = expanded_channels(in_channels, expand_ratio, expansion_rounding)
    made = {}
    pad, padding = ctx.strided_padding(spatial, kernel_size, strides, downsample, names["pad"])
    if pad is not None:
        made["pad"] = pad
    if expand_ratio != 1:
        made["expand"] = ctx.conv(expanded, kernel_size, names["expand"], strides=strides, padding=padding,
                                  dilation=dilation)
        made["expand_bn"] = ctx.batch_norm(names["expand_bn"])
        made["expand_act"] = ctx.activation(activation, names["expand_act"])
    if 0 < se_ratio <= 1:
        made.update(make_squeeze_excite_layers(
            ctx, expanded, reduced_channels(in_channels, se_ratio), names,
            activation=se_activation or activation, gate=se_gate,
        ))
    if expand_ratio != 1:
        made["project"] = ctx.conv(filters, 1, names["project"])
    else:
        made["project"] = ctx.conv(filters, kernel_size, names["project"], strides=strides, padding=padding,
                                   dilation=dilation)
    made["project_bn"] = ctx.batch_norm(names["project_bn"])
    if expand_ratio == 1:
        made["project_act"] = ctx.activation(activation, names["project_act"])
    if strides == 1 and in_channels == filters:
        made.update(residual_layers(ctx, names, drop_rate))
    return made


def apply_fused_inverted_residual(sublayers, inputs, call=call_layer):
    """Applies the layers made by :func:`make_fused_inverted_residual_layers`."""
    return apply_in_role_order(sublayers, inputs, FUSED_ROLES, call)


def fused_inverted_residual_block(ctx, x, filters, names, **kwargs):
    """Functional helper: one fused inverted residual block on ``x`` with stock layers.

    Args:
        ctx: :class:`BuildContext`.
        x: Input tensor.
        filters: Output channels.
        names: Mapping role -> layer name.
        **kwargs: Any argument of :func:`make_fused_inverted_residual_layers`.

    Returns:
        The output tensor.
    """
    return stock_block(make_fused_inverted_residual_layers, apply_fused_inverted_residual, ctx, x, filters, names,
                       **kwargs)


@keras.saving.register_keras_serializable(package="keras_lightnets")
class FusedInvertedResidual(BlockLayer):
    """Fused inverted residual (Fused-MBConv) block as one layer.

    Args:
        filters: Output channels (int >= 1).
        expand_ratio: Expansion factor (> 0, default 4); 1 = one k x k convolution.
        kernel_size: Fused kernel size (odd int, default 3).
        strides: 1 or 2.
        se_ratio: Squeeze-excite ratio in [0, 1] of the input channels (0 = off).
        activation: Activation (default "swish").
        drop_rate: Stochastic-depth rate in [0, 1).
        se_activation: Activation of the squeeze-excite reduction (None = ``activation``).
        se_gate: "sigmoid" or "hard_sigmoid".
        bn_momentum: Batch-norm momentum in (0, 1).
        bn_epsilon: Batch-norm epsilon (> 0).
        data_format: "channels_last", "channels_first" or None (Keras default).
        **kwargs: Base ``Layer`` arguments.
    """

    make_layers = staticmethod(make_fused_inverted_residual_layers)
    apply_layers = staticmethod(apply_fused_inverted_residual)
    roles = FUSED_ROLES

    def __init__(
        self,
        filters,
        expand_ratio=4,
        kernel_size=3,
        strides=1,
        se_ratio=0.0,
        activation="swish",
        drop_rate=0.0,
        se_activation=None,
        se_gate="sigmoid",
        bn_momentum=0.9,
        bn_epsilon=1e-3,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_block_options(filters, expand_ratio, strides, se_ratio, drop_rate, se_gate)
        validation.check_number("kernel_size", kernel_size, minimum=1, integer=True)
        data_format = data_format or keras.config.image_data_format()
        self._config = dict(
            filters=filters, expand_ratio=expand_ratio, kernel_size=kernel_size, strides=strides,
            se_ratio=se_ratio, activation=activation, drop_rate=drop_rate, se_activation=se_activation,
            se_gate=se_gate, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, data_format=data_format,
        )
        self.sublayers = None
