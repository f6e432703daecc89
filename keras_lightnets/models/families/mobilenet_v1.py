"""MobileNetV1 (arXiv 1704.04861): a stem conv and 13 depthwise separable blocks."""

from keras_lightnets import validation
from keras_lightnets.models.family import (
    Family, Plan, alpha_resolution_variants, check_convolutions, keras_applications_source, resolution_from_shape,
)
from keras_lightnets.models.spec import ConvLayer, Conventions, RoleNames, Stage

IMAGENET_ALPHAS = (0.25, 0.5, 0.75, 1.0)
IMAGENET_SIZES = (128, 160, 192, 224)
DEFAULT_SIZE = 224
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
# Blocks 1..13: (pointwise filters, depthwise stride).
STAGES = tuple(
    Stage("separable", filters, stride=stride)
    for filters, stride in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                            (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
)


def _names(stages, stage, repeat, index):
    block_id = index + 1
    return RoleNames(f"block_{block_id}_", {
        "pad": f"conv_pad_{block_id}",
        "depthwise": f"conv_dw_{block_id}",
        "depthwise_bn": f"conv_dw_{block_id}_bn",
        "depthwise_act": f"conv_dw_{block_id}_relu",
        "pointwise": f"conv_pw_{block_id}",
        "pointwise_bn": f"conv_pw_{block_id}_bn",
        "pointwise_act": f"conv_pw_{block_id}_relu",
    })


CONVENTIONS = Conventions(
    names=_names,
    stem=(ConvLayer(32, ("conv1", "conv1_bn", "conv1_relu"), kernel=3, stride=2),),
    default_size=DEFAULT_SIZE, preprocessing="symmetric", classifier="conv", activation="relu6",
    rounding="int", downsample="bottom_right",
)


def _check(args):
    validation.check_number("depth_multiplier", args.depth_multiplier, minimum=1, integer=True)
    check_convolutions(args.convolutions, args.weights)
    if args.weights == "imagenet" and args.depth_multiplier != 1:
        validation.fail("depth_multiplier", args.depth_multiplier, '1 when weights="imagenet"')


def _imagenet_source(args):
    import keras

    from keras_lightnets.models import common

    alpha = args.alpha
    rows = common.published_resolution(alpha, IMAGENET_ALPHAS, args.rows, args.cols, IMAGENET_SIZES,
                                       args.include_top, args.shape)
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[alpha]
    filename = f"mobilenet_{alpha_text}_{rows}_tf{'' if args.include_top else '_no_top'}.h5"
    return keras_applications_source(args, WEIGHTS_URL, filename, keras.applications.MobileNet, alpha=alpha)


FAMILY = Family(
    builder="MobileNetV1", module=__name__,
    variants=alpha_resolution_variants("mobilenet_v1", IMAGENET_ALPHAS, IMAGENET_SIZES),
    resolution=resolution_from_shape(DEFAULT_SIZE), conventions=lambda args: CONVENTIONS,
    plan=lambda args, conventions: Plan(
        conventions, args.table or STAGES, f"mobilenet_{args.alpha:0.2f}_{args.rows}", dropout=args.dropout,
        width=args.alpha, activation=args.activation, depth_multiplier=args.depth_multiplier,
        convolutions=args.convolutions),
    check=_check, multipliers=("alpha",), imagenet=_imagenet_source, options=("alpha", "convolutions"),
    published_macs={  # arXiv 1704.04861, Tables 6 and 7
        "mobilenet_v1_1.0_224": 569e6, "mobilenet_v1_0.75_224": 325e6, "mobilenet_v1_0.5_224": 149e6,
        "mobilenet_v1_0.25_224": 41e6, "mobilenet_v1_1.0_192": 418e6, "mobilenet_v1_1.0_160": 290e6,
        "mobilenet_v1_1.0_128": 186e6, "mobilenet_v1": 569e6,
    },
).register()


def MobileNetV1(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    include_preprocessing=True,
    activation="relu6",
    convolutions="separable",
    stages=None,
):
    """MobileNetV1, a drop-in for ``keras.applications.MobileNet``.

    Args:
        input_shape: (height, width, channels); height/width None or >= 32,
            any channel count (3 for "imagenet"). Default (224, 224, 3) with a
            classifier, (None, None, 3) without.
        alpha: Width multiplier (> 0); channels are ``int(filters * alpha)``.
        depth_multiplier: Depthwise channel multiplier (int >= 1).
        dropout: Dropout before the classifier, in [0, 1).
        include_top: Attach the classifier.
        weights: None, "imagenet" (alpha in 0.25/0.5/0.75/1.0, size in
            128/160/192/224) or a path to a ``.keras``/``.weights.h5`` file.
        input_tensor: Optional Keras tensor to build on.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1).
        classifier_activation: Activation of the classifier (None = logits).
        name: Model name (default ``mobilenet_{alpha:.2f}_{rows}``).
        include_preprocessing: If True the model takes raw [0, 255] images;
            if False it takes [-1, 1] inputs like keras.applications.
        activation: Activation of every block (default "relu6").
        convolutions: "separable" (default), or "standard" to build every
            separable pair as one full convolution of the same kernel, stride
            and width (the MobileNet paper's "Conv MobileNet" comparison).
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`
            or blocks_args dicts) instead of the paper's 13 blocks; None = the paper's.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
