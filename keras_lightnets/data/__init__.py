"""Datasets and the input pipeline: embedded digits, Fashion-MNIST, tfds, image folders."""

from keras_lightnets.data.augment import POLICIES as AUGMENT_POLICIES
from keras_lightnets.data.augment import make_augmenter
from keras_lightnets.data.digits import load_digits
from keras_lightnets.data.errors import DatasetNotFoundError
from keras_lightnets.data.fashion_mnist import load_fashion_mnist
from keras_lightnets.data.pipeline import check_batch_size, make_batches
from keras_lightnets.data.sources import ImageData, load_dataset

__all__ = [
    "AUGMENT_POLICIES", "DatasetNotFoundError", "ImageData", "check_batch_size", "load_dataset",
    "load_digits", "load_fashion_mnist", "make_augmenter", "make_batches",
]
