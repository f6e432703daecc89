"""Fashion-MNIST (60,000 + 10,000 real 28x28 grayscale images, 10 classes) from its original IDX files.

Debian's ``dataset-fashion-mnist`` package installs them under
``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``);
any directory holding the four files (plain or ``.gz``) works.
"""

import os

import numpy as np

from keras_lightnets.data.errors import DatasetNotFoundError

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HOW_TO_GET = (
    "Install Debian's package (`apt-get install dataset-fashion-mnist`, files land in "
    f"{DEFAULT_DIR}) or put the four original IDX files (train-images-idx3-ubyte[.gz], "
    "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) "
    "in a directory and pass it as data_dir."
)


def _find(directory, stem):
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise DatasetNotFoundError(f"Fashion-MNIST: {stem}[.gz] is not in {directory}. {HOW_TO_GET}")


def load_fashion_mnist(data_dir=None):
    """Loads Fashion-MNIST as (x_train, y_train), (x_test, y_test).

    Args:
        data_dir: Directory with the IDX files; None means ``DEFAULT_DIR``.

    Returns:
        Two (images uint8 (N, 28, 28, 1), labels int32 (N,)) tuples.

    Raises:
        DatasetNotFoundError: if a file is missing (the message says how to install it).
    """
    from keras_lightnets.data.idx import read_idx

    directory = os.fspath(data_dir) if data_dir is not None else DEFAULT_DIR
    splits = []
    for split in ("train", "test"):
        image_stem, label_stem = _FILES[split]
        images = read_idx(_find(directory, image_stem))
        labels = read_idx(_find(directory, label_stem)).astype(np.int32)
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError(f"Fashion-MNIST {split} files in {directory} disagree: images {images.shape}, labels {labels.shape}.")
        splits.append((images[..., None], labels))
    return tuple(splits)
