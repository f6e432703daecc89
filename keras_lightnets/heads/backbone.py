"""A head's backbone: built from a registered name or given as a model, and its feature endpoints.

A head reads two kinds of feature map: the backbone's output (its deepest
features) and, at a shallower stride (8 for LR-ASPP's low branch, 4 for
DeepLabV3+'s decoder), the output of the first block that reaches it (the
strided block: torchvision's ``stage_indices`` for its segmentation models).
Blocks are the ones the builder recorded (:mod:`keras_lightnets.models.blocks`).
"""

import inspect

from keras_lightnets import registry, validation

# torchvision's segmentation backbone (its registry name) and the short form its models are named with.
TORCHVISION_BACKBONE = "mobilenet_v3_large_torchvision"


def short_name(backbone):
    """The backbone's part of a head's model name (torchvision's configuration: ``lraspp_mobilenet_v3_large``)."""
    if not isinstance(backbone, str):
        return backbone.name
    return "mobilenet_v3_large" if backbone == TORCHVISION_BACKBONE else backbone


def build_backbone(backbone, input_shape, output_stride, weights=None, options=None):
    """The backbone model of a head (no classifier, no pooling).

    Args:
        backbone: A registered classification name (``kl.list_models()``)
            whose builder takes ``output_stride``, or a Keras model built by
            a keras_lightnets builder with ``include_top=False``.
        input_shape: (height, width, channels) for a named backbone (None entries allowed).
        output_stride: 8, 16 or 32 for a named backbone (None: its builder's
            default, for builders without the argument too); for a model, None
            or the stride it was built with.
        weights: The named backbone's ``weights`` (None, "imagenet", a file).
        options: More arguments of a named backbone's builder (``input_tensor``,
            ``include_preprocessing``, ``reduced_tail``...).

    Returns:
        (backbone model, its output stride).

    Raises:
        LightnetsError: an unknown name, a backbone without ``output_stride``,
            a model with a classifier or not built by our builders, a stride it does not have.
    """
    import keras

    if isinstance(backbone, str):
        arguments = check_named(backbone, output_stride, options)
        model = registry.create_model(backbone, include_top=False, input_shape=input_shape, weights=weights, **arguments)
        if output_stride is None:
            from keras_lightnets.features import layer_strides

            output_stride = layer_strides(model)[model.layers[-1].name]
        return model, output_stride
    if not isinstance(backbone, keras.Model):
        validation.fail("backbone", backbone, "a registered model name or a keras.Model")
    if weights is not None:
        validation.fail("backbone_weights", weights, "None when the backbone is a model (it has its weights)")
    if options:
        validation.fail("backbone_options", options, "None when the backbone is a model (it is built)")
    if len(backbone.outputs) != 1 or len(backbone.outputs[0].shape) != 4:
        validation.fail("backbone", backbone.name, "a model with one 4D feature-map output (include_top=False, pooling=None)")
    from keras_lightnets.models import blocks

    if not blocks.block_ends(backbone):
        validation.fail("backbone", backbone.name, "a model built by a keras_lightnets builder (its blocks are recorded)")
    from keras_lightnets.features import layer_strides

    strides = layer_strides(backbone)
    stride = strides[backbone.layers[-1].name]
    if output_stride is not None and output_stride != stride:
        validation.fail("output_stride", output_stride, f"None or {stride}, the stride of the given backbone "
                                                        "(build it with output_stride= to change it)")
    return backbone, stride


def check_given(backbone):
    """Refuses a head built without a backbone (the generic registry names need ``backbone=``)."""
    if backbone is None:
        validation.fail("backbone", None, 'a registered classification name (e.g. backbone="mobilenet_v2") or a '
                                          "model built by a keras_lightnets builder")


def check_named(backbone, output_stride=None, options=None):
    """Refuses a named backbone that cannot be built as asked (before any layer is made).

    Returns:
        The builder arguments beyond include_top/input_shape/weights (``options`` plus ``output_stride``).
    """
    entry = registry.family_of(backbone)
    if entry.task != "classification":
        validation.fail("backbone", backbone, "a classification backbone's name (not a head's)")
    builder, fixed = registry.builder_of(backbone)
    parameters = inspect.signature(builder).parameters
    if options is not None and not isinstance(options, dict):
        validation.fail("backbone_options", options, "None or a dict of the backbone builder's arguments")
    arguments = dict(options or {})
    if output_stride is not None:
        if "output_stride" not in parameters:
            validation.fail("backbone", backbone, "a backbone whose builder takes output_stride (MobileNetV2/V3/V4, "
                                                  "EfficientNet, EfficientNet-Lite, TorchvisionMobileNetV3Large)")
        arguments["output_stride"] = output_stride
    unknown = sorted(set(arguments) - set(parameters))
    if unknown:
        validation.fail("backbone_options", unknown, f"arguments of {builder.__name__} ({', '.join(parameters)})")
    return arguments


def block_endpoint(model, stride, argument):
    """The name of the first recorded block output of ``model`` at ``stride`` (the stage's strided block).

    Args:
        model: A backbone built by a keras_lightnets builder.
        stride: The wanted output stride (power of two).
        argument: The head's argument that asks for it (named in the error).

    Raises:
        LightnetsError: no block of ``model`` outputs that stride.
    """
    from keras_lightnets.features import layer_strides
    from keras_lightnets.models import blocks

    strides = layer_strides(model)
    found = [name for name in blocks.block_ends(model) if strides.get(name) == stride]
    if not found:
        have = sorted({strides[name] for name in blocks.block_ends(model) if name in strides})
        validation.fail(argument, stride, f"a stride at which {model.name!r} has a block output ({have})")
    return found[0]


def low_features(model, output_stride, low_stride):
    """The output tensor of ``model``'s block at ``low_stride`` (a head's low-level branch).

    Raises:
        LightnetsError: ``low_stride`` is not below the backbone's ``output_stride``, or no block outputs it.
    """
    if low_stride >= output_stride:
        validation.fail("low_stride", low_stride, f"a stride below the backbone's output stride {output_stride}")
    return model.get_layer(block_endpoint(model, low_stride, "low_stride")).output

