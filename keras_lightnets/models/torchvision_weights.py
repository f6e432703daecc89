"""torchvision state dicts -> our torchvision-convention models (MobileNetV3-Large and its segmentation heads).

Our layers carry torchvision's module paths with dots as underscores
(``features.4.block.2.fc1`` -> ``features_4_block_2_fc1``). A segmentation
model's backbone (torchvision's ``backbone.N``, the classifier's
``features.N``) is ours ``features_N``; its heads keep torchvision's paths
(``classifier.cbr.0`` -> ``classifier_cbr_0``). The classifier's last linear
layer is our ``logits`` 1x1 convolution. All or nothing, as for timm's files
(:mod:`keras_lightnets.models.timm_weights`).
"""

from keras_lightnets.models import timm_weights

# torchvision module -> our layer, where the name is not the module path.
RENAMED = {"classifier.3": "logits"}
# The classifier's modules: skipped when the model has none (include_top=False).
HEAD_MODULES = ("classifier.0", "classifier.3")


def layer_name(module):
    """Our layer name for torchvision's module path (``backbone.4.block.2.fc1`` -> ``features_4_block_2_fc1``)."""
    if module in RENAMED:
        return RENAMED[module]
    if module.startswith("backbone."):
        module = "features." + module[len("backbone."):]
    return module.replace(".", "_")


def load_torchvision_state_dict(model, source):
    """Loads a torchvision state dict into a model built in torchvision's conventions (all or nothing).

    Args:
        model: ``kl.TorchvisionMobileNetV3Large(...)`` (same width and class
            count), or ``kl.LRASPP`` / ``kl.DeepLabV3`` on it.
        source: A mapping name -> array, or a ``.safetensors`` / ``.pth`` file
            (read without torch, the ``.pth`` with an allow-list unpickler).

    Returns:
        ``model``.

    Raises:
        CheckpointError (a ValueError): a tensor without a home or of the wrong
            shape, a layer left unfilled, an unreadable file.
    """
    return timm_weights.load_state_dict(model, source, layer_name=layer_name, head_modules=HEAD_MODULES)
