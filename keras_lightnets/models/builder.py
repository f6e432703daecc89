"""The one decoder of the block-spec language: a table of stages -> stock Keras layers.

:func:`body` turns a family's :class:`~keras_lightnets.models.spec.Conventions`
and a table of :class:`~keras_lightnets.models.spec.Stage` rows into the
``body(ctx, x)`` that :func:`keras_lightnets.models.common.build` wraps with
input, preprocessing, classifier and weights. Each block kind is one
function in ``BLOCKS``, built from the same layer recipes as the exported
layers (``SeparableConv``, ``InvertedResidual``, ``FusedInvertedResidual``).
"""

from keras_lightnets import validation
from keras_lightnets.layers.fused_inverted_residual import fused_inverted_residual_block
from keras_lightnets.layers.inverted_residual import inverted_residual_block
from keras_lightnets.layers.separable import separable_block
from keras_lightnets.layers.universal_inverted_residual import universal_inverted_residual_block
from keras_lightnets.models.spec import OUTPUT_STRIDES, round_filters, round_repeats


def _separable(ctx, x, stage, filters, names, conventions, options):
    stride = options["stride"]
    pad, padding = None, "same"
    if stride == 2 and conventions.downsample != "same":
        pad, padding = ctx.downsample_padding(ctx.spatial(x), stage.kernel, conventions.downsample), "valid"
    activation = options["activation"]
    return separable_block(
        ctx, x, filters, names, kernel_size=stage.kernel, strides=stride, padding=padding, pad=pad,
        depth_multiplier=options["depth_multiplier"], depthwise_bn=conventions.depthwise_bn,
        depthwise_activation=activation if conventions.depthwise_bn else None, activation=activation,
        dilation=options["dilation"],
    )


def _se_options(conventions):
    return dict(se_activation=conventions.se_activation, se_gate=conventions.se_gate)


def _inverted_residual(ctx, x, stage, filters, names, conventions, options):
    return inverted_residual_block(
        ctx, x, filters, names, expand_ratio=stage.expansion, kernel_size=stage.kernel, strides=options["stride"],
        se_ratio=stage.se_ratio, activation=options["activation"], drop_rate=options["drop_rate"],
        downsample=conventions.downsample, expansion_rounding=conventions.expansion_rounding,
        se_base=conventions.se_base, se_rounding=conventions.se_rounding, dilation=options["dilation"],
        **_se_options(conventions),
    )


def _fused_inverted_residual(ctx, x, stage, filters, names, conventions, options):
    return fused_inverted_residual_block(
        ctx, x, filters, names, expand_ratio=stage.expansion, kernel_size=stage.kernel, strides=options["stride"],
        se_ratio=stage.se_ratio, activation=options["activation"], drop_rate=options["drop_rate"],
        downsample=conventions.downsample, expansion_rounding=conventions.expansion_rounding,
        dilation=options["dilation"], **_se_options(conventions),
    )


def _universal_inverted_residual(ctx, x, stage, filters, names, conventions, options):
    return universal_inverted_residual_block(
        ctx, x, filters, names, expand_ratio=stage.expansion, start_kernel_size=stage.start_kernel,
        kernel_size=stage.kernel, strides=options["stride"], se_ratio=stage.se_ratio, activation=options["activation"],
        drop_rate=options["drop_rate"], downsample=conventions.downsample,
        expansion_rounding=conventions.expansion_rounding, se_base=conventions.se_base,
        se_rounding=conventions.se_rounding, dilation=options["dilation"], **_se_options(conventions),
    )


def _conv(ctx, x, stage, filters, names, conventions, options):
    """k x k convolution -> BN -> activation (no residual), MobileNetV4's plain layers."""
    stride = options["stride"]
    pad, padding = ctx.strided_padding(ctx.spatial(x), stage.kernel, stride, conventions.downsample, names["pad"])
    if pad is not None:
        x = pad(x)
    x = ctx.conv(filters, stage.kernel, names["conv"], strides=stride, padding=padding, dilation=options["dilation"])(x)
    x = ctx.batch_norm(names["bn"])(x)
    return ctx.activation(options["activation"], names["act"])(x)


def _xception_separable(ctx, x, filters, names, index, kernel):
    """One linear separable convolution of an Xception block (no depthwise BN, pointwise BN)."""
    roles = {role: names[f"sepconv{index}_{role}"] for role in ("depthwise", "pointwise", "bn")}
    roles["pointwise_bn"] = roles.pop("bn")
    return separable_block(ctx, x, filters, roles, kernel_size=kernel, depthwise_bn=False, depthwise_activation=None, activation=None)


def _xception_down(ctx, x, stage, filters, names, conventions, options):
    """act -> sep -> act -> sep -> 3x3/2 max-pool, plus a strided 1x1 shortcut (Xception entry and exit flows)."""
    residual = ctx.conv(filters, 1, names["shortcut"], strides=2)(x)
    residual = ctx.batch_norm(names["shortcut_bn"])(residual)
    for index, width in enumerate((stage.inner_filters or filters, filters), start=1):
        if stage.preactivate or index > 1:
            x = ctx.activation(options["activation"], names[f"sepconv{index}_act"])(x)
        x = _xception_separable(ctx, x, width, names, index, stage.kernel)
    x = ctx.layers.MaxPooling2D(3, strides=2, padding="same", data_format=ctx.data_format, name=names["pool"])(x)
    return ctx.layers.Add(name=names["add"])([x, residual])


def _xception_middle(ctx, x, stage, filters, names, conventions, options):
    """3 x (act -> sep), plus the identity (Xception middle flow)."""
    residual = x
    for index in (1, 2, 3):
        x = ctx.activation(options["activation"], names[f"sepconv{index}_act"])(x)
        x = _xception_separable(ctx, x, filters, names, index, stage.kernel)
    return ctx.layers.Add(name=names["add"])([x, residual])


# Block kind -> builder(ctx, x, stage, filters, names, conventions, options) -> x.
BLOCKS = {
    "separable": _separable,
    "inverted_residual": _inverted_residual,
    "fused_inverted_residual": _fused_inverted_residual,
    "xception_down": _xception_down,
    "xception_middle": _xception_middle,
    "conv": _conv,
    "universal_inverted_residual": _universal_inverted_residual,
}


def conv_layer_filters(ctx, x, layer, width, conventions):
    """Channels of a stem/head :class:`~keras_lightnets.models.spec.ConvLayer` at ``width``."""
    rounding = layer.rounding or conventions.rounding
    rule = validation.lookup("ConvLayer.width", layer.width, {
        "scaled": lambda: round_filters(layer.filters, width, rounding),
        "fixed": lambda: int(layer.filters),
        "above_one": lambda: round_filters(layer.filters, width, rounding) if width > 1.0 else int(layer.filters),
        "times_input": lambda: round_filters(ctx.channels(x) * layer.filters, 1.0, rounding),
    })
    return rule()


def _conv_layer(ctx, x, layer, width, conventions, activation):
    filters = conv_layer_filters(ctx, x, layer, width, conventions)
    explicit = validation.lookup("ConvLayer.padding", layer.padding,
                                 {"same": False, "valid": False, "correct": True, "symmetric": True})
    padding = "valid" if explicit else layer.padding
    if explicit:
        x = ctx.zero_pad(ctx.downsample_padding(ctx.spatial(x), layer.kernel, layer.padding), layer.pad_name)(x)
    conv_name, bn_name, act_name = layer.names
    x = ctx.conv(filters, layer.kernel, conv_name, strides=layer.stride, padding=padding)(x)
    x = ctx.batch_norm(bn_name)(x)
    return ctx.activation(activation, act_name)(x)


def stage_repeats(stages, depth):
    """Blocks per stage after depth scaling (stages with ``scale_repeats=False`` keep theirs)."""
    return [round_repeats(stage.repeats, depth) if stage.scale_repeats else stage.repeats for stage in stages]


def table_stride(conventions, stages):
    """The output stride of a table as published: its stem's strides times its stages'."""
    stride = 1
    for layer in conventions.stem:
        stride *= layer.stride
    for stage in stages:
        stride *= stage.stride
    return stride


def check_output_stride(output_stride, conventions, stages):
    """Validates ``output_stride`` against a table (None keeps the table's own)."""
    if output_stride is None:
        return
    own = table_stride(conventions, stages)
    validation.check_choice("output_stride", output_stride, list(OUTPUT_STRIDES))
    if output_stride > own:
        validation.fail("output_stride", output_stride,
                        f"None or a value in {OUTPUT_STRIDES} up to {own}, the stride of this table")
    stem = table_stride(conventions, ())
    if output_stride < stem * 2:
        validation.fail("output_stride", output_stride, f"at least {stem * 2} (the stem and first stride already reach {stem})")


def atrous_blocks(conventions, stages, repeats, output_stride=None):
    """(stride, dilation) of every block once ``output_stride`` caps the resolution.

    A stage whose stride 2 would take the output past ``output_stride`` runs at
    stride 1; its blocks and every later block are dilated by 2 per stride
    removed (``conventions.atrous`` says whether the first of them takes the
    new rate). A stage's own ``dilation`` multiplies the rate.

    Returns:
        list per stage of [(stride, dilation), ...] per block.
    """
    current, rate = table_stride(conventions, ()), 1
    plan = []
    for stage, count in zip(stages, repeats):
        first_stride, first_rate = stage.stride, rate
        if stage.stride == 2 and output_stride is not None and current * 2 > output_stride:
            first_stride, rate = 1, rate * 2
            first_rate = rate if conventions.atrous == "torchvision" else first_rate
        else:
            current *= stage.stride
        plan.append([(first_stride, first_rate * stage.dilation)]
                    + [(1, rate * stage.dilation)] * (count - 1))
    return plan


def body(conventions, stages, width=1.0, depth=1.0, drop_connect_rate=0.0, activation=None, depth_multiplier=1,
         output_stride=None):
    """The ``body(ctx, x)`` that builds stem, every stage and head of a table.

    Args:
        conventions: The family's :class:`~keras_lightnets.models.spec.Conventions`.
        stages: Parsed table (tuple of Stage).
        width: Width multiplier (> 0) applied with the family's rounding.
        depth: Depth multiplier (> 0); repeats round up.
        drop_connect_rate: Final stochastic-depth rate in [0, 1), reached linearly over the blocks.
        activation: Overrides the family's default activation (None keeps it;
            stages with their own activation keep theirs).
        depth_multiplier: Depthwise channel multiplier of separable blocks (int >= 1).
        output_stride: None (the table's own stride) or 8 / 16 / 32: stride-2
            stages past it run at stride 1 with dilated kernels
            (:func:`atrous_blocks`); parameters are unchanged.

    Returns:
        ``body(ctx, x) -> x``.
    """
    check_output_stride(output_stride, conventions, stages)
    default_activation = activation or conventions.activation
    repeats = stage_repeats(stages, depth)
    blocks = atrous_blocks(conventions, stages, repeats, output_stride)
    counted = validation.lookup("Conventions.drop_connect_total", conventions.drop_connect_total,
                                {"scaled": repeats, "table": [stage.repeats for stage in stages]})
    total = float(sum(counted))

    def build(ctx, x):
        for layer in conventions.stem:
            x = _conv_layer(ctx, x, layer, width, conventions, default_activation)
        index = 0
        for stage_index, stage in enumerate(stages):
            filters = round_filters(stage.filters, width, conventions.rounding)
            for repeat, (stride, dilation) in enumerate(blocks[stage_index]):
                options = dict(
                    stride=stride,
                    dilation=dilation,
                    activation=stage.activation or default_activation,
                    drop_rate=drop_connect_rate * index / total,
                    depth_multiplier=depth_multiplier,
                )
                names = conventions.names(stages, stage_index, repeat, index)
                x = BLOCKS[stage.block](ctx, x, stage, filters, names, conventions, options)
                ctx.block_outputs.append(x)
                index += 1
        for layer in conventions.head:
            x = _conv_layer(ctx, x, layer, width, conventions, default_activation)
        return x

    return build
