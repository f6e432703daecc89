"""Xception (arXiv 1610.02357): entry, middle and exit flows of separable convolutions.

keras.applications uses ``SeparableConv2D``; we emit the same computation as
``DepthwiseConv2D`` + 1x1 ``Conv2D`` (named ``<name>_depthwise`` /
``<name>_pointwise``) so every op is visible to tfmot, TFLite and the cost
profiler. Parameter counts and outputs are identical.
"""

from keras_lightnets.models.family import Family, Plan, check_convolutions, keras_applications_source
from keras_lightnets.models.spec import ConvLayer, Conventions, RoleNames, Stage, prefixed

# md5 of keras.applications' published files (include_top -> hash), as keras.applications checks them.
WEIGHTS_HASHES = {True: "0a58e3b7378bc2990ea3b43d5981f1f6", False: "b0042744bf5b25fce3cb969f33bebb97"}
DEFAULT_SIZE = 299
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
# Entry flow (blocks 2-4), middle flow (blocks 5-12), exit flow (block 13) and the two final separable convolutions (block 14).
STAGES = (
    Stage("xception_down", 128, preactivate=False),
    Stage("xception_down", 256),
    Stage("xception_down", 728),
    Stage("xception_middle", 728, repeats=8),
    Stage("xception_down", 1024, inner_filters=728),
    Stage("separable", 1536),
    Stage("separable", 2048),
)
_SEPARABLE = {"depthwise": "depthwise", "pointwise": "pointwise", "pointwise_bn": "bn", "pointwise_act": "act"}


def _names(stages, stage, repeat, index):
    if stages[stage].block == "separable":  # the exit flow's tail: block14_sepconv1, block14_sepconv2
        previous = stages[:stage]
        last_block = max((i for i, row in enumerate(previous) if row.block != "separable"), default=-1)
        blocks = sum(row.repeats for row in previous if row.block != "separable")
        earlier = sum(row.repeats for row in previous[last_block + 1:])
        prefix = f"block{blocks + 2}_sepconv{earlier + repeat + 1}_"
        return prefixed(prefix, _SEPARABLE)
    number = index + 2
    names = RoleNames(f"block{number}_", {"shortcut": f"block{number}_shortcut", "shortcut_bn": f"block{number}_shortcut_bn",
             "pool": f"block{number}_pool", "add": f"block{number}_add"})
    for conv in (1, 2, 3):
        prefix = f"block{number}_sepconv{conv}"
        names.update({f"sepconv{conv}_act": f"{prefix}_act", f"sepconv{conv}_depthwise": f"{prefix}_depthwise",
                      f"sepconv{conv}_pointwise": f"{prefix}_pointwise", f"sepconv{conv}_bn": f"{prefix}_bn"})
    return names


CONVENTIONS = Conventions(
    names=_names,
    stem=(ConvLayer(32, ("block1_conv1", "block1_conv1_bn", "block1_conv1_act"), kernel=3, stride=2, padding="valid"),
          ConvLayer(64, ("block1_conv2", "block1_conv2_bn", "block1_conv2_act"), kernel=3, padding="valid")),
    default_size=DEFAULT_SIZE, min_size=71, preprocessing="symmetric", activation="relu", depthwise_bn=False,
)



def _imagenet_source(args):
    import keras


    filename = f"xception_weights_tf_dim_ordering_tf_kernels{'' if args.include_top else '_notop'}.h5"
    return keras_applications_source(args, WEIGHTS_URL, filename, keras.applications.Xception, WEIGHTS_HASHES[args.include_top])


FAMILY = Family(
    builder="Xception", module=__name__, variants={"xception": {}}, resolution=lambda fixed: DEFAULT_SIZE,
    conventions=lambda args: CONVENTIONS,
    plan=lambda args, conventions: Plan(conventions, args.table or STAGES, "xception", dropout=args.dropout,
                                        convolutions=args.convolutions),
    check=lambda args: check_convolutions(args.convolutions, args.weights),
    imagenet=_imagenet_source, options=("convolutions",),
).register()


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
    stages=None,
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
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`);
            None = the paper's entry, middle and exit flows.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
