"""The model a training run builds: a registry name at the data's resolution and class count."""

import inspect

import keras

from keras_lightnets import keras_internals, registry, validation


def find_layers(model, predicate):
    """Every layer inside a model or layer that ``predicate`` accepts, nested ones included.

    Args:
        model: A Keras model or layer.
        predicate: ``predicate(layer) -> bool``.

    Returns:
        List of layers, in the order Keras tracks them (graph order for functional models).
    """
    return [layer for layer in keras_internals.flatten_layers(model) if predicate(layer)]


def is_batch_norm(layer):
    """Whether a layer is a ``BatchNormalization`` layer (subclasses included).

    Args:
        layer: Any Keras layer.

    Returns:
        bool.
    """
    return isinstance(layer, keras.layers.BatchNormalization)


def batch_norm_layers(model):
    """Every ``BatchNormalization`` layer of a model, those in nested models and composite layers included.

    Args:
        model: A Keras model or layer.

    Returns:
        List of layers, in the order :func:`find_layers` gives.
    """
    return find_layers(model, is_batch_norm)


def set_batch_norm(model, **attributes):
    """Sets attributes of every BatchNormalization layer (nested models and composite layers included), before training.

    Args:
        model: A Keras model or layer.
        **attributes: e.g. ``momentum=0.9`` (0 < m < 1), or ``synchronized=True`` (batch
            statistics all-reduced across replicas, so every worker's moving averages agree).
    """
    for layer in batch_norm_layers(model):
        for name, value in attributes.items():
            setattr(layer, name, value)


def build_model(config, num_classes, channels):
    """Builds the classifier a :class:`~keras_lightnets.train.config.TrainConfig` describes.

    Args:
        config: Validated ``TrainConfig``.
        num_classes: Classes of the dataset (int >= 2).
        channels: Input channels of the data (1 or 3).

    Returns:
        A ``keras.Model`` taking raw [0, 255] images of ``config.image_size``.
    """
    kwargs = {"input_shape": (config.image_size, config.image_size, channels), "classes": num_classes, "weights": None}
    entry = registry.family_of(config.model)
    if config.dropout is not None:
        # keras.applications' MobileNetV3 calls it dropout_rate; every other builder dropout.
        parameters = inspect.signature(entry.load_builder()).parameters
        kwargs["dropout" if "dropout" in parameters else "dropout_rate"] = config.dropout
    fixed = entry.fixed(config.model)
    if config.alpha is not None:
        if "alpha" not in entry.options or "alpha" in fixed:
            validation.fail("alpha", config.alpha, f"None for {config.model!r} (only bare mobilenet_v1/mobilenet_v2 names take an alpha)")
        kwargs["alpha"] = config.alpha
    if config.convolutions != "separable":
        if "convolutions" not in entry.options:
            validation.fail("convolutions", config.convolutions,
                            f"'separable' for {config.model!r} (MobileNetV1 and Xception have a standard twin)")
        kwargs["convolutions"] = config.convolutions
    if config.drop_connect_rate is not None:
        if "drop_connect_rate" not in entry.options:
            validation.fail("drop_connect_rate", config.drop_connect_rate, f"None for {config.model!r} (EfficientNet only)")
        kwargs["drop_connect_rate"] = config.drop_connect_rate
    model = registry.create_model(config.model, **kwargs)
    if config.bn_momentum is not None:
        set_batch_norm(model, momentum=config.bn_momentum)
    return model
