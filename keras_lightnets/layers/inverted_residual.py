"""Inverted residual block (MBConv) of MobileNetV2 and EfficientNet.

1x1 expansion -> depthwise k x k -> [squeeze-excite] -> linear 1x1
projection -> [stochastic depth] -> residual add when shapes allow.
"""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.squeeze_excite import SE_ROLES, make_squeeze_excite_layers
from keras_lightnets.layers.wiring import (
    BlockLayer, apply_in_role_order, call_layer, check_block_options, residual_layers, stock_block,
)
from keras_lightnets.scaling import make_divisible

MBCONV_ROLES = (
    "expand", "expand_bn", "expand_act", "pad", "depthwise", "depthwise_bn", "depthwise_act",
    *SE_ROLES, "project", "project_bn", "drop", "add",
)


def expanded_channels(in_channels, expand_ratio, rounding="exact"):
    """Width of an inverted residual's expanded stage.

    Args:
        in_channels: Block input channels (int >= 1).
        expand_ratio: Expansion factor (> 0).
        rounding: "exact" (``int(in * e)``) or "divisible" (``make_divisible(in * e, 8)``).

    Returns:
        int.
    """
    rule = validation.lookup("expansion_rounding", rounding, {
        "exact": lambda channels: int(channels), "divisible": lambda channels: make_divisible(channels, 8)})
    return rule(in_channels * expand_ratio)


def reduced_channels(channels, se_ratio, rounding="int"):
    """Bottleneck width of a squeeze-excite unit: ``max(1, int(c * r))`` or ``make_divisible(c * r, 8)``."""
    rule = validation.lookup("se_rounding", rounding, {
        "int": lambda width: max(1, int(width)), "divisible": lambda width: make_divisible(width, 8)})
    return rule(channels * se_ratio)


def make_inverted_residual_layers(
    ctx,
    in_channels,
    spatial,
    filters,
    names,
    expand_ratio=6,
    kernel_size=3,
    strides=1,
    se_ratio=0.0,
    activation="relu6",
    drop_rate=0.0,
    residual=True,
    downsample="correct",
    expansion_rounding="exact",
    se_base="input",
    se_rounding="int",
    se_activation=None,
    se_gate="sigmoid",
    dilation=1,
):
    """Creates the stock layers of one inverted residual block.

    Args:
        ctx: :class:`BuildContext`.
        in_channels: Channels of the block input (int >= 1).
        spatial: (height, width) of the block input; entries may be None.
        filters: Output channels (int >= 1).
        names: Mapping role -> layer name for ``MBCONV_ROLES``.
        expand_ratio: Expansion factor (> 0, fractional allowed); 1 means no expansion conv.
        kernel_size: Depthwise kernel size (odd int).
        strides: 1 or 2.
        se_ratio: Squeeze-excite width as a fraction of the ``se_base``
            channels (0 disables; 0 < se_ratio <= 1).
        activation: Activation after expansion and depthwise stages.
        drop_rate: Stochastic-depth rate in [0, 1) on the residual branch.
        residual: Allow the identity shortcut (used when strides == 1 and
            in_channels == filters).
        downsample: Stride 2 pads explicitly like keras.applications'
            ``correct_pad`` ("correct"), or uses TF "same" padding ("same").
        expansion_rounding: Expanded width ``int(in * e)`` ("exact") or
            ``make_divisible(in * e, 8)`` ("divisible", MobileNetV3).
        se_base: ``se_ratio`` is a fraction of the "input" or "expanded" channels.
        se_rounding: Reduced width ``max(1, int(c * r))`` ("int") or
            ``make_divisible(c * r, 8)`` ("divisible", MobileNetV3).
        se_activation: Activation of the reduction (None = ``activation``).
        se_gate: "sigmoid" or "hard_sigmoid".
        dilation: Dilation rate of the depthwise kernel (int >= 1; > 1 only with stride 1).

    Returns:
        dict role -> layer; ``"add"`` is present only when the block is residual.
    """
    expanded = expanded_channels(in_channels, expand_ratio, expansion_rounding)
    made = {}
    if expand_ratio != 1:
        made["expand"] = ctx.conv(expanded, 1, names["expand"])
        made["expand_bn"] = ctx.batch_norm(names["expand_bn"])
        made["expand_act"] = ctx.activation(activation, names["expand_act"])
    pad, padding = ctx.strided_padding(spatial, kernel_size, strides, downsample, names["pad"])
    if pad is not None:
        made["pad"] = pad
    made["depthwise"] = ctx.depthwise(kernel_size, names["depthwise"], strides=strides, padding=padding,
                                      dilation=dilation)
    made["depthwise_bn"] = ctx.batch_norm(names["depthwise_bn"])
    made["depthwise_act"] = ctx.activation(activation, names["depthwise_act"])
    if 0 < se_ratio <= 1:
        base = validation.lookup("se_base", se_base, {"input": in_channels, "expanded": expanded})
        made.update(make_squeeze_excite_layers(
            ctx, expanded, reduced_channels(base, se_ratio, se_rounding), names,
            activation=se_activation or activation, gate=se_gate,
        ))
    made["project"] = ctx.conv(filters, 1, names["project"])
    made["project_bn"] = ctx.batch_norm(names["project_bn"])
    if residual and strides == 1 and in_channels == filters:
        made.update(residual_layers(ctx, names, drop_rate))
    return made


def apply_inverted_residual(sublayers, inputs, call=call_layer):
    """Applies the layers made by :func:`make_inverted_residual_layers`."""
    return apply_in_role_order(sublayers, inputs, MBCONV_ROLES, call)


def inverted_residual_block(ctx, x, filters, names, **kwargs):
    """Functional helper: one inverted residual block on ``x`` with stock layers.

    Args:
        ctx: :class:`BuildContext`.
        x: Input tensor.
        filters: Output channels.
        names: Mapping role -> layer name.
        **kwargs: Any argument of :func:`make_inverted_residual_layers`.

    Returns:
        The output tensor.
    """
    return stock_block(make_inverted_residual_layers, apply_inverted_residual, ctx, x, filters, names, **kwargs)


@keras.saving.register_keras_serializable(package="keras_lightnets")
class InvertedResidual(BlockLayer):
    """Inverted residual (MBConv) block as one layer.

    Args:
        filters: Output channels (int >= 1).
        expand_ratio: Expansion factor (> 0, default 6; fractional allowed).
        kernel_size: Depthwise kernel size (odd int, default 3).
        strides: 1 or 2.
        se_ratio: Squeeze-excite ratio in [0, 1] of the ``se_base`` channels (0 = off).
        activation: Activation of expansion/depthwise stages (default "relu6").
        drop_rate: Stochastic-depth rate in [0, 1).
        downsample: "correct" (explicit keras.applications padding) or "same" for stride 2.
        expansion_rounding: "exact" or "divisible" (see :func:`expanded_channels`).
        se_base: "input" or "expanded".
        se_rounding: "int" or "divisible" (see :func:`reduced_channels`).
        se_activation: Activation of the squeeze-excite reduction (None = ``activation``).
        se_gate: "sigmoid" or "hard_sigmoid".
        bn_momentum: Batch-norm momentum in (0, 1).
        bn_epsilon: Batch-norm epsilon (> 0).
        data_format: "channels_last", "channels_first" or None (Keras default).
        **kwargs: Base ``Layer`` arguments.
    """

    # Sublayer roles of the depthwise + pointwise pair (read by the cost profiler).
    depthwise_pointwise_pairs = (("depthwise", "project"),)

    make_layers = staticmethod(make_inverted_residual_layers)
    apply_layers = staticmethod(apply_inverted_residual)
    roles = MBCONV_ROLES

    def __init__(
        self,
        filters,
        expand_ratio=6,
        kernel_size=3,
        strides=1,
        se_ratio=0.0,
        activation="relu6",
        drop_rate=0.0,
        downsample="correct",
        expansion_rounding="exact",
        se_base="input",
        se_rounding="int",
        se_activation=None,
        se_gate="sigmoid",
        bn_momentum=0.99,
        bn_epsilon=1e-3,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_block_options(filters, expand_ratio, strides, se_ratio, drop_rate, se_gate, expansion_rounding, se_base,
                            se_rounding)
        validation.check_choice("downsample", downsample, ["correct", "same"])
        validation.check_number("kernel_size", kernel_size, minimum=1, integer=True)
        data_format = data_format or keras.config.image_data_format()
        self._config = dict(
            filters=filters, expand_ratio=expand_ratio, kernel_size=kernel_size, strides=strides,
            se_ratio=se_ratio, activation=activation, drop_rate=drop_rate, downsample=downsample,
            expansion_rounding=expansion_rounding, se_base=se_base, se_rounding=se_rounding,
            se_activation=se_activation, se_gate=se_gate, bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon, data_format=data_format,
        )
        self.sublayers = None
