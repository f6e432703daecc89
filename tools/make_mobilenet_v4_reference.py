"""Writes tests/data/mobilenet_v4_reference.npz: timm's MobileNetV4 logits with weights anyone can rebuild.

Run once in a side environment (never a dependency of keras_lightnets):

    python3 -m venv /tmp/reference && /tmp/reference/bin/pip install "torch==2.13.0+cpu" timm==1.0.31 \
        scikit-image numpy
    /tmp/reference/bin/python tools/make_mobilenet_v4_reference.py

timm imports torchvision; where only the CPU torch wheel installs, a
placeholder ``torchvision`` package that returns inert modules is enough
(timm's MobileNetV4 uses none of it).

For each case (variant, resolution): timm's ``mobilenetv4_conv_{variant}``
(1000 classes, eval mode) gets every tensor of its state dict from
:func:`synthetic_tensor` (a function of the tensor's name and shape only,
numpy's ``sin``: no RNG stream, so the test rebuilds the same weights without
torch), then runs two inputs: the center crop of scikit-image's ``chelsea``
and seeded uint8 noise, normalized with ImageNet's mean/std as timm's configs
say. Stored per case: the state dict's keys and shapes (what our converter
must place) and the 1000 logits of each input. Cases with an output stride
build timm's feature extractor (``features_only=True, output_stride=``: strided
stages past it at stride 1, dilated as timm's builder does) and store the first
``FEATURE_CHANNELS`` channels of its last feature map, N x C x H x W
(``{variant}_{size}_os{stride}_features``).
"""

import sys
import zlib

import numpy as np

# (variant, resolution, output stride): None is the published network; 16 and 8 are timm's
# ``output_stride=`` (strided stages past it at stride 1, dilated as timm's builder does).
CASES = (("small", 96, None), ("small", 97, None), ("medium", 64, None), ("large", 64, None),
         ("small", 64, 16), ("small", 65, 8), ("medium", 65, 8))
# Channels of the last feature map stored for the output-stride cases (the file stays small).
FEATURE_CHANNELS = 64
OUTPUT = "tests/data/mobilenet_v4_reference.npz"
MEAN = np.array((0.485, 0.456, 0.406), np.float32)
STD = np.array((0.229, 0.224, 0.225), np.float32)


def synthetic_tensor(key, shape):
    """A deterministic float32 tensor for state-dict entry ``key``: weights scaled by fan-in, BN near identity.

    Args:
        key: The state-dict name (its last field picks the distribution).
        shape: The torch shape.

    Returns:
        np.ndarray float32 of ``shape``.
    """
    seed = zlib.crc32(key.encode("utf-8"))
    count = int(np.prod(shape, dtype=np.int64))
    steps = np.arange(count, dtype=np.float64) * (1.0 + (seed % 9973) / 9973.0) + (seed % 6151) / 97.0
    uniform = np.mod(np.sin(steps * 12.9898) * 43758.5453, 1.0)  # in [0, 1)
    field = key.rpartition(".")[2]
    if field in ("running_var", "weight") and len(shape) == 1:  # BN variance and gamma
        values = 0.5 + uniform
    elif field in ("bias", "running_mean"):
        values = (uniform - 0.5) * 0.2
    else:  # conv / linear kernels, torch layout (out, in/groups, kh, kw) or (out, in)
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        values = (uniform * 2.0 - 1.0) * np.sqrt(3.0 / fan_in)
    return values.reshape(shape).astype(np.float32)


def reference_inputs(size):
    """The two uint8 (size, size, 3) images: chelsea's center crop and seeded noise (the test rebuilds them)."""
    from skimage import data

    photo = data.chelsea()
    top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
    noise = np.random.default_rng(2024).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return np.stack([photo[top:top + size, left:left + size], noise])


def main():
    import timm
    import torch

    stored = {}
    for variant, size, output_stride in CASES:
        extra = {} if output_stride is None else {"output_stride": output_stride, "features_only": True}
        model = timm.create_model(f"mobilenetv4_conv_{variant}", pretrained=False, **extra).eval()
        state = model.state_dict()
        weights = {key: torch.from_numpy(synthetic_tensor(key, tuple(value.shape)))
                   for key, value in state.items() if value.dtype.is_floating_point}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing), (missing, unexpected)
        images = reference_inputs(size).astype(np.float32) / 255.0
        x = torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            outputs = model(x)
        if output_stride is None:
            case, kind, logits = f"{variant}_{size}", "logits", outputs.numpy().astype(np.float32)
        else:
            case, kind = f"{variant}_{size}_os{output_stride}", "features"
            logits = outputs[-1][:, :FEATURE_CHANNELS].numpy().astype(np.float32)
        stored[f"{case}_keys"] = np.array(list(weights))
        stored[f"{case}_shapes"] = np.array([",".join(map(str, value.shape)) for value in weights.values()])
        stored[f"{case}_{kind}"] = logits
        params = sum(p.numel() for p in model.parameters())
        print(f"{case}: {len(weights)} tensors, {params:,} parameters, {kind} {logits.shape} std {logits.std():.3f}, "
              f"inputs differ by {np.abs(logits[0] - logits[1]).max():.3f}", file=sys.stderr)
    np.savez_compressed(OUTPUT, **stored)


if __name__ == "__main__":
    main()
