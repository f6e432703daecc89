"""LR-ASPP (MobileNetV3 paper, section 6.3): Lite Reduced Atrous Spatial Pyramid Pooling.

On the deepest features: a 1x1 conv -> BN -> ReLU branch gated by a globally
pooled 1x1 conv + sigmoid, upsampled to the stride-8 features and classified
by a 1x1 conv, added to a 1x1 classifier of the stride-8 features; the sum
upsampled to the input. Layers carry torchvision's module paths
(``classifier.cbr.0`` -> ``classifier_cbr_0``), so
``lraspp_mobilenet_v3_large`` loads torchvision's state dicts with
:func:`keras_lightnets.models.torchvision_weights.load_torchvision_state_dict`.
"""

from keras_lightnets import validation
from keras_lightnets.heads import backbone as backbones
from keras_lightnets.heads import common


def LRASPP(backbone=None, num_classes=21, input_shape=None, output_stride=16, low_stride=8, inter_channels=128,
           backbone_weights=None, activation=None, name=None):
    """An LR-ASPP segmentation network on a zoo backbone.

    Args:
        backbone: A registered backbone name whose builder takes
            ``output_stride`` (``"mobilenet_v3_large_torchvision"``,
            ``"efficientnet_lite0"``, ``"mobilenet_v2"``...) or a model built
            by a keras_lightnets builder with ``include_top=False``.
        num_classes: Classes per pixel, background included (int >= 2; 21 = Pascal VOC's).
        input_shape: (height, width, channels) for a named backbone; None =
            (None, None, 3), any size >= 32.
        output_stride: Stride of the deepest features (8, 16 or 32; 16 =
            torchvision's dilated last stage). For a model: None or its stride.
        low_stride: Stride of the block output the low branch classifies
            (power of two below ``output_stride``; 8 = torchvision's).
        inter_channels: Width of the gated branch (int >= 1; 128 = torchvision's).
        backbone_weights: ``weights`` of a named backbone (None, "imagenet" or a file).
        activation: None (per-pixel logits, torchvision's ``out``) or "softmax".
        name: Model name (default ``lraspp_{backbone}``).

    Returns:
        ``keras.Model`` from [0, 255] images to (height, width, num_classes) maps.

    Raises:
        LightnetsError: naming the argument, before any layer is made.
    """
    import keras

    shape = common.check_common(num_classes, activation, input_shape)
    validation.check_number("inter_channels", inter_channels, minimum=1, integer=True)
    common.check_strides(backbone, output_stride, low_stride, (4, 8, 16))
    features, stride = backbones.build_backbone(backbone, shape, output_stride, backbone_weights)
    low = backbones.low_features(features, stride, low_stride)
    high = features.outputs[0]
    head = common.Head(keras.layers, keras.config.image_data_format())
    x = head.conv(inter_channels, 1, "classifier_cbr_0")(high)
    x = head.batch_norm("classifier_cbr_1")(x)
    x = head.layers.ReLU(name="classifier_cbr_2")(x)
    s = head.pool(high, "classifier_scale_0")
    s = head.conv(inter_channels, 1, "classifier_scale_1")(s)
    s = head.layers.Activation("sigmoid", name="classifier_scale_2")(s)
    x = head.layers.Multiply(name="classifier_gate")([x, s])
    x = head.resize_like(x, low, "classifier_upsample")
    low_logits = head.conv(num_classes, 1, "classifier_low_classifier", use_bias=True)(low)
    high_logits = head.conv(num_classes, 1, "classifier_high_classifier", use_bias=True)(x)
    logits = head.layers.Add(name="classifier_add")([low_logits, high_logits])
    default = f"lraspp_{backbones.short_name(backbone)}"
    return common.finish(features, head, logits, activation, name or default)


common.register_head(__name__, "LRASPP", "lraspp", "lraspp_mobilenet_v3_large")
