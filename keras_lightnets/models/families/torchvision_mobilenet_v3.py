"""MobileNetV3-Large as torchvision builds it (``torchvision.models.mobilenet_v3_large``).

The same table as keras.applications' MobileNetV3Large (paper Table 1), in
torchvision's conventions: PyTorch's symmetric padding (k // 2 on every side,
so stride 2 differs from TF "same"), batch norm epsilon 0.001, the stem and the
classifier's 1280-wide hidden layer scaled with the width, ImageNet mean/std
preprocessing, and ``output_stride=16`` dilating the last stage from its
strided block on, as torchvision's ``dilated=True`` backbone of LR-ASPP and
DeepLabV3 does. Layers carry torchvision's module paths
(``features_4_block_2_fc1`` for ``features.4.block.2.fc1``; the classifier's
last layer is ``logits``), so a torchvision state dict loads with
:func:`keras_lightnets.models.torchvision_weights.load_torchvision_state_dict`.
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets.models.families import mobilenet_v3
from keras_lightnets.models.families.efficientnet import CONV_INITIALIZER, DENSE_INITIALIZER
from keras_lightnets.models.families.mobilenet_v3 import LARGE, LAST_POINT
from keras_lightnets.models.family import Family, Plan
from keras_lightnets.models.spec import ConvLayer, prefixed

DEFAULT_SIZE = 224


def block_names(stages, stage_index, repeat, index):
    """torchvision's module paths of block ``index`` (``features.{index + 1}.block.{i}``)."""
    stage = stages[stage_index]
    prefix = f"features_{index + 1}_"
    names, position = {}, 0
    if stage.expansion != 1:
        names.update(expand="block_0_0", expand_bn="block_0_1", expand_act="block_0_2")
        position = 1
    names.update({role: f"block_{position}_{suffix}" for role, suffix in
                  (("pad", "pad"), ("depthwise", "0"), ("depthwise_bn", "1"), ("depthwise_act", "2"))})
    position += 1
    if stage.se_ratio:
        names.update({role: f"block_{position}_{suffix}" for role, suffix in (
            ("se_squeeze", "avgpool"), ("se_reshape", "reshape"), ("se_reduce", "fc1"), ("se_expand", "fc2"),
            ("se_excite", "scale"))})
        position += 1
    names.update(project=f"block_{position}_0", project_bn=f"block_{position}_1")
    return prefixed(prefix, names)


# keras.applications' MobileNetV3-Large conventions, with what torchvision does differently.
CONVENTIONS = dataclasses.replace(
    mobilenet_v3.conventions("large", minimalistic=False),
    names=block_names,
    stem=(ConvLayer(16, ("features_0_0", "features_0_1", "features_0_2"), kernel=3, stride=2, padding="symmetric",
                    pad_name="features_0_pad"),),
    head=(ConvLayer(6, ("features_16_0", "features_16_1", "features_16_2"), width="times_input"),),
    default_size=DEFAULT_SIZE, preprocessing="imagenet_constant",
    classifier_hidden=ConvLayer(LAST_POINT["large"], ("classifier_0", "", "")),
    bn_momentum=0.99, conv_initializer=CONV_INITIALIZER, dense_initializer=DENSE_INITIALIZER, downsample="symmetric",
    atrous="torchvision",
)


# torchvision's ``reduce_tail=True`` (its SSDLite backbone): the last stage and the classifier's hidden layer halved.
REDUCED_TAIL = LARGE[:-1] + (dataclasses.replace(LARGE[-1], filters=LARGE[-1].filters // 2),)
REDUCED_CONVENTIONS = dataclasses.replace(
    CONVENTIONS, classifier_hidden=dataclasses.replace(CONVENTIONS.classifier_hidden, filters=LAST_POINT["large"] // 2))


def _check(args):
    validation.check_choice("reduced_tail", args.reduced_tail, [False, True])


def _plan(args, conventions):
    table = args.table or (REDUCED_TAIL if args.reduced_tail else LARGE)
    return Plan(conventions, table, "mobilenet_v3_large_torchvision", dropout=args.dropout_rate, width=args.alpha)


FAMILY = Family(
    builder="TorchvisionMobileNetV3Large", module=__name__, variants={"mobilenet_v3_large_torchvision": {}},
    resolution=lambda fixed: DEFAULT_SIZE, plan=_plan, check=_check,
    conventions=lambda args: REDUCED_CONVENTIONS if args.reduced_tail else CONVENTIONS,
    rates=("dropout_rate",), multipliers=("alpha",),
    no_imagenet='None or a weights file: torchvision publishes its ImageNet file outside PyPI '
                '(convert its state dict with keras_lightnets.models.torchvision_weights.load_torchvision_state_dict)',
    options=("alpha",),
).register()


def TorchvisionMobileNetV3Large(input_shape=None, alpha=1.0, include_top=True, weights=None, input_tensor=None,
                                classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
                                include_preprocessing=True, name=None, reduced_tail=False, stages=None,
                                output_stride=None):
    """MobileNetV3-Large in torchvision's conventions (``torchvision.models.mobilenet_v3_large``).

    Args:
        input_shape: (height, width, channels); height/width None or >= 32.
            Default (224, 224, 3) with a classifier.
        alpha: Width multiplier (> 0), torchvision's ``width_mult``: every
            layer's channels rounded to multiples of 8, stem and classifier included.
        include_top: Attach the classifier (global pooling -> 1x1 conv to 1280
            -> hard-swish -> Dropout -> 1x1 conv), torchvision's ``classifier``.
        weights: None or a path to a ``.keras``/``.weights.h5`` file; a
            torchvision state dict loads with
            :func:`keras_lightnets.models.torchvision_weights.load_torchvision_state_dict`.
        input_tensor: Optional Keras tensor to build on.
        classes: Number of classes (int >= 1).
        pooling: None, "avg" or "max" when ``include_top`` is False.
        dropout_rate: Dropout before the logits in [0, 1) (default 0.2, torchvision's).
        classifier_activation: Activation of the classifier (None = logits).
        include_preprocessing: If True the model takes raw [0, 255] images and
            normalizes them with ImageNet's mean/std, as torchvision's weights
            expect; if False it takes normalized inputs.
        name: Model name (default "mobilenet_v3_large_torchvision").
        reduced_tail: If True, the last stage's widths (160 -> 80 channels,
            so 960 -> 480 expanded) and the classifier's hidden layer (1280 ->
            640) are halved: torchvision's ``reduce_tail=True``, the backbone of
            its SSDLite detector.
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`); None = the paper's.
        output_stride: None (32) or 8 / 16 / 32: stride-2 stages past it run at
            stride 1, dilated from their first block on (16 is torchvision's
            ``dilated=True`` backbone of its segmentation models).

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
