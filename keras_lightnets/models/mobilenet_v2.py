"""MobileNetV2 (arXiv 1801.04381): inverted residuals with linear bottlenecks."""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.inverted_residual import inverted_residual_block
from keras_lightnets.models import catalog, common
from keras_lightnets.models.inputs import spatial_size
from keras_lightnets.scaling import make_divisible
from keras_lightnets.weights import WeightSource

FAMILY = common.Family(default_size=catalog.MOBILENET_DEFAULT_SIZE, min_size=32, preprocessing="symmetric", head="dense", bn_momentum=0.999)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
# (expansion, output filters, repeats, first stride): Table 2 of the paper.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
IMAGENET_ALPHAS = catalog.MOBILENET_V2_ALPHAS
IMAGENET_SIZES = catalog.MOBILENET_V2_SIZES
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"


def _names(block_id):
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    roles = {
        "expand": "expand", "expand_bn": "expand_BN", "expand_act": "expand_relu", "pad": "pad",
        "depthwise": "depthwise", "depthwise_bn": "depthwise_BN", "depthwise_act": "depthwise_relu",
        "project": "project", "project_bn": "project_BN", "drop": "drop", "add": "add",
    }
    return {role: prefix + suffix for role, suffix in roles.items()}


def _imagenet_source(alpha, include_top, rows, cols, input_shape, classes, classifier_activation):
    rows = common.published_resolution(alpha, IMAGENET_ALPHAS, rows, cols, IMAGENET_SIZES, include_top, input_shape)
    filename = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"
    return WeightSource(
        filename, WEIGHTS_URL + filename,
        lambda: keras.applications.MobileNetV2(
            input_shape=input_shape, alpha=alpha, include_top=include_top, weights=None,
            classes=classes, classifier_activation=classifier_activation,
        ),
    )


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

    Returns:
        ``keras.Model``.
    """
    validation.check_number("alpha", alpha, minimum=0.0, exclusive_minimum=True)
    validation.check_rate("dropout", dropout)
    args = common.CommonArgs(
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name,
        include_preprocessing,
    )
    shape = common.validate_common(args, FAMILY)
    rows, cols = spatial_size(shape, keras.config.image_data_format())
    source = None
    if weights == "imagenet":
        source = _imagenet_source(alpha, include_top, rows, cols, shape, classes, classifier_activation)

    def body(ctx, x):
        x = ctx.conv(make_divisible(STEM_FILTERS * alpha, 8), 3, "Conv1", strides=2)(x)
        x = ctx.batch_norm("bn_Conv1")(x)
        x = ctx.activation(activation, "Conv1_relu")(x)
        block_id = 0
        for expansion, filters, repeats, first_stride in STAGES:
            for repeat in range(repeats):
                x = inverted_residual_block(
                    ctx, x, make_divisible(int(filters * alpha), 8), _names(block_id),
                    expand_ratio=expansion, strides=first_stride if repeat == 0 else 1, activation=activation,
                )
                block_id += 1
        head = make_divisible(HEAD_FILTERS * alpha, 8) if alpha > 1.0 else HEAD_FILTERS
        x = ctx.conv(head, 1, "Conv_1")(x)
        x = ctx.batch_norm("Conv_1_bn")(x)
        return ctx.activation(activation, "out_relu")(x)

    return common.build(FAMILY, args, shape, body, f"mobilenetv2_{alpha:0.2f}_{rows}", dropout=dropout, imagenet=source)
