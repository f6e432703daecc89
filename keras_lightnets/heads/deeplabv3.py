"""DeepLabV3 (arXiv 1706.05587) and DeepLabV3+'s decoder (arXiv 1802.02611) on the zoo's backbones.

ASPP on the deepest features: a 1x1 branch, three atrous 3x3 branches and an
image-pooling branch (256 channels each), concatenated and projected to 256
(with dropout 0.5), then a 3x3 conv -> BN -> ReLU and a 1x1 classifier;
the logits upsampled to the input. ``decoder=True`` adds DeepLabV3+'s decoder
(the ASPP output upsampled to the stride-4 features, concatenated with their
48-channel 1x1 projection, two 3x3 convs); ``separable=True`` makes every
3x3 of ASPP, decoder and head depthwise separable (the MobileNetV2 paper's
mobile DeepLab). Layers carry torchvision's module paths
(``classifier.0.convs.1.0`` -> ``classifier_0_convs_1_0``), so
``deeplabv3_mobilenet_v3_large`` loads torchvision's state dicts.
"""

from keras_lightnets import validation
from keras_lightnets.heads import backbone as backbones
from keras_lightnets.heads import common

ASPP_CHANNELS = 256
DECODER_CHANNELS = 48


def DeepLabV3(backbone=None, num_classes=21, input_shape=None, output_stride=16, atrous_rates=(12, 24, 36),
              decoder=False, separable=False, low_stride=4, backbone_weights=None, dropout=0.5, activation=None,
              name=None):
    """A DeepLabV3 (or DeepLabV3+) segmentation network on a zoo backbone.

    Args:
        backbone: A registered backbone name whose builder takes
            ``output_stride`` (``"mobilenet_v3_large_torchvision"``,
            ``"mobilenet_v2"``, ``"efficientnet_lite0"``...) or a model built
            by a keras_lightnets builder with ``include_top=False``.
        num_classes: Classes per pixel, background included (int >= 2; 21 = Pascal VOC's).
        input_shape: (height, width, channels) for a named backbone; None =
            (None, None, 3), any size >= 32.
        output_stride: Stride of the deepest features (8, 16 or 32; 16 =
            torchvision's). For a model: None or its stride.
        atrous_rates: Dilation rates of the three atrous branches (3 ints >=
            1; torchvision's 12 / 24 / 36).
        decoder: Add DeepLabV3+'s decoder on the ``low_stride`` features (bool).
        separable: Depthwise separable 3x3 convolutions in ASPP, decoder and head (bool).
        low_stride: Stride of the decoder's low-level features (4 or 8, below ``output_stride``).
        backbone_weights: ``weights`` of a named backbone (None, "imagenet" or a file).
        dropout: Dropout after the ASPP projection, in [0, 1) (0.5 = torchvision's).
        activation: None (per-pixel logits, torchvision's ``out``) or "softmax".
        name: Model name (default ``deeplabv3_{backbone}``, ``deeplabv3plus_...`` with the decoder).

    Returns:
        ``keras.Model`` from [0, 255] images to (height, width, num_classes) maps.

    Raises:
        LightnetsError: naming the argument, before any layer is made.
    """
    import keras

    shape = common.check_common(num_classes, activation, input_shape)
    common.check_strides(backbone, output_stride)
    if (not isinstance(atrous_rates, (tuple, list)) or len(atrous_rates) != 3
            or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in atrous_rates)):
        validation.fail("atrous_rates", atrous_rates, "3 ints >= 1, e.g. (12, 24, 36)")
    validation.check_choice("decoder", decoder, [True, False])
    validation.check_choice("separable", separable, [True, False])
    validation.check_rate("dropout", dropout)
    if decoder:
        common.check_strides(backbone, output_stride, low_stride, (4, 8))
    features, stride = backbones.build_backbone(backbone, shape, output_stride, backbone_weights)
    head = common.Head(keras.layers, keras.config.image_data_format())
    high = features.outputs[0]
    x = _aspp(head, high, atrous_rates, separable, dropout)
    if decoder:
        low = backbones.low_features(features, stride, low_stride)
        low = head.conv_bn_relu(low, DECODER_CHANNELS, 1, "decoder_project")
        x = head.resize_like(x, low, "decoder_upsample")
        x = head.layers.Concatenate(axis=head.axis, name="decoder_concat")([x, low])
        x = head.conv_bn_relu(x, ASPP_CHANNELS, 3, "decoder_conv_0", separable=separable)
        x = head.conv_bn_relu(x, ASPP_CHANNELS, 3, "decoder_conv_1", separable=separable)
    else:
        if separable:
            x = head.conv_bn_relu(x, ASPP_CHANNELS, 3, "classifier_head", separable=True)
        else:
            x = head.conv(ASPP_CHANNELS, 3, "classifier_1")(x)
            x = head.batch_norm("classifier_2")(x)
            x = head.layers.ReLU(name="classifier_3")(x)
    logits = head.conv(num_classes, 1, "classifier_4", use_bias=True)(x)
    kind = "deeplabv3plus" if decoder else "deeplabv3"
    default = f"{kind}_{backbones.short_name(backbone)}"
    return common.finish(features, head, logits, activation, name or default)


def _aspp(head, x, rates, separable, dropout):
    """torchvision's ``ASPP``: 1x1, three atrous 3x3 and image pooling, concatenated and projected."""
    branches = [head.conv_bn_relu(x, ASPP_CHANNELS, 1, "classifier_0_convs_0")]
    for index, rate in enumerate(rates, start=1):
        branches.append(head.conv_bn_relu(x, ASPP_CHANNELS, 3, f"classifier_0_convs_{index}", dilation=rate,
                                          separable=separable))
    pooled = head.pool(x, "classifier_0_convs_4_0")
    pooled = head.conv(ASPP_CHANNELS, 1, "classifier_0_convs_4_1")(pooled)
    pooled = head.batch_norm("classifier_0_convs_4_2")(pooled)
    pooled = head.layers.ReLU(name="classifier_0_convs_4_3")(pooled)
    branches.append(head.resize_like(pooled, x, "classifier_0_convs_4_upsample"))
    x = head.layers.Concatenate(axis=head.axis, name="classifier_0_concat")(branches)
    x = head.conv_bn_relu(x, ASPP_CHANNELS, 1, "classifier_0_project")
    return head.layers.Dropout(dropout, name="classifier_0_project_3")(x) if dropout > 0 else x


common.register_head(__name__, "DeepLabV3", "deeplabv3", "deeplabv3_mobilenet_v3_large")
