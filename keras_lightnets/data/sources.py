"""Every dataset by one name: embedded digits, Fashion-MNIST IDX files, tfds datasets, image folders.

Names:
    "digits": scikit-learn's 1,797 real handwritten digits (ships with scikit-learn; offline).
    "fashion_mnist": the original IDX files (Debian's ``dataset-fashion-mnist`` or ``data_dir``),
        else tfds' prepared ``fashion_mnist`` in ``data_dir``.
    "folder:<path>" or an existing directory: an image folder (see :mod:`keras_lightnets.data.folder`).
    "tfds:<name>" or any other name: a prepared tensorflow-datasets dataset (``tf_flowers``,
        ``imagenette``, ``cifar10``, ``imagenet2012``...).
"""

import dataclasses
import os
from typing import Any, Tuple

from keras_lightnets import validation
from keras_lightnets.data.errors import DatasetNotFoundError

EMBEDDED = ("digits", "fashion_mnist")


@dataclasses.dataclass
class ImageData:
    """A dataset ready for :func:`keras_lightnets.data.pipeline.make_batches`.

    Attributes:
        name: The name it was loaded by.
        train: Unbatched ``tf.data.Dataset`` of (image, integer label).
        test: Same, held-out split.
        class_names: Tuple of class names (index = label).
        train_size: Training examples.
        test_size: Held-out examples.
        channels: Image channels (1 or 3).
    """

    name: str
    train: Any
    test: Any
    class_names: Tuple[str, ...]
    train_size: int
    test_size: int
    channels: int

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)


def _from_arrays(name, train, test, class_names):
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = train, test
    return ImageData(
        name, tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        tf.data.Dataset.from_tensor_slices((x_test, y_test)), tuple(class_names),
        len(x_train), len(x_test), x_train.shape[-1],
    )


def _fashion_mnist(data_dir):
    from keras_lightnets.data import fashion_mnist

    try:
        arrays = fashion_mnist.load_fashion_mnist(data_dir)
    except DatasetNotFoundError as idx_error:
        try:
            return _tfds("fashion_mnist", data_dir, 0.2)
        except (DatasetNotFoundError, ImportError) as tfds_error:
            raise DatasetNotFoundError(f"{idx_error} Also tried tfds: {tfds_error}") from None
    return _from_arrays("fashion_mnist", *arrays, fashion_mnist.CLASS_NAMES)


def _tfds(name, data_dir, test_fraction):
    from keras_lightnets.data.tfds_source import load_tfds

    train, test, names, train_size, test_size, channels = load_tfds(name, data_dir, test_fraction)
    return ImageData(name, train, test, names, train_size, test_size, channels)


def _match_channels(data, channels):
    import tensorflow as tf

    if channels is None or channels == data.channels:
        return data
    convert = tf.image.grayscale_to_rgb if channels == 3 else tf.image.rgb_to_grayscale
    mapped = {split: getattr(data, split).map(lambda x, y: (convert(x), y)) for split in ("train", "test")}
    return dataclasses.replace(data, channels=channels, **mapped)


def load_dataset(name, data_dir=None, image_size=32, channels=None, test_fraction=0.2, seed=0):
    """Loads a dataset by name (see the module docstring for the names).

    Nothing is downloaded: a missing dataset raises :class:`DatasetNotFoundError`
    whose message says how to prepare it.

    Args:
        name: Dataset name or ``folder:<path>`` / ``tfds:<name>``.
        data_dir: Where the files are (Fashion-MNIST IDX directory or tfds data_dir); None for defaults.
        image_size: Resolution the model takes; digits and image folders are resized to it at load (int >= 8).
        channels: 1, 3, or None for the dataset's own.
        test_fraction: Share held out for datasets without a test split (0 < f < 1).
        seed: Seed of any hold-out split (int).

    Returns:
        :class:`ImageData`.
    """
    if not isinstance(name, str) or not name:
        validation.fail("dataset", name, f"one of {EMBEDDED}, 'folder:<path>', an image folder path, or a tfds name")
    validation.check_number("image_size", image_size, minimum=8, integer=True)
    validation.check_choice("channels", channels, [None, 1, 3])
    validation.check_number("test_fraction", test_fraction, minimum=0.0, maximum=0.99, exclusive_minimum=True)
    if name == "digits":
        from keras_lightnets.data.digits import load_digits

        data = _from_arrays(name, *load_digits(image_size, 1, test_fraction, seed), [str(d) for d in range(10)])
    elif name == "fashion_mnist":
        data = _fashion_mnist(data_dir)
    elif name.startswith("folder:") or os.path.isdir(name):
        from keras_lightnets.data.folder import load_image_folder

        root = name[len("folder:"):] if name.startswith("folder:") else name
        train, test, names, train_size, test_size = load_image_folder(root, image_size, channels or 3, test_fraction, seed)
        data = ImageData(name, train, test, names, train_size, test_size, channels or 3)
    else:
        data = _tfds(name[len("tfds:"):] if name.startswith("tfds:") else name, data_dir, test_fraction)
    return _match_channels(data, channels)
