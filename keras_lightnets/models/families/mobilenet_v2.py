"""MobileNetV2 (arXiv 1801.04381): inverted residuals with linear bottlenecks."""

from keras_lightnets.models.family import Family, Plan, alpha_resolution_variants, keras_applications_source, resolution_from_shape
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage, prefixed

IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)
DEFAULT_SIZE = 224
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
# Table 2 of the paper: (expansion, output filters, repeats, first stride).
STAGES = tuple(
    Stage("inverted_residual", filters, repeats=repeats, stride=stride, expansion=expansion)
    for expansion, filters, repeats, stride in (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
)
_ROLES = {
    "expand": "expand", "expand_bn": "expand_BN", "expand_act": "expand_relu", "pad": "pad",
    "depthwise": "depthwise", "depthwise_bn": "depthwise_BN", "depthwise_act": "depthwise_relu",
    "project": "project", "project_bn": "project_BN", "drop": "drop", "add": "add",
}


def _names(stages, stage, repeat, index):
    prefix = f"block_{index}_" if index else "expanded_conv_"
    return prefixed(prefix, _ROLES)


CONVENTIONS = Conventions(
    names=_names,
    stem=(ConvLayer(32, ("Conv1", "bn_Conv1", "Conv1_relu"), kernel=3, stride=2, rounding="divisible"),),
    head=(ConvLayer(1280, ("Conv_1", "Conv_1_bn", "out_relu"), width="above_one", rounding="divisible"),),
    default_size=DEFAULT_SIZE, preprocessing="symmetric", activation="relu6", bn_momentum=0.999,
    rounding="int_divisible",
)


def _imagenet_source(args):
    import keras

    from keras_lightnets.models import common

    alpha = args.alpha
    rows = common.published_resolution(alpha, IMAGENET_ALPHAS, args.rows, args.cols, IMAGENET_SIZES,
                                       args.include_top, args.shape)
    filename = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if args.include_top else '_no_top'}.h5"
    return keras_applications_source(args, WEIGHTS_URL, filename, keras.applications.MobileNetV2, alpha=alpha)


FAMILY = Family(
    builder="MobileNetV2", module=__name__,
    variants=alpha_resolution_variants("mobilenet_v2", IMAGENET_ALPHAS, IMAGENET_SIZES),
    resolution=resolution_from_shape(DEFAULT_SIZE), conventions=lambda args: CONVENTIONS,
    plan=lambda args, conventions: Plan(
        conventions, args.table or STAGES, f"mobilenetv2_{args.alpha:0.2f}_{args.rows}", dropout=args.dropout,
        width=args.alpha, activation=args.activation),
    multipliers=("alpha",), imagenet=_imagenet_source, options=("alpha",),
    published_macs={"mobilenet_v2_1.0_224": 300e6, "mobilenet_v2_1.4_224": 585e6, "mobilenet_v2": 300e6},  # arXiv 1801.04381
).register()


def MobileNetV2(
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
    activation="relu6",
    stages=None,
    output_stride=None,
):
    """MobileNetV2, a drop-in for ``keras.applications.MobileNetV2``.

    Args:
        input_shape: (height, width, channels); height/width None or >= 32,
            any channel count (3 for "imagenet").
        alpha: Width multiplier (> 0); channels round to multiples of 8 and
            the 1280-wide head grows only when alpha > 1.
        include_top: Attach the classifier.
        weights: None, "imagenet" (alpha in 0.35/0.5/0.75/1.0/1.3/1.4, size in
            96/128/160/192/224) or a path to a ``.keras``/``.weights.h5`` file.
        input_tensor: Optional Keras tensor to build on.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1).
        classifier_activation: Activation of the classifier (None = logits).
        name: Model name (default ``mobilenetv2_{alpha:.2f}_{rows}``).
        include_preprocessing: If True the model takes raw [0, 255] images;
            if False it takes [-1, 1] inputs like keras.applications.
        dropout: Dropout before the classifier in [0, 1) (keras.applications
            has none: default 0).
        activation: Activation of expansion/depthwise stages (default "relu6").
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`
            or blocks_args dicts); None = the paper's Table 2.
        output_stride: None (the table's own, 32) or 8 / 16 / 32: the stages
            past it keep their resolution with dilated kernels, for dense
            prediction (:mod:`keras_lightnets.heads`); parameters unchanged.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
