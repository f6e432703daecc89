"""MobileNetV1 (arXiv 1704.04861): a stem conv and 13 depthwise separable blocks."""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.separable import separable_block
from keras_lightnets.models import catalog, common
from keras_lightnets.models.inputs import spatial_size
from keras_lightnets.weights import WeightSource

FAMILY = common.Family(default_size=catalog.MOBILENET_DEFAULT_SIZE, min_size=32, preprocessing="symmetric", head="conv")
STEM_FILTERS = 32
# (pointwise filters, depthwise stride) of blocks 1..13.
BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
IMAGENET_ALPHAS = catalog.MOBILENET_V1_ALPHAS
IMAGENET_SIZES = catalog.MOBILENET_V1_SIZES
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"


def _names(block_id):
    return {
        "pad": f"conv_pad_{block_id}",
        "depthwise": f"conv_dw_{block_id}",
        "depthwise_bn": f"conv_dw_{block_id}_bn",
        "depthwise_act": f"conv_dw_{block_id}_relu",
        "pointwise": f"conv_pw_{block_id}",
        "pointwise_bn": f"conv_pw_{block_id}_bn",
        "pointwise_act": f"conv_pw_{block_id}_relu",
    }


def _imagenet_source(alpha, include_top, rows, cols, input_shape, classes, classifier_activation):
    rows = common.published_resolution(alpha, IMAGENET_ALPHAS, rows, cols, IMAGENET_SIZES, include_top, input_shape)
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[alpha]
    filename = f"mobilenet_{alpha_text}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return WeightSource(
        filename, WEIGHTS_URL + filename,
        lambda: keras.applications.MobileNet(
            input_shape=input_shape, alpha=alpha, include_top=include_top, weights=None,
            classes=classes, classifier_activation=classifier_activation,
        ),
    )


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

    Returns:
        ``keras.Model``.
    """
    validation.check_number("alpha", alpha, minimum=0.0, exclusive_minimum=True)
    validation.check_number("depth_multiplier", depth_multiplier, minimum=1, integer=True)
    validation.check_rate("dropout", dropout)
    common.check_convolutions(convolutions, weights)
    args = common.CommonArgs(
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name,
        include_preprocessing,
    )
    shape = common.validate_common(args, FAMILY)
    rows, cols = spatial_size(shape, keras.config.image_data_format())
    source = None
    if weights == "imagenet":
        if depth_multiplier != 1:
            validation.fail("depth_multiplier", depth_multiplier, '1 when weights="imagenet"')
        source = _imagenet_source(alpha, include_top, rows, cols, shape, classes, classifier_activation)

    def body(ctx, x):
        x = ctx.conv(int(STEM_FILTERS * alpha), 3, "conv1", strides=2)(x)
        x = ctx.batch_norm("conv1_bn")(x)
        x = ctx.activation(activation, "conv1_relu")(x)
        for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
            x = separable_block(
                ctx, x, int(filters * alpha), _names(block_id), strides=stride,
                padding="same" if stride == 1 else "valid",
                pad=ctx.downsample_padding(ctx.spatial(x), 3, "bottom_right") if stride == 2 else None,
                depth_multiplier=depth_multiplier, depthwise_activation=activation, activation=activation,
            )
        return x

    return common.build(FAMILY, args, shape, body, f"mobilenet_{alpha:0.2f}_{rows}", dropout=dropout, imagenet=source, convolutions=convolutions)
