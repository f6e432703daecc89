"""Xception (arXiv 1610.02357): entry, middle and exit flows of separable convolutions.

keras.applications uses ``SeparableConv2D``; we emit the same computation as
``DepthwiseConv2D`` + 1x1 ``Conv2D`` (named ``<name>_depthwise`` /
``<name>_pointwise``) so every op is visible to tfmot, TFLite and the cost
profiler. Parameter counts and outputs are identical.
"""

import keras

from keras_lightnets import validation
from keras_lightnets.layers.separable import separable_block
from keras_lightnets.models import catalog, common
from keras_lightnets.weights import WeightSource

# md5 of keras.applications' published files (include_top -> hash), as keras.applications checks them.
WEIGHTS_HASHES = {True: "0a58e3b7378bc2990ea3b43d5981f1f6", False: "b0042744bf5b25fce3cb969f33bebb97"}
FAMILY = common.Family(default_size=catalog.XCEPTION_DEFAULT_SIZE, min_size=71, preprocessing="symmetric", head="dense")
# Entry-flow blocks 2-4: output filters; each ends with max-pool and a strided 1x1 shortcut.
ENTRY = (128, 256, 728)
MIDDLE_BLOCKS = 8
MIDDLE_FILTERS = 728
EXIT = (728, 1024)
FINAL = (1536, 2048)
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"


def _sepconv(ctx, x, filters, name):
    names = {
        "depthwise": f"{name}_depthwise", "pointwise": f"{name}_pointwise", "pointwise_bn": f"{name}_bn",
    }
    return separable_block(
        ctx, x, filters, names, depthwise_bn=False, depthwise_activation=None, activation=None,
    )


def _downsampling_block(ctx, x, filters, block, pre_activation):
    """Two separable convs, max-pool, plus a strided 1x1 shortcut (entry flow, block 13)."""
    residual = ctx.conv(filters[-1], 1, f"block{block}_shortcut", strides=2)(x)
    residual = ctx.batch_norm(f"block{block}_shortcut_bn")(residual)
    for index, width in enumerate(filters, start=1):
        if pre_activation or index > 1:
            x = ctx.activation("relu", f"block{block}_sepconv{index}_act")(x)
        x = _sepconv(ctx, x, width, f"block{block}_sepconv{index}")
    x = ctx.layers.MaxPooling2D(3, strides=2, padding="same", data_format=ctx.data_format, name=f"block{block}_pool")(x)
    return ctx.layers.Add(name=f"block{block}_add")([x, residual])


def Xception(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="xception",
    include_preprocessing=True,
    dropout=0.0,
    convolutions="separable",
):
    """Xception, a drop-in for ``keras.applications.Xception``.

    Args:
        include_top: Attach the classifier.
        weights: None, "imagenet" or a path to a ``.keras``/``.weights.h5`` file.
        input_tensor: Optional Keras tensor to build on.
        input_shape: (height, width, channels); height/width None or >= 71.
            Default (299, 299, 3) with a classifier.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1).
        classifier_activation: Activation of the classifier (None = logits).
        name: Model name.
        include_preprocessing: If True the model takes raw [0, 255] images;
            if False it takes [-1, 1] inputs like keras.applications.
        dropout: Dropout before the classifier in [0, 1) (default 0, as
            keras.applications).
        convolutions: "separable" (default), or "standard" to build every
            separable pair as one full convolution of the same kernel, stride
            and width (the MobileNet paper's "Conv MobileNet" comparison).

    Returns:
        ``keras.Model``.
    """
    validation.check_rate("dropout", dropout)
    common.check_convolutions(convolutions, weights)
    args = common.CommonArgs(
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name,
        include_preprocessing,
    )
    shape = common.validate_common(args, FAMILY)
    source = None
    if weights == "imagenet":
        filename = f"xception_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        source = WeightSource(
            filename, WEIGHTS_URL + filename,
            lambda: keras.applications.Xception(
                include_top=include_top, weights=None, input_shape=shape, classes=classes,
                classifier_activation=classifier_activation,
            ),
            file_hash=WEIGHTS_HASHES[include_top],
        )

    def body(ctx, x):
        x = ctx.conv(32, 3, "block1_conv1", strides=2, padding="valid")(x)
        x = ctx.batch_norm("block1_conv1_bn")(x)
        x = ctx.activation("relu", "block1_conv1_act")(x)
        x = ctx.conv(64, 3, "block1_conv2", padding="valid")(x)
        x = ctx.batch_norm("block1_conv2_bn")(x)
        x = ctx.activation("relu", "block1_conv2_act")(x)
        for block, filters in enumerate(ENTRY, start=2):
            x = _downsampling_block(ctx, x, (filters, filters), block, pre_activation=block > 2)
        for block in range(5, 5 + MIDDLE_BLOCKS):
            residual = x
            for index in (1, 2, 3):
                x = ctx.activation("relu", f"block{block}_sepconv{index}_act")(x)
                x = _sepconv(ctx, x, MIDDLE_FILTERS, f"block{block}_sepconv{index}")
            x = ctx.layers.Add(name=f"block{block}_add")([x, residual])
        x = _downsampling_block(ctx, x, EXIT, 13, pre_activation=True)
        for index, filters in enumerate(FINAL, start=1):
            x = _sepconv(ctx, x, filters, f"block14_sepconv{index}")
            x = ctx.activation("relu", f"block14_sepconv{index}_act")(x)
        return x

    return common.build(FAMILY, args, shape, body, "xception", dropout=dropout, imagenet=source, convolutions=convolutions)
