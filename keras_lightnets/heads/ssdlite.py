"""SSDLite (MobileNetV2 paper, section 6.2): SSD whose extra layers and prediction heads are depthwise separable.

Six feature maps: the expansion output inside the backbone's first stride-32
block (stride 16: MobileNetV3 paper section 6.3, torchvision's ``c4_pos``), the
backbone's output (stride 32), then four extra blocks (1x1 conv to half the
width -> 3x3 depthwise stride 2 -> 1x1 conv, each with batch norm and ReLU6;
torchvision's ``_extra_block``). On each map a classification and a box head:
3x3 depthwise -> BN -> ReLU6 -> 1x1 conv with bias (torchvision's
``_prediction_block``), one row per default box
(:mod:`keras_lightnets.detection.anchors`). The result is a
:class:`~keras_lightnets.detection.detector.Detector`: ``model(images)`` gives
the raw ``cls_logits`` / ``bbox_regression``, ``model.predict(images)`` the
detections after NMS.

Layers carry torchvision's module paths (``head.regression_head.module_list.2.1``
-> ``head_regression_head_module_list_2_1``; extras ``backbone_extra_{i}_{j}_{k}``),
so ``ssdlite320_mobilenet_v3_large`` loads torchvision's state dicts with
:func:`load_torchvision_ssdlite_state_dict`.
"""

from keras_lightnets import registry, validation
from keras_lightnets.heads import backbone as backbones

# torchvision's ssdlite320_mobilenet_v3_large: its size, extra widths, batch norm (eps 0.001, momentum 0.03).
TORCHVISION_SIZE = 320
EXTRA_CHANNELS = (512, 256, 256, 128)
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.97
# torchvision's _normal_init of the extras and heads: N(0, 0.03) weights, zero biases.
INITIALIZER = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.03}}
NORMALIZATIONS = ("backbone", "symmetric")
# torchvision's SSDLite backbone: MobileNetV3-Large with the reduced tail, inputs mapped to [-1, 1].
TORCHVISION_CONFIGURATION = {"backbone": backbones.TORCHVISION_BACKBONE, "backbone_options": {"reduced_tail": True},
                             "normalization": "symmetric"}
# Index of torchvision's first stride-32 block in MobileNetV3-Large's ``features`` (its ``c4_pos``).
C4_POSITION = 13


def _check(num_classes, image_size, normalization, extra_channels, aspect_ratios):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        validation.fail("num_classes", num_classes, "an int >= 2 (the background counts as a class: 91 = COCO's)")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 64 or image_size % 32:
        validation.fail("image_size", image_size, "an int >= 64 and a multiple of 32 (whole stride-32 feature maps)")
    validation.check_choice("normalization", normalization, NORMALIZATIONS)
    if (not isinstance(extra_channels, (tuple, list))
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 2 for c in extra_channels)):
        validation.fail("extra_channels", extra_channels, "a tuple of ints >= 2 (one extra feature map each)")
    if (not isinstance(aspect_ratios, (tuple, list)) or not aspect_ratios
            or any(isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0 for r in aspect_ratios)):
        validation.fail("aspect_ratios", aspect_ratios, "a non-empty tuple of numbers > 0 (boxes beyond the square ones)")


def expansion_endpoint(model):
    """The name of the last stride-16 layer inside ``model``'s first stride-32 block (its expansion output).

    Raises:
        LightnetsError: ``model`` has no block reaching stride 32 or none starting at stride 16.
    """
    from keras_lightnets.features import layer_strides
    from keras_lightnets.models import blocks

    import keras

    strides = layer_strides(model)
    ends = blocks.block_ends(model)
    end = backbones.block_endpoint(model, 32, "backbone")
    names = [layer.name for layer in model.layers]
    start = names.index(ends[ends.index(end) - 1]) + 1 if ends.index(end) else 0
    found = None
    for layer in model.layers[start:names.index(end) + 1]:
        name = layer.name
        if isinstance(layer, keras.layers.ZeroPadding2D):  # padding for the strided kernel: not a feature
            continue
        if strides.get(name) == 32:
            break
        if strides.get(name) == 16:
            found = name
    if found is None:
        validation.fail("backbone", model.name, "a backbone whose first stride-32 block starts at stride 16")
    return found


class _Layers:
    """The extras' and heads' stock layers in torchvision's SSDLite conventions."""

    def __init__(self, layers):
        self.layers = layers

    def conv_bn_relu6(self, x, filters, prefix, depthwise=False, stride=1):
        """torchvision's Conv2dNormActivation (conv ``{prefix}_0``, BN ``_1``, ReLU6 ``_2``); 3x3 when depthwise."""
        if depthwise:
            x = self.layers.ZeroPadding2D(1, name=f"{prefix}_pad")(x)  # PyTorch's padding=1 (not TF's "same")
            x = self.layers.DepthwiseConv2D(3, strides=stride, use_bias=False, depthwise_initializer=INITIALIZER,
                                            name=f"{prefix}_0")(x)
        else:
            x = self.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=INITIALIZER, name=f"{prefix}_0")(x)
        x = self.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_1")(x)
        return self.layers.ReLU(6.0, name=f"{prefix}_2")(x)

    def extra_block(self, x, filters, prefix):
        x = self.conv_bn_relu6(x, filters // 2, f"{prefix}_0")
        x = self.conv_bn_relu6(x, None, f"{prefix}_1", depthwise=True, stride=2)
        return self.conv_bn_relu6(x, filters, f"{prefix}_2")

    def prediction(self, x, outputs, columns, prefix):
        """Depthwise 3x3 -> BN -> ReLU6 -> 1x1 conv with bias, reshaped to (N, boxes, columns)."""
        x = self.conv_bn_relu6(x, None, f"{prefix}_0", depthwise=True)
        x = self.layers.Conv2D(outputs, 1, kernel_initializer=INITIALIZER, name=f"{prefix}_1")(x)
        return self.layers.Reshape((-1, columns), name=f"{prefix}_reshape")(x)


def SSDLite(backbone=None, num_classes=91, image_size=TORCHVISION_SIZE, backbone_weights=None, backbone_options=None,
            normalization="backbone", extra_channels=EXTRA_CHANNELS, aspect_ratios=(2.0, 3.0), min_ratio=0.2,
            max_ratio=0.95, score_threshold=0.001, iou_threshold=0.55, max_detections=300, candidates_per_class=300,
            classification_loss="hard_negative", class_names=None, name=None):
    """An SSDLite detector on a zoo backbone.

    Args:
        backbone: A registered classification name (``"mobilenet_v3_large_torchvision"``,
            ``"efficientnet_lite0"``, ``"mobilenet_v2"``...) or a model built by a
            keras_lightnets builder with ``include_top=False`` and input (image_size, image_size, 3).
            It needs an output stride of 32 and a first stride-32 block that starts at stride 16.
        num_classes: Classes with the background (int >= 2; 91 = torchvision's COCO).
        image_size: Square input size (int >= 64, a multiple of 32; 320 = torchvision's).
        backbone_weights: ``weights`` of a named backbone (None, "imagenet" or a file).
        backbone_options: More arguments of a named backbone's builder (dict; ``{"reduced_tail": True}``).
        normalization: "backbone" (the backbone's own preprocessing of [0, 255] images) or
            "symmetric" ([0, 255] -> [-1, 1] before a backbone built without preprocessing:
            torchvision's detection transform, mean = std = 0.5).
        extra_channels: Output widths of the extra blocks after the backbone (ints >= 2).
        aspect_ratios: Aspect ratios beyond 1 on every feature map (numbers > 0; each adds 2 boxes per cell).
        min_ratio, max_ratio: Scales of the first and last maps' boxes (0 < min < max <= 1).
        score_threshold: Detections scoring at or below it are dropped (in [0, 1]).
        iou_threshold: NMS overlap above which a box of the same class is dropped (in (0, 1]).
        max_detections: Detections per image (int >= 1).
        candidates_per_class: Best boxes per class entering NMS (int >= 1).
        classification_loss: "hard_negative" (cross entropy, 3 negatives per positive) or "focal".
        class_names: Names of the num_classes - 1 object classes (optional).
        name: Model name (default ``ssdlite{image_size}_{backbone}``).

    Returns:
        :class:`~keras_lightnets.detection.detector.Detector` from [0, 255] images.

    Raises:
        LightnetsError: naming the argument, before any layer is made.
    """
    import keras

    from keras_lightnets.detection.anchors import DefaultBoxes
    from keras_lightnets.detection.detector import DetectionSettings, Detector
    from keras_lightnets.detection.loss import CLASSIFICATION_LOSSES
    from keras_lightnets.detection.postprocess import Postprocessing

    backbones.check_given(backbone)
    _check(num_classes, image_size, normalization, extra_channels, aspect_ratios)
    validation.check_choice("classification_loss", classification_loss, CLASSIFICATION_LOSSES)
    names = tuple(class_names or ())
    if names and len(names) != num_classes - 1:
        validation.fail("class_names", f"{len(names)} names", f"{num_classes - 1} names (num_classes - 1: no background)")
    post = Postprocessing(score_threshold, iou_threshold, max_detections, candidates_per_class)
    maps = 2 + len(extra_channels)
    boxes = DefaultBoxes((tuple(float(r) for r in aspect_ratios),) * maps, min_ratio, max_ratio)
    if keras.config.image_data_format() != "channels_last":
        validation.fail("image_data_format", keras.config.image_data_format(), '"channels_last" for detectors')
    shape = (image_size, image_size, 3)
    if isinstance(backbone, str):
        backbones.check_named(backbone, None, {**(backbone_options or {}), "input_tensor": None})
        inputs = keras.Input(shape, name="images")
        x = inputs
        options = dict(backbone_options or {})
        if normalization == "symmetric":
            x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(x)
            options["include_preprocessing"] = False
        features, stride = backbones.build_backbone(backbone, shape, None, backbone_weights,
                                                    {**options, "input_tensor": x})
    else:
        if normalization != "backbone":
            validation.fail("normalization", normalization, '"backbone" for a given model (its own input)')
        features, stride = backbones.build_backbone(backbone, shape, None, backbone_weights, backbone_options)
        if tuple(features.inputs[0].shape[1:]) != shape:
            validation.fail("backbone", f"input {tuple(features.inputs[0].shape[1:])}", f"a model with input {shape}")
    if stride != 32:
        validation.fail("backbone", backbones.short_name(backbone), f"a backbone of output stride 32 (it has {stride})")
    maps = [features.get_layer(expansion_endpoint(features)).output, features.outputs[0]]
    make = _Layers(keras.layers)
    x = maps[-1]
    for index, filters in enumerate(extra_channels):
        x = make.extra_block(x, filters, f"backbone_extra_{index}")
        maps.append(x)
    per_cell = boxes.boxes_per_cell
    logits = [make.prediction(m, per_cell[k] * num_classes, num_classes, f"head_classification_head_module_list_{k}")
              for k, m in enumerate(maps)]
    regression = [make.prediction(m, per_cell[k] * 4, 4, f"head_regression_head_module_list_{k}")
                  for k, m in enumerate(maps)]
    outputs = {
        "cls_logits": keras.layers.Concatenate(axis=1, dtype="float32", name="cls_logits")(logits),
        "bbox_regression": keras.layers.Concatenate(axis=1, dtype="float32", name="bbox_regression")(regression),
    }
    settings = DetectionSettings((image_size, image_size), tuple(tuple(m.shape[1:3]) for m in maps), boxes, post,
                                 classification_loss, names)
    default = f"ssdlite{image_size}_{backbones.short_name(backbone)}"
    return Detector(inputs=features.inputs[0], outputs=outputs, name=name or default, settings=settings)


def torchvision_layer_name(module):
    """Our layer for a module path of torchvision's ``ssdlite320_mobilenet_v3_large``.

    torchvision splits the backbone at its C4 block's expansion: ``backbone.features.0`` holds
    ``features[:13]`` and block 13's expansion, ``backbone.features.1`` the rest of block 13
    (``.0.{1,2,3}``) and the blocks after it (``.{1,2,3}``).
    """
    parts = module.split(".")
    if parts[:2] == ["backbone", "features"]:
        part, index, rest = parts[2], int(parts[3]), parts[4:]
        if part == "0":
            parts = ["features", str(index)] + rest if index < C4_POSITION else \
                ["features", str(C4_POSITION), "block", "0"] + rest
        elif index == 0:
            parts = ["features", str(C4_POSITION), "block"] + rest
        else:
            parts = ["features", str(C4_POSITION + index)] + rest
    return "_".join(parts)


def load_torchvision_ssdlite_state_dict(model, source):
    """Loads torchvision's ``ssdlite320_mobilenet_v3_large`` state dict into ours (all or nothing).

    Args:
        model: ``kl.create_model("ssdlite320_mobilenet_v3_large")`` with the same ``num_classes``.
        source: A mapping name -> array, or a ``.safetensors`` / ``.pth`` file (read without torch).

    Returns:
        ``model``.

    Raises:
        CheckpointError (a ValueError): a tensor without a home or of the wrong shape, a layer left unfilled.
    """
    from keras_lightnets.models import timm_weights

    return timm_weights.load_state_dict(model, source, layer_name=torchvision_layer_name, head_modules=())


registry.register_family(registry.FamilyEntry(
    f"{__name__}:SSDLite", ("ssdlite", "ssdlite320_mobilenet_v3_large"),
    lambda name: dict(TORCHVISION_CONFIGURATION) if name == "ssdlite320_mobilenet_v3_large" else {},
    lambda name: TORCHVISION_SIZE, exports=("SSDLite",), task="detection",
))
