"""The same network in the other Keras: Keras 3 <-> tf_keras, layer by layer, weights by name.

tensorflow-model-optimization only wraps ``tf_keras`` (Keras 2) models. Our
builders emit plain stock layers (Conv2D, DepthwiseConv2D, BatchNormalization,
ReLU, Add, Multiply, ...), which both Keras versions have, so a functional
graph is rebuilt node by node in the other namespace with the same layer
names and configurations, and the weights are copied by layer name. Nested
functional models (e.g. a fine-tuning backbone) are inlined. Activations
tf_keras lacks or defines differently (hard-swish, hard-sigmoid) cross as
the functions of :mod:`keras_lightnets.compress.activations`.
"""

import inspect

import numpy as np

from keras_lightnets import keras_internals
from keras_lightnets.compress import activations, backend
from keras_lightnets.weights import set_layer_weights

# Arguments every layer accepts beyond its own signature.
_BASE_LAYER_ARGS = ("name", "trainable", "dtype")
# Config keys that hold serialized Keras objects, and the module that deserializes them.
_OBJECT_SUFFIXES = {"_initializer": "initializers", "_regularizer": "regularizers", "_constraint": "constraints"}


class Namespace:
    """One Keras implementation: its layers, models and graph internals.

    Args:
        module: The ``keras`` or ``tf_keras`` module.
    """

    def __init__(self, module):
        self.module = module
        self.legacy = module.__name__.startswith("tf_keras")

    def is_model(self, layer):
        """Whether ``layer`` is a functional model of this namespace."""
        return isinstance(layer, self.module.Model)

    def node_call(self, node):
        """(layer, positional args, keyword args) of a graph node."""
        if self.legacy:
            return node.layer, node.call_args, node.call_kwargs
        return node.operation, node.arguments.args, node.arguments.kwargs

    def is_input(self, layer):
        """Whether ``layer`` is an InputLayer."""
        return isinstance(layer, self.module.layers.InputLayer)

    def is_tensor(self, value):
        """Whether ``value`` is a symbolic tensor of this namespace."""
        return hasattr(value, "_keras_history")


def keras3():
    """The Keras 3 namespace."""
    import keras

    return Namespace(keras)


def legacy():
    """The tf_keras namespace (needs the ``compress`` extra)."""
    return Namespace(backend.tf_keras())


def _history_key(tensor):
    layer, node_index, tensor_index = keras_internals.keras_history(tensor)
    return id(layer), node_index, tensor_index


def _accepted_arguments(cls):
    parameters = inspect.signature(cls.__init__).parameters
    return {name for name, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} | set(
        _BASE_LAYER_ARGS
    )


def _dtype_name(dtype):
    """A dtype policy of either Keras, serialized, as its name ("float32", "mixed_float16")."""
    if isinstance(dtype, dict):
        return dtype.get("config", {}).get("name", "float32")
    return getattr(dtype, "name", dtype)


def _translate_object(value, target, kind):
    """A serialized initializer/regularizer/constraint, rebuilt in ``target``'s Keras."""
    if not isinstance(value, dict):
        return value
    module = getattr(target.module, kind)
    cls = module.get(value["class_name"]).__class__
    accepted = set(inspect.signature(cls.__init__).parameters)
    config = {key: item for key, item in value.get("config", {}).items() if key in accepted}
    return module.get({"class_name": value["class_name"], "config": config})


def translate_layer(layer, target):
    """A new, unbuilt layer of the same class and configuration in ``target``.

    Args:
        layer: A stock Keras layer (either Keras).
        target: :class:`Namespace` to create the layer in.

    Returns:
        The new layer.

    Raises:
        ValueError: The layer class does not exist in the target Keras
            (custom layers cannot cross; build the model from stock layers).
    """
    class_name = type(layer).__name__
    cls = getattr(target.module.layers, class_name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(
            f"layer {layer.name!r} of class {class_name} has no {target.module.__name__} equivalent; "
            "compression supports models built from stock layers (every keras_lightnets builder)"
        )
    accepted = _accepted_arguments(cls)
    config = {}
    for key, value in layer.get_config().items():
        if key not in accepted:
            continue
        if key == "dtype":
            value = _dtype_name(value)
        for suffix, kind in _OBJECT_SUFFIXES.items():
            if key.endswith(suffix):
                value = _translate_object(value, target, kind)
        if key == "activation":
            value = activations.translate_activation(value, to_legacy=target.legacy)
        config[key] = value
    if class_name == "BatchNormalization" and isinstance(config.get("axis"), (list, tuple)):
        # tf_keras stores BN's axis as a one-element list; Keras 3 takes an int.
        (config["axis"],) = config["axis"]
    return cls(**config)


def _map_structure(function, structure):
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_structure(function, item) for item in structure)
    if isinstance(structure, dict):
        return {key: _map_structure(function, item) for key, item in structure.items()}
    return function(structure)


def _flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    return [structure]


class _Rebuild:
    """State of one graph rebuild: namespaces, the layers made so far, the optional rewrite."""

    def __init__(self, source, target, rewrite):
        self.source = source
        self.target = target
        self.rewrite = rewrite
        self.chains = {}  # id(source layer) -> [(target layer, weights or None), ...]
        self.rewritten = set()  # names of source layers replaced by a rewrite

    def chain(self, layer):
        """The target layers standing for ``layer`` (created once, so shared layers stay shared)."""
        if id(layer) not in self.chains:
            replacement = self.rewrite(layer) if self.rewrite else None
            if replacement:
                self.rewritten.add(layer.name)
            self.chains[id(layer)] = replacement or [(translate_layer(layer, self.target), None)]
        return self.chains[id(layer)]

    def graph(self, model, tensors):
        """Adds ``model``'s nodes to the graph being built; returns the mapped outputs.

        Args:
            model: Functional model of ``source``.
            tensors: dict history key -> target tensor; holds ``model``'s inputs on entry.
        """
        nodes = keras_internals.nodes_by_depth(model)
        for depth in sorted(nodes, reverse=True):
            for node in nodes[depth]:
                layer, args, kwargs = self.source.node_call(node)
                if self.source.is_input(layer):
                    continue

                def mapped(value):
                    return tensors[_history_key(value)] if self.source.is_tensor(value) else value

                args = _map_structure(mapped, args)
                kwargs = {key: _map_structure(mapped, value) for key, value in kwargs.items() if key != "training"}
                if self.source.is_model(layer):
                    inner = dict(tensors)
                    for inner_input, value in zip(layer.inputs, _flatten(args)):
                        inner[_history_key(inner_input)] = value
                    outputs = self.graph(layer, inner)
                else:
                    chain = self.chain(layer)
                    outputs = chain[0][0](*args, **kwargs)
                    for link, _ in chain[1:]:
                        outputs = link(outputs)
                for source_tensor, value in zip(_flatten(node.outputs), _flatten(outputs)):
                    tensors[_history_key(source_tensor)] = value
        return [tensors[_history_key(output)] for output in model.outputs]


def flat_layers(model, namespace):
    """Every non-model layer of ``model``, nested functional models expanded."""
    found = []
    for layer in model.layers:
        found.extend(flat_layers(layer, namespace) if namespace.is_model(layer) else [layer])
    return found


def copy_weights(source_model, target_model, source, target, skip=()):
    """Copies weights layer by layer, matching layer names.

    Args:
        source_model: Model to read.
        target_model: Model with the same layer names and weight shapes.
        source: :class:`Namespace` of ``source_model``.
        target: :class:`Namespace` of ``target_model``.
        skip: Names of source layers not to copy.

    Raises:
        ValueError: A layer with weights has no twin, or the shapes differ.
    """
    by_name = {layer.name: layer for layer in flat_layers(target_model, target)}
    for layer in flat_layers(source_model, source):
        values = layer.get_weights()
        if not values or layer.name in skip:
            continue
        twin = by_name.get(layer.name)
        if twin is None:
            raise ValueError(f"layer {layer.name!r} has weights but no layer of that name in {target_model.name!r}")
        expected = [np.shape(w) for w in twin.get_weights()]
        if expected != [np.shape(v) for v in values]:
            raise ValueError(f"layer {layer.name!r}: weight shapes {[v.shape for v in values]} vs {expected}")
        set_layer_weights(twin, values)


def convert(model, source, target, rewrite=None):
    """Rebuilds a functional model in the other Keras, with its weights.

    Args:
        model: Functional model of ``source`` made of stock layers.
        source: :class:`Namespace` of ``model``.
        target: :class:`Namespace` to build in.
        rewrite: Optional ``rewrite(layer)`` that replaces some layers by an
            equivalent chain: ``rewrite(layer)`` -> None (translate as is) or a
            list of (target layer, weights to set or None); the chain's layers
            get the weights the rewrite gives, not copies by name.

    Returns:
        A functional model of ``target`` with the same layer names, configurations and weights.

    Raises:
        ValueError: ``model`` is not a functional model, or holds a layer the target lacks.
    """
    if not source.is_model(model) or not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"model must be a functional {source.module.__name__} model (a keras_lightnets builder's output); "
            f"got {type(model).__name__}"
        )
    tensors = {}
    inputs = []
    for model_input in model.inputs:
        layer = keras_internals.keras_history(model_input)[0]
        new_input = target.module.Input(shape=tuple(model_input.shape[1:]), name=layer.name, dtype=model_input.dtype)
        tensors[_history_key(model_input)] = new_input
        inputs.append(new_input)
    rebuild = _Rebuild(source, target, rewrite)
    outputs = rebuild.graph(model, tensors)
    rebuilt = target.module.Model(
        inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0], name=model.name
    )
    copy_weights(model, rebuilt, source, target, skip=rebuild.rewritten)
    for chain in rebuild.chains.values():
        for layer, weights in chain:
            if weights is not None:
                set_layer_weights(layer, weights)
    return rebuilt


def to_tf_keras(model, rewrite=None):
    """A Keras 3 model from our builders, rebuilt as a ``tf_keras`` model with the same weights.

    Args:
        model: Keras 3 functional model.
        rewrite: Optional layer rewrite (see :func:`convert`).
    """
    return convert(model, keras3(), legacy(), rewrite)


def to_keras(model):
    """A ``tf_keras`` model rebuilt as a Keras 3 model with the same weights."""
    return convert(model, legacy(), keras3())
