"""EfficientNetV2 B0-B3, S, M, L (arXiv 2104.00298): Fused-MBConv early stages, MBConv with squeeze-excite late.

Exact twins of ``keras.applications.EfficientNetV2*``: the same tables,
channel rounding (multiples of 8 without MobileNet's 10% rule), batch-norm
momentum 0.9, TF "same" padding at stride 2, layer names and
preprocessing (B0-B3: ImageNet mean/std on 3 channels; S/M/L: x / 128 - 1).
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets.models.families.efficientnet import CONV_INITIALIZER, DENSE_INITIALIZER
from keras_lightnets.models.family import Family, Plan, keras_applications_source
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage, prefixed

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
# md5 of keras.applications' published files, (with classifier, without), as keras.applications checks them.
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
_FUSED, _MB = "fused_inverted_residual", "inverted_residual"


def _table(rows):
    return tuple(
        Stage(block, filters, repeats=repeats, kernel=3, stride=stride, expansion=expansion, se_ratio=se)
        for block, repeats, filters, expansion, se, stride in rows
    )


# (block, repeats, output filters, expansion, squeeze-excite ratio, first stride); keras.applications' DEFAULT_BLOCKS_ARGS.
_BASE = _table((
    (_FUSED, 1, 16, 1, 0, 1), (_FUSED, 2, 32, 4, 0, 2), (_FUSED, 2, 48, 4, 0, 2),
    (_MB, 3, 96, 4, 0.25, 2), (_MB, 5, 112, 6, 0.25, 1), (_MB, 8, 192, 6, 0.25, 2),
))
STAGES = {
    "b": _BASE,
    "s": _table((
        (_FUSED, 2, 24, 1, 0, 1), (_FUSED, 4, 48, 4, 0, 2), (_FUSED, 4, 64, 4, 0, 2),
        (_MB, 6, 128, 4, 0.25, 2), (_MB, 9, 160, 6, 0.25, 1), (_MB, 15, 256, 6, 0.25, 2),
    )),
    "m": _table((
        (_FUSED, 3, 24, 1, 0, 1), (_FUSED, 5, 48, 4, 0, 2), (_FUSED, 5, 80, 4, 0, 2),
        (_MB, 7, 160, 4, 0.25, 2), (_MB, 14, 176, 6, 0.25, 1), (_MB, 18, 304, 6, 0.25, 2), (_MB, 5, 512, 6, 0.25, 1),
    )),
    "l": _table((
        (_FUSED, 4, 32, 1, 0, 1), (_FUSED, 7, 64, 4, 0, 2), (_FUSED, 7, 96, 4, 0, 2),
        (_MB, 10, 192, 4, 0.25, 2), (_MB, 19, 224, 6, 0.25, 1), (_MB, 25, 384, 6, 0.25, 2), (_MB, 7, 640, 6, 0.25, 1),
    )),
}
# variant -> (width, depth, default resolution, table, stem filters).
VARIANTS = {
    "b0": (1.0, 1.0, 224, "b", 32),
    "b1": (1.0, 1.1, 240, "b", 32),
    "b2": (1.1, 1.2, 260, "b", 32),
    "b3": (1.2, 1.4, 300, "b", 32),
    "s": (1.0, 1.0, 384, "s", 24),
    "m": (1.0, 1.0, 480, "m", 24),
    "l": (1.0, 1.0, 480, "l", 32),
}
ROLE_SUFFIXES = {
    "pad": "dwconv_pad", "expand": "expand_conv", "expand_bn": "expand_bn", "expand_act": "expand_activation",
    "depthwise": "dwconv2", "depthwise_bn": "bn", "depthwise_act": "activation", "se_squeeze": "se_squeeze",
    "se_reshape": "se_reshape", "se_reduce": "se_reduce", "se_expand": "se_expand", "se_excite": "se_excite",
    "project": "project_conv", "project_bn": "project_bn", "project_act": "project_activation",
    "drop": "drop", "add": "add",
}


def _names(stages, stage, repeat, index):
    return prefixed(f"block{stage + 1}{chr(repeat + 97)}_", ROLE_SUFFIXES)


def conventions(variant, channels=3):
    """The Conventions of EfficientNetV2-``variant`` for inputs of ``channels`` channels."""
    width, depth, size, table, stem = VARIANTS[variant]
    return Conventions(
        names=_names,
        stem=(ConvLayer(stem, ("stem_conv", "stem_bn", "stem_activation"), kernel=3, stride=2),),
        head=(ConvLayer(1280, ("top_conv", "top_bn", "top_activation")),),
        default_size=size, preprocessing="imagenet_constant" if variant.startswith("b") and channels == 3 else "symmetric_128",
        activation="swish", bn_momentum=0.9, conv_initializer=CONV_INITIALIZER, dense_initializer=DENSE_INITIALIZER,
        rounding="divisible_no_floor", downsample="same", drop_connect_total="table",
    )


def _plan(args, _):
    width, depth, _, table_name, _ = VARIANTS[args.variant]
    family = conventions(args.variant, args.channels)
    if args.table is not None and isinstance(args.stages[0], dict) and "input_filters" in args.stages[0]:
        family = dataclasses.replace(family, stem=(dataclasses.replace(family.stem[0], filters=args.stages[0]["input_filters"]),))
    return Plan(family, args.table or STAGES[table_name], f"efficientnetv2-{args.variant}", dropout=args.dropout,
                width=width, depth=depth, drop_connect_rate=args.drop_connect_rate, activation=args.activation)


def _imagenet_source(args):
    import keras


    filename = f"efficientnetv2-{args.variant}{'.h5' if args.include_top else '_notop.h5'}"
    twin = getattr(keras.applications, f"EfficientNetV2{args.variant.upper()}")
    return keras_applications_source(args, WEIGHTS_URL, filename, twin, WEIGHTS_HASHES[args.variant][0 if args.include_top else 1])


FAMILY = Family(
    builder="EfficientNetV2", module=__name__,
    variants={f"efficientnet_v2_{variant}": {"variant": variant} for variant in VARIANTS},
    resolution=lambda fixed: VARIANTS[fixed["variant"]][2],
    conventions=lambda args: conventions(args.variant),
    plan=_plan, check=lambda args: validation.check_choice("variant", args.variant, list(VARIANTS)),
    rates=("dropout", "drop_connect_rate"), imagenet=_imagenet_source, options=("drop_connect_rate",),
    published_macs={f"efficientnet_v2_{variant}": macs for variant, macs in (  # arXiv 2104.00298, Tables 4 and 7
        ("b0", 0.72e9), ("b1", 1.2e9), ("b2", 1.7e9), ("b3", 3.0e9), ("s", 8.8e9), ("m", 24e9), ("l", 53e9))},
).register()


def EfficientNetV2(
    variant="b0",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name=None,
    dropout=0.2,
    drop_connect_rate=0.2,
    activation="swish",
    stages=None,
):
    """EfficientNetV2-{variant}, a drop-in for ``keras.applications.EfficientNetV2{B0..B3,S,M,L}``.

    Args:
        variant: "b0", "b1", "b2", "b3", "s", "m" or "l".
        include_top: Attach the classifier.
        weights: None, "imagenet" or a path to a ``.keras``/``.weights.h5``
            file (keras.applications defaults to "imagenet"; every builder
            here defaults to None).
        input_tensor: Optional Keras tensor to build on.
        input_shape: (height, width, channels); height/width None or >= 32.
            Defaults to the variant's resolution (224/240/260/300/384/480/480) with a classifier.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1).
        classifier_activation: Activation of the classifier (None = logits).
        include_preprocessing: If True the model takes raw [0, 255] images:
            B0-B3 normalize 3-channel inputs with ImageNet mean/std, S/M/L
            (and other channel counts) map to [-1, 1] with x / 128 - 1.
        name: Model name (default ``efficientnetv2-{variant}``).
        dropout: Dropout before the classifier in [0, 1) (keras.applications: 0.2).
        drop_connect_rate: Final stochastic-depth rate in [0, 1), reached
            linearly over the blocks.
        activation: Activation of every block (default "swish").
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`
            or keras.applications ``blocks_args`` dicts, ``conv_type`` 1 =
            Fused-MBConv), scaled like the variant's; None = the variant's.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
