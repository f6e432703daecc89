"""The build path every family shares: validate, input, preprocessing, body, head, weights.

A family module provides its :class:`~keras_lightnets.models.spec.Conventions`,
validates its own arguments, and passes a ``body(ctx, x) -> x`` function
(from :func:`keras_lightnets.models.builder.body`) to :func:`build`.
"""

import dataclasses
import warnings
from typing import Any, Callable, Optional

import keras
import numpy as np

from keras_lightnets import validation, weights as weights_lib
from keras_lightnets.layers.context import BuildContext
from keras_lightnets.models import blocks, inputs as inputs_lib

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass
class CommonArgs:
    """The arguments every builder shares with its keras.applications twin."""

    include_top: bool = True
    weights: Any = None
    input_tensor: Any = None
    input_shape: Any = None
    pooling: Optional[str] = None
    classes: int = 1000
    classifier_activation: Any = "softmax"
    name: Optional[str] = None
    include_preprocessing: bool = True


def validate_common(args, family):
    """Validates the shared arguments and resolves the input shape.

    Args:
        args: :class:`CommonArgs`.
        family: :class:`~keras_lightnets.models.spec.Conventions`.

    Returns:
        The resolved input shape (3-tuple).
    """
    validation.check_head(args.include_top, args.pooling, args.classes)
    validation.check_weights(args.weights)
    validation.check_choice("include_preprocessing", args.include_preprocessing, [True, False])
    if args.weights == "imagenet" and args.include_top:
        if args.classes != 1000:
            validation.fail("classes", args.classes, '1000 when weights="imagenet" and include_top=True')
        if args.classifier_activation not in (None, "softmax"):
            validation.fail(
                "classifier_activation", args.classifier_activation,
                'None or "softmax" when weights="imagenet" and include_top=True',
            )
    return inputs_lib.resolve_input_shape(
        args.input_shape, args.input_tensor, family.default_size, family.min_size,
        args.include_top, args.weights, keras.config.image_data_format(),
    )


def _rescale(scale, offset=0.0):
    return lambda ctx, x: ctx.layers.Rescaling(scale, offset=offset, name="rescaling")(x)


def _imagenet(ctx, x):
    """/255 then ImageNet mean/std held as weights (set after the build: :func:`set_imagenet_statistics`)."""
    x = ctx.layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
    return ctx.layers.Normalization(axis=ctx.channel_axis, name="normalization")(x)


def _imagenet_constant(ctx, x):
    """/255 then ImageNet mean/std as constants, not weights (EfficientNetV2's parameter count)."""
    x = ctx.layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
    if ctx.channels(x) != len(IMAGENET_MEAN):  # ImageNet's statistics are RGB's: other inputs stay in [0, 1]
        return x
    variance = [std**2 for std in IMAGENET_STD]
    return ctx.layers.Normalization(axis=ctx.channel_axis, mean=list(IMAGENET_MEAN), variance=variance, name="normalization")(x)


# Conventions.preprocessing -> the layers that map [0, 255] pixels to what the network was trained on.
PREPROCESSING = {
    "symmetric": _rescale(1.0 / 127.5, -1.0),
    "symmetric_128": _rescale(1.0 / 128.0, -1.0),
    "lite": _rescale(1.0 / 128.0, -127.0 / 128.0),  # (x - 127) / 128, EfficientNet-Lite's
    "imagenet": _imagenet,
    "imagenet_constant": _imagenet_constant,
}


def _preprocess(ctx, x, mode):
    return validation.lookup("Conventions.preprocessing", mode, PREPROCESSING)(ctx, x)


def set_imagenet_statistics(model, ctx):
    """Sets the "normalization" layer (if any) to ImageNet mean/std.

    Only 3-channel inputs get ImageNet statistics; other channel counts keep
    the identity (mean 0, variance 1), i.e. plain [0, 1] rescaling.
    """
    try:
        layer = model.get_layer("normalization")
    except ValueError:
        return
    if not layer.get_weights():  # statistics given as constants
        return
    mean, variance, count = layer.get_weights()
    if mean.shape == (3,):
        layer.set_weights([np.array(IMAGENET_MEAN, "float32"), np.square(IMAGENET_STD).astype("float32"), count])
    layer.finalize_state()


def _head_dtype():
    """float32 for the classifier under a mixed-precision policy (stable softmax and loss), else the policy."""
    policy = keras.config.dtype_policy()
    return "float32" if policy.compute_dtype != policy.variable_dtype else None


def _conv_classifier(ctx, x, family, args, dropout, hidden):
    """MobileNetV1: GAP -> Dropout -> 1x1 conv -> Reshape."""
    x = ctx.global_pool("avg", name="avg_pool", keepdims=True)(x)
    x = ctx.layers.Dropout(dropout, name="dropout")(x)
    x = ctx.conv(args.classes, 1, "conv_preds", use_bias=True)(x)
    x = ctx.layers.Reshape((args.classes,), name="reshape_2")(x)
    return ctx.layers.Activation(args.classifier_activation, name="predictions", dtype=_head_dtype())(x)


def _conv_mlp_classifier(ctx, x, family, args, dropout, hidden):
    """MobileNetV3: GAP -> 1x1 conv + act -> Dropout -> 1x1 conv -> Flatten."""
    filters, activation = hidden
    name = family.classifier_hidden.names[0]
    x = ctx.global_pool("avg", name="avg_pool", keepdims=True)(x)
    x = ctx.conv(filters, 1, name, use_bias=True)(x)
    x = ctx.activation(activation, f"{name}_activation")(x)
    if dropout > 0:
        x = ctx.layers.Dropout(dropout, name="dropout")(x)
    x = ctx.conv(args.classes, 1, "logits", use_bias=True)(x)
    x = ctx.layers.Flatten(name="flatten")(x)
    return ctx.layers.Activation(args.classifier_activation, name="predictions", dtype=_head_dtype())(x)


def _dense(ctx, x, args, dropout):
    if dropout > 0:
        x = ctx.layers.Dropout(dropout, name="top_dropout")(x)
    return ctx.layers.Dense(
        args.classes, activation=args.classifier_activation,
        kernel_initializer=ctx.dense_initializer, name="predictions", dtype=_head_dtype(),
    )(x)


def _dense_classifier(ctx, x, family, args, dropout, hidden):
    """GAP -> [Dropout] -> Dense (keras.applications' EfficientNet, MobileNetV2, Xception)."""
    return _dense(ctx, ctx.global_pool("avg", name="avg_pool")(x), args, dropout)


def _conv_bn_dense_classifier(ctx, x, family, args, dropout, hidden):
    """MobileNetV4: GAP -> 1x1 conv -> BN -> act -> Flatten -> [Dropout] -> Dense."""
    filters, activation = hidden
    conv_name, bn_name, act_name = family.classifier_hidden.names
    x = ctx.global_pool("avg", name="avg_pool", keepdims=True)(x)
    x = ctx.conv(filters, 1, conv_name)(x)
    x = ctx.batch_norm(bn_name)(x)
    x = ctx.activation(activation, act_name)(x)
    return _dense(ctx, ctx.layers.Flatten(name="flatten")(x), args, dropout)


# Conventions.classifier -> the layers after the last stage (with include_top).
CLASSIFIERS = {
    "dense": _dense_classifier,
    "conv": _conv_classifier,
    "conv_mlp": _conv_mlp_classifier,
    "conv_bn_dense": _conv_bn_dense_classifier,
}


def _head(ctx, x, family, args, dropout, hidden):
    if not args.include_top:
        if args.pooling is not None:
            x = ctx.global_pool(args.pooling, name=f"{args.pooling}_pool")(x)
        return x
    classifier = validation.lookup("Conventions.classifier", family.classifier, CLASSIFIERS)
    return classifier(ctx, x, family, args, dropout, hidden)


def build(family, args, input_shape, body: Callable, default_name, dropout=0.0, imagenet=None, convolutions="separable",
          hidden=None):
    """Builds, names and loads weights into one model.

    Args:
        family: :class:`~keras_lightnets.models.spec.Conventions` of the model.
        args: Validated :class:`CommonArgs`.
        input_shape: Resolved input shape from :func:`validate_common`.
        body: ``body(ctx, x) -> x`` that adds the family's feature extractor.
        default_name: Model name used when ``args.name`` is None.
        dropout: Dropout rate before the classifier, in [0, 1).
        imagenet: :class:`keras_lightnets.weights.WeightSource` describing the
            published file; required when ``args.weights == "imagenet"``
            (its availability was checked before this call).
        convolutions: "separable", or "standard" to build every separable
            pair as one full convolution (see :class:`BuildContext`).

    Returns:
        A functional ``keras.Model``.
    """
    ctx = BuildContext(
        bn_epsilon=family.bn_epsilon, bn_momentum=family.bn_momentum, conv_initializer=family.conv_initializer,
        dense_initializer=family.dense_initializer, convolutions=convolutions,
    )
    model_inputs, x = inputs_lib.make_input(input_shape, args.input_tensor)
    if args.include_preprocessing:
        x = _preprocess(ctx, x, family.preprocessing)
    x = body(ctx, x)
    x = _head(ctx, x, family, args, dropout, hidden)
    model = keras.Model(model_inputs, x, name=args.name or default_name)
    blocks.record(model, ctx.block_outputs)
    if args.include_preprocessing:
        set_imagenet_statistics(model, ctx)
    if args.weights == "imagenet":
        weights_lib.load_imagenet(model, imagenet)
    elif args.weights is not None:
        weights_lib.load_file(model, args.weights)
    return model


def published_resolution(alpha, alphas, rows, cols, sizes, include_top, input_shape, fallback=224):
    """Checks that ImageNet weights exist for a MobileNet width/resolution; returns the file's resolution.

    Classifiers need an exact published (alpha, size). Feature extractors at
    another size get the ``fallback`` file with a warning, as keras.applications does.

    Args:
        alpha: Width multiplier asked for.
        alphas: Published width multipliers.
        rows: Input height (int or None).
        cols: Input width (int or None).
        sizes: Published square resolutions.
        include_top: Whether the classifier is attached.
        input_shape: The resolved input shape (for the error message).
        fallback: Resolution loaded for feature extractors at other sizes.

    Returns:
        int: the resolution of the file to load.
    """
    if alpha not in alphas:
        validation.fail("alpha", alpha, f'one of {alphas} when weights="imagenet"')
    if rows == cols and rows in sizes:
        return rows
    if include_top:
        validation.fail("input_shape", input_shape, f'square with size in {sizes} when weights="imagenet"')
    warnings.warn(
        f"No published ImageNet file for input_shape={input_shape} (published sizes: {sizes}); "
        f"loading the {fallback}x{fallback} file, as keras.applications does.",
        stacklevel=6,  # the caller of the public builder (builder -> Family.build -> _imagenet -> source -> here)
    )
    return fallback

