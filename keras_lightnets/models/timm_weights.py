"""timm state dicts -> our MobileNetV4 (and any model whose layers carry timm's module paths).

Our MobileNetV4 names each layer after timm's module path with dots as
underscores (``blocks.2.0.dw_start.conv`` -> ``blocks_2_0_dw_start_conv``;
timm's ``classifier`` is our ``predictions``), so every tensor's home follows
from its name. Layouts convert explicitly (:mod:`keras_lightnets.models.torch_layout`);
nothing is written until every tensor is placed and every weight of the
model has a value.
"""

import os

from keras_lightnets.checkpoint_fields import CheckpointError
from keras_lightnets.models import torch_layout

# timm module -> our layer, where the name is not the module path.
RENAMED = {"classifier": "predictions"}
HEAD_MODULES = ("conv_head", "norm_head", "classifier")


def layer_name(module):
    """Our layer name for timm's module path (``blocks.2.0.pw_exp.conv`` -> ``blocks_2_0_pw_exp_conv``)."""
    return RENAMED.get(module, module.replace(".", "_"))


def read_state_dict(source):
    """A state dict from a mapping, a ``.safetensors`` file or a ``.pth``/``.pt``/``.bin`` file (read without torch)."""
    if hasattr(source, "items"):
        return dict(source.items())
    path = os.fspath(source)
    if path.endswith(".safetensors"):
        from keras_lightnets import safetensors_reader

        return safetensors_reader.load_state_dict(path)
    from keras_lightnets import pth

    return pth.load_state_dict(path)


def convert_state_dict(state, model, source="state dict", layer_name=layer_name, head_modules=HEAD_MODULES):
    """Every tensor of a timm state dict placed into ``model``'s layers (not yet written).

    Args:
        state: name -> array (torch layouts).
        model: A model whose layers carry timm's module paths (``kl.MobileNetV4``).
            Without a classifier, the state dict's head (``conv_head``,
            ``norm_head``, ``classifier``) is skipped.
        source: What ``state`` came from (for messages).
        layer_name: ``layer_name(module path) -> our layer name`` (timm's by default).
        head_modules: The classifier's modules, skipped when the model has no ``predictions`` layer.

    Returns:
        dict layer name -> list of arrays in ``layer.get_weights()`` order.

    Raises:
        CheckpointError: a tensor has no home or the wrong shape, or a layer stays unfilled.
    """
    names = {layer.name: layer for layer in model.layers}
    has_head = "predictions" in names
    grouped = {}
    for key, value in state.items():
        module, _, field = key.rpartition(".")
        if field == "num_batches_tracked" or (module in head_modules and not has_head):
            continue
        name = layer_name(module)
        if name not in names or torch_layout.kind_of(names[name]) is None:
            raise CheckpointError(f"{source}: tensor {key!r} {tuple(value.shape)} has no home in {model.name}")
        grouped.setdefault(name, {})[field] = value
    placed = {}
    for name, layer in names.items():
        kind = torch_layout.kind_of(layer)
        if kind is None or not layer.weights:
            continue
        if name not in grouped:
            raise CheckpointError(f"{source}: no tensor for layer {name!r}; the state dict is not {model.name}'s")
        use_bias = kind in ("conv", "depthwise") and layer.use_bias
        arrays, missing = torch_layout.to_keras(kind, grouped[name], use_bias)
        if missing:
            raise CheckpointError(f"{source}: {name}.{missing} is missing; layer {name!r} would stay unfilled")
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(a.shape) for a in arrays]
        if got != expected:
            raise CheckpointError(
                f"{source}: tensors of {name!r} have shapes {got} after layout conversion, the layer needs {expected}: "
                f"the state dict is another variant's (or another width or class count)")
        placed[name] = arrays
    return placed


def load_timm_state_dict(model, source):
    """Loads a timm ``mobilenetv4_conv_*`` state dict into ``model`` (all or nothing).

    Args:
        model: ``kl.MobileNetV4(variant, ...)`` of the same variant, width and class count.
        source: A mapping name -> array, or a ``.safetensors`` / ``.pth`` file
            (read without torch, the ``.pth`` with an allow-list unpickler).

    Returns:
        ``model``.

    Raises:
        CheckpointError (a ValueError): see :func:`convert_state_dict`, and unreadable files.
    """
    return load_state_dict(model, source)


def load_state_dict(model, source, layer_name=layer_name, head_modules=HEAD_MODULES):
    """Loads a PyTorch state dict into ``model`` by module path (all or nothing): :func:`convert_state_dict`, then written.

    Args:
        model: A model whose layers carry the state dict's module paths.
        source: A mapping name -> array, or a ``.safetensors`` / ``.pth`` file.
        layer_name: ``layer_name(module path) -> our layer name``.
        head_modules: The classifier's modules, skipped when the model has no ``predictions`` layer.

    Returns:
        ``model``.
    """
    label = source if isinstance(source, (str, os.PathLike)) else "state dict"
    placed = convert_state_dict(read_state_dict(source), model, label, layer_name=layer_name, head_modules=head_modules)
    for name, arrays in placed.items():
        model.get_layer(name).set_weights(arrays)
    return model

