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
from keras_lightnets.models.spec import round_filters, round_repeats


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
    )


def _se_options(conventions):
    return dict(se_activation=conventions.se_activation, se_gate=conventions.se_gate)


def _inverted_residual(ctx, x, stage, filters, names, conventions, options):
    return inverted_residual_block(
        ctx, x, filters, names, expand_ratio=stage.expansion, kernel_size=stage.kernel, strides=options["stride"],
        se_ratio=stage.se_ratio, activation=options["activation"], drop_rate=options["drop_rate"],
        downsample=conventions.downsample, expansion_rounding=conventions.expansion_rounding,
        se_base=conventions.se_base, se_rounding=conventions.se_rounding, **_se_options(conventions),
    )


def _fused_inverted_residual(ctx, x, stage, filters, names, conventions, options):
    return fused_inverted_residual_block(
        ctx, x, filters, names, expand_ratio=stage.expansion, kernel_size=stage.kernel, strides=options["stride"],
        se_ratio=stage.se_ratio, activation=options["activation"], drop_rate=options["drop_rate"],
        downsample=conventions.downsample, expansion_rounding=conventions.expansion_rounding,
        **_se_options(conventions),
    )


def _universal_inverted_residual(ctx, x, stage, filters, names, conventions, options):
    return universal_inverted_residual_block(
        ctx, x, filters, names, expand_ratio=stage.expansion, start_kernel_size=stage.start_kernel,
        kernel_size=stage.kernel, strides=options["stride"], se_ratio=stage.se_ratio, activation=options["activation"],
        drop_rate=options["drop_rate"], downsample=conventions.downsample,
        expansion_rounding=conventions.expansion_rounding, se_base=conventions.se_base,
        se_rounding=conventions.se_rounding, **_se_options(conventions),
    )


def _conv(ctx, x, stage, filters, names, conventions, options):
    """k x k convolution -> BN -> activation (no residual), MobileNetV4's plain layers."""
    stride = options["stride"]
    pad, padding = ctx.strided_padding(ctx.spatial(x), stage.kernel, stride, conventions.downsample, names["pad"])
    if pad is not None:
        x = pad(x)
    x = ctx.conv(filters, stage.kernel, names["conv"], strides=stride, padding=padding)(x)
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


def body(conventions, stages, width=1.0, depth=1.0, drop_connect_rate=0.0, activation=None, depth_multiplier=1):
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

    Returns:
        ``body(ctx, x) -> x``.
    """
    default_activation = activation or conventions.activation
    repeats = stage_repeats(stages, depth)
    counted = validation.lookup("Conventions.drop_connect_total", conventions.drop_connect_total,
                                {"scaled": repeats, "table": [stage.repeats for stage in stages]})
    total = float(sum(counted))

    def build(ctx, x):
        for layer in conventions.stem:
            x = _conv_layer(ctx, x, layer, width, conventions, default_activation)
        index = 0
        for stage_index, (stage, count) in enumerate(zip(stages, repeats)):
            filters = round_filters(stage.filters, width, conventions.rounding)
            for repeat in range(count):
                options = dict(
                    stride=stage.stride if repeat == 0 else 1,
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
