"""Every private Keras attribute the library touches, one small function each, with why no public API serves.

Nothing else in the package reads or writes an underscored Keras attribute.
``tests/test_keras_internals.py`` pins each one on the installed Keras (and
tf_keras, for the two the compression bridge also reads on tf_keras models):
a release that renames or reshapes one fails there, naming the attribute,
instead of deep inside a build, a profile or a training run.
``pyproject.toml`` states the Keras range these were checked on.
"""

import contextlib

# The private attributes below, for the test that pins them (name -> what uses it).
ATTRIBUTES = {
    "Layer._flatten_layers": "sublayers of models and composite layers: find_layers (batch norms, kernels to swap)",
    "Layer._outbound_nodes": "the layers a layer feeds: the profiler pairs a depthwise with its pointwise",
    "KerasTensor._keras_history": "the (layer, node, tensor) that made a symbolic tensor: the compression bridge",
    "Functional._nodes_by_depth": "a functional model's nodes in dependency order: the compression bridge",
    "Model._distribute_strategy": "the strategy a model was built under: multi-worker fit",
    "Layer._trainable_weights": "the weights a tfmot QuantizeWrapper trains: quantization-aware training keeps frozen layers frozen",
}


def flatten_layers(model):
    """Every sublayer of ``model`` (nested models and composite layers included), in tracking order.

    ``Model.layers`` lists only the top level and composite layers hide theirs;
    ``_flatten_layers`` is the walk Keras itself uses for weights and training flags.
    """
    return list(model._flatten_layers(include_self=False, recursive=True))


def outbound_operations(layer):
    """The operations (layers) that consume ``layer``'s outputs in the graphs it was called in.

    The functional API exposes inbound nodes only through serialized configs; the
    live graph's consumers are ``_outbound_nodes``.
    """
    return [node.operation for node in layer._outbound_nodes]


def keras_history(tensor):
    """``(layer, node_index, tensor_index)`` of a symbolic tensor (Keras 3 or tf_keras).

    Identifies one tensor of a functional graph while a model is rebuilt layer by
    layer; no public API names a symbolic tensor's producer.
    """
    layer, node_index, tensor_index = tensor._keras_history
    return layer, node_index, tensor_index


def nodes_by_depth(model):
    """``{depth: [nodes]}`` of a functional model (Keras 3 or tf_keras); the largest depth is nearest the inputs.

    The order in which a functional model itself runs its layers; rebuilding a
    model for another Keras (the tfmot bridge) needs each node's call arguments in
    that order, which the public API does not give.
    """
    return model._nodes_by_depth


def freeze_wrapped_weights(wrapper):
    """Moves the weights of a frozen layer inside a tfmot ``QuantizeWrapper`` from its trainable to its non-trainable list.

    tfmot's wrapper appends every weight it quantizes to its own
    ``_trainable_weights`` whatever the wrapped layer's ``trainable``
    (tfmot 0.8.1 ``QuantizeWrapper.build``), so quantization-aware training
    would train a frozen layer and the constants of our int8 rewrites (the
    preprocessing scale: gradients of inputs up to 255 moved it by 10% a step).
    No public tf_keras API takes a weight out of a layer's trainable list.

    Returns:
        Number of weights moved.
    """
    # Call only for a wrapper whose layer is frozen: everything it lists as trainable is that layer's
    # (the quantized kernels are no longer among the layer's own weights once wrapped).
    moved = list(wrapper._trainable_weights)
    del wrapper._trainable_weights[:]
    wrapper._non_trainable_weights.extend(moved)
    return len(moved)


@contextlib.contextmanager
def forgotten_distribute_strategy(model):
    """Inside the block the model has no recorded ``tf.distribute`` strategy; afterwards it has its own again.

    Keras' ``fit`` reduces the first batch with the strategy a model was built
    under, which MultiWorkerMirroredStrategy rejects for a tuple
    (keras-team/keras#20585); without a recorded strategy fit reads the one of
    the enclosing scope instead. There is no public setter.
    """
    had = "_distribute_strategy" in vars(model)
    saved = getattr(model, "_distribute_strategy", None)
    model._distribute_strategy = None
    try:
        yield model
    finally:
        if had:
            model._distribute_strategy = saved
        else:
            del model._distribute_strategy
