"""Universal inverted bottleneck (UIB) of MobileNetV4 (arXiv 2404.10518).

[depthwise k1 x k1 -> BN] -> 1x1 expand -> BN -> act -> [depthwise k2 x k2
-> BN -> act] -> [squeeze-excite] -> linear 1x1 project -> BN ->
[stochastic depth] -> residual add when shapes allow. The two optional
depthwise convolutions give the paper's four instances: both ("ExtraDW"),
only the middle one (the classic inverted bottleneck), only the starting
one (ConvNeXt-like) and neither (a feed-forward network). The stride sits
on the middle depthwise when there is one, else on the starting one, as in
timm's ``UniversalInvertedResidual``; the expansion convolution is always
present.
"""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.inverted_residual import expanded_channels, reduced_channels
from keras_lightnets.layers.squeeze_excite import SE_ROLES, make_squeeze_excite_layers
from keras_lightnets.layers.wiring import (
    BlockLayer, apply_in_role_order, call_layer, check_block_options, residual_layers, stock_block,
)

UIB_ROLES = (
    "start_pad", "start_depthwise", "start_bn", "expand", "expand_bn", "expand_act",
    "pad", "depthwise", "depthwise_bn", "depthwise_act", *SE_ROLES, "project", "project_bn", "drop", "add",
)
DOWNSAMPLES = ("symmetric", "same", "correct")


def make_universal_inverted_residual_layers(
    ctx,
    in_channels,
    spatial,
    filters,
    names,
    expand_ratio=4,
    start_kernel_size=0,
    kernel_size=3,
    strides=1,
    se_ratio=0.0,
    activation="relu",
    drop_rate=0.0,
    downsample="symmetric",
    expansion_rounding="divisible",
    se_base="expanded",
    se_rounding="divisible",
    se_activation=None,
    se_gate="sigmoid",
    dilation=1,
):
    """Creates the stock layers of one universal inverted bottleneck.

    Args:
        ctx: :class:`BuildContext`.
        in_channels: Channels of the block input (int >= 1).
        spatial: (height, width) of the block input; entries may be None.
        filters: Output channels (int >= 1).
        names: Mapping role -> layer name for ``UIB_ROLES``.
        expand_ratio: Expansion factor (> 0, fractional allowed).
        start_kernel_size: Kernel of the depthwise convolution before the
            expansion (odd int, 0 = none).
        kernel_size: Kernel of the middle depthwise convolution (odd int, 0 = none).
        strides: 1 or 2 (2 needs at least one depthwise convolution).
        se_ratio: Squeeze-excite width as a fraction of the ``se_base`` channels (0 disables).
        activation: Activation after the expansion and the middle depthwise convolution.
        drop_rate: Stochastic-depth rate in [0, 1) on the residual branch.
        downsample: Padding of the strided depthwise convolution: "symmetric"
            (k // 2 on every side, PyTorch's), "same" (TF) or "correct"
            (keras.applications' ``correct_pad``).
        expansion_rounding: "divisible" (``make_divisible(in * e, 8)``) or "exact" (``int(in * e)``).
        se_base: ``se_ratio`` is a fraction of the "input" or "expanded" channels.
        se_rounding: "divisible" or "int" (see :func:`reduced_channels`).
        se_activation: Activation of the reduction (None = ``activation``).
        se_gate: "sigmoid" or "hard_sigmoid".
        dilation: Dilation rate of both depthwise kernels (int >= 1; > 1 only with stride 1).

    Returns:
        dict role -> layer; ``"add"`` is present only when the block is residual.
    """
    expanded = expanded_channels(in_channels, expand_ratio, expansion_rounding)
    made = {}

    def depthwise(prefix, kernel, stride):
        pad, padding = ctx.strided_padding(spatial, kernel, stride, downsample, names[prefix + "pad"])
        if pad is not None:
            made[prefix + "pad"] = pad
        made[prefix + "depthwise"] = ctx.depthwise(kernel, names[prefix + "depthwise"], strides=stride, padding=padding,
                                                   dilation=dilation)

    if start_kernel_size:
        depthwise("start_", start_kernel_size, 1 if kernel_size else strides)
        made["start_bn"] = ctx.batch_norm(names["start_bn"])
    made["expand"] = ctx.conv(expanded, 1, names["expand"])
    made["expand_bn"] = ctx.batch_norm(names["expand_bn"])
    made["expand_act"] = ctx.activation(activation, names["expand_act"])
    if kernel_size:
        depthwise("", kernel_size, strides)
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
    if strides == 1 and in_channels == filters:
        made.update(residual_layers(ctx, names, drop_rate))
    return made


def apply_universal_inverted_residual(sublayers, inputs, call=call_layer):
    """Applies the layers made by :func:`make_universal_inverted_residual_layers`."""
    return apply_in_role_order(sublayers, inputs, UIB_ROLES, call)


def universal_inverted_residual_block(ctx, x, filters, names, **kwargs):
    """Functional helper: one universal inverted bottleneck on ``x`` with stock layers.

    Args:
        ctx: :class:`BuildContext`.
        x: Input tensor.
        filters: Output channels.
        names: Mapping role -> layer name.
        **kwargs: Any argument of :func:`make_universal_inverted_residual_layers`.

    Returns:
        The output tensor.
    """
    return stock_block(make_universal_inverted_residual_layers, apply_universal_inverted_residual, ctx, x, filters,
                       names, **kwargs)


@keras.saving.register_keras_serializable(package="keras_lightnets")
class UniversalInvertedResidual(BlockLayer):
    """Universal inverted bottleneck (MobileNetV4's UIB) as one layer.

    Args:
        filters: Output channels (int >= 1).
        expand_ratio: Expansion factor (> 0, default 4).
        start_kernel_size: Depthwise kernel before the expansion (odd int, 0 = none; default 0).
        kernel_size: Middle depthwise kernel (odd int, 0 = none; default 3).
        strides: 1 or 2.
        se_ratio: Squeeze-excite ratio in [0, 1] of the ``se_base`` channels (0 = off).
        activation: Activation (default "relu").
        drop_rate: Stochastic-depth rate in [0, 1).
        downsample: "symmetric", "same" or "correct" padding for stride 2.
        expansion_rounding: "divisible" or "exact".
        se_base: "input" or "expanded".
        se_rounding: "int" or "divisible".
        se_activation: Activation of the squeeze-excite reduction (None = ``activation``).
        se_gate: "sigmoid" or "hard_sigmoid".
        bn_momentum: Batch-norm momentum in (0, 1).
        bn_epsilon: Batch-norm epsilon (> 0).
        data_format: "channels_last", "channels_first" or None (Keras default).
        **kwargs: Base ``Layer`` arguments.
    """

    # Depthwise + pointwise pairs (read by the cost profiler); absent roles are skipped.
    depthwise_pointwise_pairs = (("start_depthwise", "expand"), ("depthwise", "project"))

    make_layers = staticmethod(make_universal_inverted_residual_layers)
    apply_layers = staticmethod(apply_universal_inverted_residual)
    roles = UIB_ROLES

    def __init__(
        self,
        filters,
        expand_ratio=4,
        start_kernel_size=0,
        kernel_size=3,
        strides=1,
        se_ratio=0.0,
        activation="relu",
        drop_rate=0.0,
        downsample="symmetric",
        expansion_rounding="divisible",
        se_base="expanded",
        se_rounding="divisible",
        se_activation=None,
        se_gate="sigmoid",
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_block_options(filters, expand_ratio, strides, se_ratio, drop_rate, se_gate, expansion_rounding, se_base,
                            se_rounding)
        for argument, value in (("start_kernel_size", start_kernel_size), ("kernel_size", kernel_size)):
            validation.check_number(argument, value, minimum=0, integer=True)
            if value % 2 == 0 and value != 0:
                validation.fail(argument, value, "an odd int >= 1, or 0 (none)")
        if strides == 2 and not (start_kernel_size or kernel_size):
            validation.fail("strides", strides, "1 when start_kernel_size and kernel_size are both 0 (no depthwise to stride)")
        validation.check_choice("downsample", downsample, list(DOWNSAMPLES))
        data_format = data_format or keras.config.image_data_format()
        self._config = dict(
            filters=filters, expand_ratio=expand_ratio, start_kernel_size=start_kernel_size, kernel_size=kernel_size,
            strides=strides, se_ratio=se_ratio, activation=activation, drop_rate=drop_rate, downsample=downsample,
            expansion_rounding=expansion_rounding, se_base=se_base, se_rounding=se_rounding,
            se_activation=se_activation, se_gate=se_gate, bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon, data_format=data_format,
        )
        self.sublayers = None
