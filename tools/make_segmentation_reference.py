"""Writes tests/data/segmentation_reference.npz: torchvision's LR-ASPP, DeepLabV3 and MobileNetV3-Large outputs.

Run once in a side environment (never a dependency of keras_lightnets). On x86_64 the
torchvision wheel that imports beside a CPU torch is 0.29.1 with torch 2.14.1:

    python3 -m venv /tmp/tvref && /tmp/tvref/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        numpy scikit-image
    /tmp/tvref/bin/python tools/make_segmentation_reference.py

For each model (``lraspp_mobilenet_v3_large`` and ``deeplabv3_mobilenet_v3_large``, 21 classes,
no auxiliary head, eval mode) every floating tensor of the state dict comes from
``synthetic_tensor`` of tools/make_mobilenet_v4_reference.py (a function of the tensor's name
and shape only, so a test rebuilds the same weights without torch); the two inputs are that
tool's ``reference_inputs`` (chelsea's center crop and seeded noise) normalized with ImageNet's
mean and standard deviation, as torchvision's weights expect. Name-derived weights alone
lose the signal in DeepLabV3's deep head (its logits did not depend on the input), so the
batch norms' running statistics are then measured in one training-mode pass (cumulative
average, dropout off) over a calibration batch (``calibration_inputs``: the two reference
images and six seeded noise images at 64 px) and stored too. Stored per model: the state
dict's keys and shapes, the running statistics, and the logits (``out``, N x 21 x H x W) at an
even and an odd input size. The classifier ``mobilenet_v3_large`` (1000 classes) is stored the
same way, its logits (N x 1000) under ``mobilenet_v3_large_{size}_logits``. Printed: each
model's parameter count and its multiply-adds at 520 x 520 (the classifier: 224 x 224;
``torch.utils.flop_counter.FlopCounterMode`` / 2), the reference counts of the tests.
"""

import importlib.util
import os
import sys

import numpy as np

OUTPUT = "tests/data/segmentation_reference.npz"
MODELS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "mobilenet_v3_large")
SIZES = (48, 51)
MEAN = np.array((0.485, 0.456, 0.406), np.float32)
STD = np.array((0.229, 0.224, 0.225), np.float32)


def _v4_tool():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_mobilenet_v4_reference.py")
    spec = importlib.util.spec_from_file_location("mobilenet_v4_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calibration_inputs(tool):
    """The batch the running statistics are measured on: the reference images and 6 noise images, 64 px, uint8."""
    noise = np.random.default_rng(7).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    return np.concatenate([tool.reference_inputs(64), noise])


def _normalized(torch, images):
    images = images.astype(np.float32) / 255.0
    return torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2).copy())


def _measure_running_statistics(torch, model, images):
    """Running mean and variance of every batch norm from one training-mode pass (cumulative, dropout off)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.eval()
    with torch.no_grad():
        model(images)
    model.eval()


def main():
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision import models
    from torchvision.models import segmentation

    tool = _v4_tool()
    stored = {}
    for name in MODELS:
        if name == "mobilenet_v3_large":
            model = models.mobilenet_v3_large(weights=None).eval()
        else:
            model = getattr(segmentation, name)(weights=None, weights_backbone=None, num_classes=21).eval()
        state = model.state_dict()
        weights = {key: torch.from_numpy(tool.synthetic_tensor(key, tuple(value.shape)))
                   for key, value in state.items() if value.dtype.is_floating_point}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing), (missing, unexpected)
        _measure_running_statistics(torch, model, _normalized(torch, calibration_inputs(tool)))
        for key, value in model.state_dict().items():
            if key.endswith(("running_mean", "running_var")):
                stored[f"{name}_statistics_{key}"] = value.numpy().astype(np.float32)
        stored[f"{name}_keys"] = np.array(list(weights))
        stored[f"{name}_shapes"] = np.array([",".join(map(str, value.shape)) for value in weights.values()])
        for size in SIZES:
            x = _normalized(torch, tool.reference_inputs(size))
            with torch.no_grad():
                out = model(x)
                logits = (out if name == "mobilenet_v3_large" else out["out"]).numpy().astype(np.float32)
            stored[f"{name}_{size}_logits"] = logits
            print(f"{name} at {size}: logits {logits.shape}, std {logits.std():.3f}, "
                  f"inputs differ by {np.abs(logits[0] - logits[1]).max():.3f}", file=sys.stderr)
        params = sum(p.numel() for p in model.parameters())
        counter = FlopCounterMode(display=False)
        size = 224 if name == "mobilenet_v3_large" else 520
        with counter, torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        print(f"{name}: {params:,} parameters, {counter.get_total_flops() / 2 / 1e9:.4f} G multiply-adds at {size}x{size}",
              file=sys.stderr)
    np.savez_compressed(OUTPUT, **stored)


if __name__ == "__main__":
    main()
