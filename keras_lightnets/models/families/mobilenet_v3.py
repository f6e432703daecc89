"""MobileNetV3 Small and Large (arXiv 1905.02244): inverted residuals with hard-swish and squeeze-excite.

Exact twins of ``keras.applications.MobileNetV3Small`` / ``MobileNetV3Large``:
the same tables, channel rounding (multiples of 8, including the expanded
and squeeze-excite widths), layer names and classifier (a 1x1 convolution
after global pooling, then 1x1 logits). ``minimalistic=True`` is
keras.applications' variant without squeeze-excite, hard-swish or 5x5 kernels.
The hard-sigmoid gate and hard-swish are Keras' own activations
(``hard_sigmoid(x) = relu6(x + 3) / 6``), which TFLite converts to its
HARD_SWISH op.
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets.models.family import Family, Plan, keras_applications_source
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage, prefixed

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# md5 of keras.applications' published files, (with classifier, without), as keras.applications checks them.
WEIGHTS_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}
IMAGENET_ALPHAS = (0.75, 1.0)
IMAGENET_SIZE = 224


def _stage(filters, expansion, kernel=3, stride=1, se=False, activation="relu", repeats=1):
    return Stage("inverted_residual", filters, repeats=repeats, kernel=kernel, stride=stride, expansion=expansion,
                 se_ratio=0.25 if se else 0.0, activation=activation)


# Tables 1 and 2 of the paper, as keras.applications builds them (rows with equal blocks merged into repeats).
SMALL = (
    _stage(16, 1, stride=2, se=True),
    _stage(24, 72 / 16, stride=2),
    _stage(24, 88 / 24),
    _stage(40, 4, kernel=5, stride=2, se=True, activation="hard_swish"),
    _stage(40, 6, kernel=5, se=True, activation="hard_swish", repeats=2),
    _stage(48, 3, kernel=5, se=True, activation="hard_swish", repeats=2),
    _stage(96, 6, kernel=5, stride=2, se=True, activation="hard_swish", repeats=3),
)
LARGE = (
    _stage(16, 1),
    _stage(24, 4, stride=2),
    _stage(24, 3),
    _stage(40, 3, kernel=5, stride=2, se=True, repeats=3),
    _stage(80, 6, stride=2, activation="hard_swish"),
    _stage(80, 2.5, activation="hard_swish"),
    _stage(80, 2.3, activation="hard_swish", repeats=2),
    _stage(112, 6, se=True, activation="hard_swish", repeats=2),
    _stage(160, 6, kernel=5, stride=2, se=True, activation="hard_swish", repeats=3),
)
# Width of the classifier's hidden 1x1 convolution.
LAST_POINT = {"small": 1024, "large": 1280}
_ROLES = {
    "expand": "expand", "expand_bn": "expand_bn", "expand_act": "expand_activation", "pad": "depthwise_pad",
    "depthwise": "depthwise", "depthwise_bn": "depthwise_bn", "depthwise_act": "depthwise_activation",
    "se_squeeze": "squeeze_excite_avg_pool", "se_reshape": "squeeze_excite_reshape",
    "se_reduce": "squeeze_excite_conv", "se_expand": "squeeze_excite_conv_1", "se_excite": "squeeze_excite_mul",
    "project": "project", "project_bn": "project_bn", "drop": "drop", "add": "add",
}


def _names(stages, stage, repeat, index):
    return prefixed(f"expanded_conv_{index}_" if index else "expanded_conv_", _ROLES)


def conventions(model_type, minimalistic):
    """The Conventions of MobileNetV3 ``model_type`` ("small" or "large")."""
    return Conventions(
        names=_names,
        stem=(ConvLayer(16, ("conv", "conv_bn", "conv_activation"), kernel=3, stride=2, width="fixed"),),
        head=(ConvLayer(6, ("conv_1", "conv_1_bn", "conv_1_activation"), width="times_input"),),
        default_size=None, preprocessing="symmetric", classifier="conv_mlp",
        classifier_hidden=ConvLayer(LAST_POINT[model_type], ("conv_2", "", ""), width="above_one"),
        activation="relu" if minimalistic else "hard_swish", bn_momentum=0.999, rounding="divisible",
        downsample="correct", expansion_rounding="divisible", se_base="expanded", se_rounding="divisible",
        se_activation="relu", se_gate="hard_sigmoid",
    )


def minimalistic_table(stages):
    """keras.applications' minimalistic variant of a table: 3x3 kernels, ReLU, no squeeze-excite."""
    return tuple(
        dataclasses.replace(stage, kernel=3, se_ratio=0.0, activation="relu" if stage.activation == "hard_swish" else stage.activation)
        for stage in stages
    )


def _imagenet_source(model_type):
    def source(args):
        import warnings

        import keras


        alpha, minimalistic, include_top = args.alpha, args.minimalistic, args.include_top
        if minimalistic and alpha != 1.0:
            validation.fail("alpha", alpha, '1.0 when minimalistic=True and weights="imagenet"')
        if alpha not in IMAGENET_ALPHAS:
            validation.fail("alpha", alpha, f'one of {IMAGENET_ALPHAS} when weights="imagenet"')
        if args.rows != args.cols or args.rows != IMAGENET_SIZE:
            warnings.warn(
                f"input_shape={args.shape}: MobileNetV3 is published at {IMAGENET_SIZE}x{IMAGENET_SIZE} only; "
                "loading that file, as keras.applications does.", stacklevel=5,  # the public builder's caller
            )
        model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
        filename = f"weights_mobilenet_v3_{model_name}{'.h5' if include_top else '_no_top_v2.h5'}"
        twin = keras.applications.MobileNetV3Small if model_type == "small" else keras.applications.MobileNetV3Large
        return keras_applications_source(args, WEIGHTS_URL, filename, twin, WEIGHTS_HASHES[model_name][0 if include_top else 1],
                                         alpha=alpha, minimalistic=minimalistic)

    return source


def _plan(model_type, table, default_name):
    def plan(args, family):
        rows = args.table or table
        return Plan(family, minimalistic_table(rows) if args.minimalistic else rows, default_name,
                    dropout=args.dropout_rate, width=args.alpha)

    return plan


# keras.applications' table (from the TF reference implementation's README), at 224.
PUBLISHED_MACS = {
    "mobilenet_v3_large": 217e6, "mobilenet_v3_large_0.75": 155e6, "mobilenet_v3_large_minimalistic": 209e6,
    "mobilenet_v3_small": 66e6, "mobilenet_v3_small_0.75": 44e6, "mobilenet_v3_small_minimalistic": 65e6,
}


def _family(model_type, builder_name, table):
    prefix = f"mobilenet_v3_{model_type}"
    variants = {prefix: {}, f"{prefix}_0.75": {"alpha": 0.75}, f"{prefix}_minimalistic": {"minimalistic": True}}
    return Family(
        builder=builder_name, module=__name__, variants=variants, resolution=lambda fixed: IMAGENET_SIZE,
        conventions=lambda args: conventions(model_type, args.minimalistic),
        plan=_plan(model_type, table, builder_name),
        check=lambda args: validation.check_choice("minimalistic", args.minimalistic, [True, False]),
        rates=("dropout_rate",), multipliers=("alpha",), imagenet=_imagenet_source(model_type), options=("alpha",),
        published_macs={name: PUBLISHED_MACS[name] for name in variants},
    ).register()


SMALL_FAMILY = _family("small", "MobileNetV3Small", SMALL)
LARGE_FAMILY = _family("large", "MobileNetV3Large", LARGE)


_DOC = """MobileNetV3{kind}, a drop-in for ``keras.applications.MobileNetV3{kind}``.

    Args:
        input_shape: (height, width, channels); height/width None or >= 32,
            any channel count (3 for "imagenet"). Default (None, None, 3), as
            keras.applications (the classifier is fully convolutional).
        alpha: Width multiplier (> 0); channels round to multiples of 8; the
            classifier's hidden width grows only when alpha > 1.
        minimalistic: True for the variant without squeeze-excite, hard-swish
            and 5x5 kernels (bool).
        include_top: Attach the classifier.
        weights: None, "imagenet" (alpha 0.75 or 1.0; 1.0 when minimalistic;
            published at 224) or a path to a ``.keras``/``.weights.h5`` file.
            keras.applications defaults to "imagenet"; we default to None
            like every builder here.
        input_tensor: Optional Keras tensor to build on.
        classes: Number of classes (int >= 1).
        pooling: None, "avg" or "max" when ``include_top`` is False.
        dropout_rate: Dropout before the logits in [0, 1) (default 0.2).
        classifier_activation: Activation of the classifier (None = logits).
        include_preprocessing: If True the model takes raw [0, 255] images;
            if False it takes [-1, 1] inputs.
        name: Model name (default "MobileNetV3{kind}").
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`)
            with the same conventions; None = the paper's.
        output_stride: None (the table's own, 32) or 8 / 16 / 32: the stages
            past it keep their resolution with dilated kernels, for dense
            prediction (:mod:`keras_lightnets.heads`); parameters unchanged.

    Returns:
        ``keras.Model``.
    """


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights=None,
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name=None, stages=None,
                     output_stride=None):
    return SMALL_FAMILY.build(locals())


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights=None,
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name=None, stages=None,
                     output_stride=None):
    return LARGE_FAMILY.build(locals())


MobileNetV3Small.__doc__ = _DOC.format(kind="Small")
MobileNetV3Large.__doc__ = _DOC.format(kind="Large")

