"""MobileNetV4 conv-small / conv-medium / conv-large (arXiv 2404.10518), as timm builds them.

Universal inverted bottlenecks (``universal_inverted_residual``: optional
depthwise before and after the 1x1 expansion), fused inverted residuals and
plain convolutions, ReLU, no squeeze-excite. timm's ``mobilenetv4_conv_*``
(``_gen_mobilenet_v4``) is the reference: the same tables, channel rounding
(multiples of 8, expanded widths included), PyTorch's symmetric padding
(k // 2 on every side; stride 2 differs from TF "same"), batch norm with
epsilon 1e-5, and its head (global pooling -> 1x1 conv to 1280 -> BN ->
ReLU -> classifier). Layer names follow timm's module paths
(``blocks_2_0_dw_start_conv`` for ``blocks.2.0.dw_start.conv``), so a timm
state dict loads with :func:`keras_lightnets.models.timm_weights.load_timm_state_dict`.
No ImageNet file is published for offline use.
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets.models.families.efficientnet import CONV_INITIALIZER, DENSE_INITIALIZER
from keras_lightnets.models.family import Family, Plan
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage, prefixed


def _cn(filters, kernel, stride=1):
    return Stage("conv", filters, kernel=kernel, stride=stride)


def _er(filters, kernel, stride, expansion):
    return Stage("fused_inverted_residual", filters, kernel=kernel, stride=stride, expansion=expansion)


def _uir(filters, start, middle, stride, expansion, repeats=1):
    return Stage("universal_inverted_residual", filters, repeats=repeats, kernel=middle, stride=stride,
                 expansion=expansion, start_kernel=start)


# timm's arch_def: one tuple per timm stage (``blocks.{stage}``), rows as timm writes them
# ('uir_r1_a5_k5_s2_e3_c96' = _uir(96, 5, 5, 2, 3)).
GROUPS = {
    "small": (
        (_cn(32, 3, 2), _cn(32, 1)),
        (_cn(96, 3, 2), _cn(64, 1)),
        (_uir(96, 5, 5, 2, 3), _uir(96, 0, 3, 1, 2, repeats=4), _uir(96, 3, 0, 1, 4)),
        (_uir(128, 3, 3, 2, 6), _uir(128, 5, 5, 1, 4), _uir(128, 0, 5, 1, 4), _uir(128, 0, 5, 1, 3),
         _uir(128, 0, 3, 1, 4, repeats=2)),
        (_cn(960, 1),),
    ),
    "medium": (
        (_er(48, 3, 2, 4),),
        (_uir(80, 3, 5, 2, 4), _uir(80, 3, 3, 1, 2)),
        (_uir(160, 3, 5, 2, 6), _uir(160, 3, 3, 1, 4, repeats=2), _uir(160, 3, 5, 1, 4), _uir(160, 3, 3, 1, 4),
         _uir(160, 3, 0, 1, 4), _uir(160, 0, 0, 1, 2), _uir(160, 3, 0, 1, 4)),
        (_uir(256, 5, 5, 2, 6), _uir(256, 5, 5, 1, 4), _uir(256, 3, 5, 1, 4, repeats=2), _uir(256, 0, 0, 1, 4),
         _uir(256, 3, 0, 1, 4), _uir(256, 3, 5, 1, 2), _uir(256, 5, 5, 1, 4), _uir(256, 0, 0, 1, 4, repeats=2),
         _uir(256, 5, 0, 1, 2)),
        (_cn(960, 1),),
    ),
    "large": (
        (_er(48, 3, 2, 4),),
        (_uir(96, 3, 5, 2, 4), _uir(96, 3, 3, 1, 4)),
        (_uir(192, 3, 5, 2, 4), _uir(192, 3, 3, 1, 4, repeats=3), _uir(192, 3, 5, 1, 4),
         _uir(192, 5, 3, 1, 4, repeats=5), _uir(192, 3, 0, 1, 4)),
        (_uir(512, 5, 5, 2, 4, repeats=4), _uir(512, 5, 0, 1, 4), _uir(512, 5, 3, 1, 4),
         _uir(512, 5, 0, 1, 4, repeats=2), _uir(512, 5, 3, 1, 4), _uir(512, 5, 5, 1, 4), _uir(512, 5, 0, 1, 4, repeats=3)),
        (_cn(960, 1),),
    ),
}
STAGES = {variant: tuple(row for group in groups for row in group) for variant, groups in GROUPS.items()}
STEM = {"small": 32, "medium": 32, "large": 24}
# timm's default (pretrained-config) resolutions.
DEFAULT_SIZES = {"small": 224, "medium": 256, "large": 384}
HEAD_FEATURES = 1280

# Our block role -> timm's module path inside a block.
_ROLES = {
    "conv": {"pad": "pad", "conv": "conv", "bn": "bn1", "act": "bn1_act"},
    "fused_inverted_residual": {
        "pad": "pad", "expand": "conv_exp", "expand_bn": "bn1", "expand_act": "bn1_act", "project": "conv_pwl",
        "project_bn": "bn2", "project_act": "bn2_act", "drop": "drop_path", "add": "add",
        "se_squeeze": "se_pool", "se_reshape": "se_reshape", "se_reduce": "se_conv_reduce",
        "se_expand": "se_conv_expand", "se_excite": "se_mul",
    },
    "universal_inverted_residual": {
        "start_pad": "dw_start_pad", "start_depthwise": "dw_start_conv", "start_bn": "dw_start_bn",
        "expand": "pw_exp_conv", "expand_bn": "pw_exp_bn", "expand_act": "pw_exp_act",
        "pad": "dw_mid_pad", "depthwise": "dw_mid_conv", "depthwise_bn": "dw_mid_bn", "depthwise_act": "dw_mid_act",
        "se_squeeze": "se_pool", "se_reshape": "se_reshape", "se_reduce": "se_conv_reduce",
        "se_expand": "se_conv_expand", "se_excite": "se_mul",
        "project": "pw_proj_conv", "project_bn": "pw_proj_bn", "drop": "drop_path", "add": "add",
    },
}


def _positions(groups):
    """Row index -> (timm stage, index of the row's first block inside it)."""
    positions, row = {}, 0
    for group_index, group in enumerate(groups):
        offset = 0
        for stage in group:
            positions[row] = (group_index, offset)
            offset += stage.repeats
            row += 1
    return positions


def block_names(groups):
    """The ``names`` convention for a table grouped like timm's stages (a custom table: one group per row)."""
    positions = _positions(groups)

    def names(stages, stage_index, repeat, index):
        group, offset = positions.get(stage_index, (stage_index, 0))
        return prefixed(f"blocks_{group}_{offset + repeat}_", _ROLES.get(stages[stage_index].block, {}))

    return names


CONVENTIONS = Conventions(
    names=block_names(GROUPS["small"]),
    stem=(ConvLayer(32, ("conv_stem", "bn1", "bn1_act"), kernel=3, stride=2, padding="symmetric",
                    width="above_one", pad_name="conv_stem_pad"),),
    default_size=224, preprocessing="imagenet_constant", classifier="conv_bn_dense",
    classifier_hidden=ConvLayer(HEAD_FEATURES, ("conv_head", "norm_head", "norm_head_act"), width="fixed"),
    activation="relu", bn_epsilon=1e-5, bn_momentum=0.9, conv_initializer=CONV_INITIALIZER,
    dense_initializer=DENSE_INITIALIZER, rounding="divisible", downsample="symmetric",
    expansion_rounding="divisible", se_base="expanded", se_rounding="divisible",
)
VARIANTS = tuple(GROUPS)


def _plan(args, conventions):
    if args.table is None:
        table, groups = STAGES[args.variant], GROUPS[args.variant]
    else:
        table, groups = args.table, tuple((row,) for row in args.table)
    stem = dataclasses.replace(CONVENTIONS.stem[0], filters=STEM[args.variant])
    conventions = dataclasses.replace(CONVENTIONS, names=block_names(groups), stem=(stem,),
                                      default_size=DEFAULT_SIZES[args.variant])
    return Plan(conventions, table, f"mobilenet_v4_conv_{args.variant}", dropout=args.dropout, width=args.alpha,
                drop_connect_rate=args.drop_connect_rate, activation=args.activation,
                hidden_activation=args.activation)


FAMILY = Family(
    builder="MobileNetV4", module=__name__,
    variants={f"mobilenet_v4_conv_{variant}": {"variant": variant} for variant in VARIANTS},
    resolution=lambda fixed: DEFAULT_SIZES[fixed["variant"]],
    conventions=lambda args: dataclasses.replace(CONVENTIONS, default_size=DEFAULT_SIZES[args.variant]),
    plan=_plan, check=lambda args: validation.check_choice("variant", args.variant, list(VARIANTS)),
    rates=("dropout", "drop_connect_rate"), multipliers=("alpha",),
    no_imagenet='None or a weights file: no MobileNetV4 ImageNet file is available offline '
                '(convert a timm state dict with keras_lightnets.models.timm_weights.load_timm_state_dict)',
    options=("alpha", "drop_connect_rate"),
).register()


def MobileNetV4(
    variant="small",
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    include_preprocessing=True,
    dropout=0.0,
    drop_connect_rate=0.0,
    activation="relu",
    stages=None,
    output_stride=None,
):
    """MobileNetV4 conv-small, conv-medium or conv-large (timm's ``mobilenetv4_conv_*``).

    Args:
        variant: "small", "medium" or "large".
        input_shape: (height, width, channels); height/width None or >= 32.
            Defaults to timm's resolution (224 / 256 / 384) with a classifier.
        alpha: Width multiplier (> 0), timm's ``channel_multiplier``: every
            block's channels, rounded to multiples of 8; the stem is scaled
            only above 1 and the 1280-wide head never.
        include_top: Attach the classifier (global pooling -> 1x1 conv to
            1280 -> BN -> ReLU -> [Dropout] -> Dense); without it the model
            ends at the 960-channel stage (timm's ``forward_features``).
        weights: None or a path to a ``.keras``/``.weights.h5`` file. No
            ImageNet file is available offline; a timm state dict loads with
            :func:`keras_lightnets.models.timm_weights.load_timm_state_dict`.
        input_tensor: Optional Keras tensor to build on.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1).
        classifier_activation: Activation of the classifier (None = logits).
        name: Model name (default ``mobilenet_v4_conv_{variant}``).
        include_preprocessing: If True the model takes raw [0, 255] images and
            normalizes them with ImageNet's mean/std, as timm's checkpoints
            expect; if False it takes normalized inputs.
        dropout: Dropout before the classifier, in [0, 1) (timm's ``drop_rate``).
        drop_connect_rate: Final stochastic-depth rate in [0, 1), linear over
            the blocks (timm's ``drop_path_rate``).
        activation: Activation of stem, blocks and head (default "relu").
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`); None = the variant's.
        output_stride: None (the table's own, 32) or 8 / 16 / 32: the stages
            past it keep their resolution with dilated kernels, for dense
            prediction (:mod:`keras_lightnets.heads`); parameters unchanged.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
