"""scikit-learn's 1,797 real 8x8 handwritten digits, as images a convolutional network can take.

Ships inside scikit-learn, so it works offline. Pixels (0..16) are scaled to
[0, 255] and upscaled with bilinear interpolation.
"""

import numpy as np

from keras_lightnets import validation
from keras_lightnets.errors import MissingExtraError

CLASSES = 10


def load_digits(image_size=32, channels=1, test_fraction=0.2, seed=0):
    """Loads the digits as (x_train, y_train), (x_test, y_test).

    Args:
        image_size: Output height and width in pixels (int >= 8).
        channels: 1 (grayscale) or 3 (replicated to RGB).
        test_fraction: Share of images held out, stratified per class (0 < f < 1).
        seed: Shuffling seed (int).

    Returns:
        Two (images float32 (N, S, S, C) in [0, 255], labels int32 (N,)) tuples.
    """
    validation.check_number("image_size", image_size, minimum=8, integer=True)
    validation.check_choice("channels", channels, [1, 3])
    validation.check_number("test_fraction", test_fraction, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise MissingExtraError("The digits dataset ships with scikit-learn: pip install scikit-learn") from None
    import tensorflow as tf

    digits = sklearn_digits()
    images = digits.images.astype(np.float32)[..., None] * (255.0 / 16.0)
    images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
    images = np.clip(images, 0.0, 255.0)
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    labels = digits.target.astype(np.int32)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for label in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == label))
        test[members[: int(round(len(members) * test_fraction))]] = True
    train_order = rng.permutation(np.flatnonzero(~test))
    return (images[train_order], labels[train_order]), (images[test], labels[test])
