"""Datasets and the input pipeline: embedded digits, Fashion-MNIST, tfds, image folders."""

from keras_lightnets.lazy import attach as _attach

_ATTRIBUTES = {
    "AUGMENT_POLICIES": "keras_lightnets.data.augment:POLICIES",
    "DatasetNotFoundError": "keras_lightnets.data.errors",
    "ImageData": "keras_lightnets.data.sources",
    "imagenet_labels": "keras_lightnets.data.imagenet",
    "imagenet_top_classes": "keras_lightnets.data.imagenet:top_classes",
    "check_batch_size": "keras_lightnets.data.pipeline",
    "load_dataset": "keras_lightnets.data.sources",
    "load_digits": "keras_lightnets.data.digits",
    "load_fashion_mnist": "keras_lightnets.data.fashion_mnist",
    "make_augmenter": "keras_lightnets.data.augment",
    "make_batches": "keras_lightnets.data.pipeline",
}

__getattr__, __dir__, __all__ = _attach(__name__, _ATTRIBUTES)
