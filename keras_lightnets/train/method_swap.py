"""Replaces one method of some layers for the duration of a block, then gives the layers theirs back."""

import contextlib
import types

import keras

from keras_lightnets.train.model_factory import find_layers


@contextlib.contextmanager
def swapped_method(layers, name, function):
    """Binds ``function`` as the method ``name`` of each layer inside the block.

    The replacement lives in each layer's instance dictionary, so the layers keep
    their class, configuration, weights and names, and a model saved inside or
    after the block holds stock layers. Functions traced inside the block (e.g. a
    compiled train step) keep the replacement.

    Args:
        layers: The layers to change (list; may be empty).
        name: Method name, e.g. ``"call"``.
        function: ``function(layer, *args, **kwargs)``, bound to each layer.

    Yields:
        Number of layers changed.
    """
    for layer in layers:
        setattr(layer, name, types.MethodType(function, layer))
    try:
        yield len(layers)
    finally:
        for layer in layers:
            delattr(layer, name)


def swapped_tensorflow_kernel(model, predicate, name, function):
    """:func:`swapped_method` on the layers of a model that ``predicate`` accepts, on TensorFlow only.

    Args:
        model: A Keras model (nested models and composite layers included).
        predicate: ``predicate(layer) -> bool``: the layers the replacement serves exactly.
        name: Method name, e.g. ``"call"``.
        function: ``function(layer, *args, **kwargs)``, bound to each layer.

    Returns:
        A context manager; ``with`` yields the number of layers switched (0 when the
        backend is not TensorFlow, where nothing changes).
    """
    layers = find_layers(model, predicate) if keras.backend.backend() == "tensorflow" else []
    return swapped_method(layers, name, function)
