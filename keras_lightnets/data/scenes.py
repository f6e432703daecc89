"""Segmentation scenes composed from Fashion-MNIST's real items: offline data with real image content.

Each scene is a canvas with 2-4 Fashion-MNIST items (real photographs of
clothing, 28x28 grayscale) pasted at random scales (0.8-2.2x) and positions
over a dim textured background. A pixel's class is its item's class + 1 where
the item's own pixel is lit (value >= ``ITEM_THRESHOLD``), else the class of what lies
beneath (0: background); a later item covers an earlier one. Images are RGB
(the gray scene tinted per item, so color carries no class). Training scenes
use only Fashion-MNIST's training items, test scenes only its test items;
a fixed seed makes both the same on every machine.
"""

import numpy as np

from keras_lightnets.data import fashion_mnist
from keras_lightnets.validation import check_number

CLASS_NAMES = ("background",) + fashion_mnist.CLASS_NAMES
ITEM_THRESHOLD = 40  # an item's pixel belongs to it from this gray value up (its own silhouette)
ITEMS_PER_SCENE = (2, 4)
SCALES = (0.8, 2.2)
TRAIN_SCENES = 6000
TEST_SCENES = 1000
TEST_SEED_OFFSET = 10_000  # test scenes draw from another stream than training scenes


def compose(items, item_labels, count, size, seed):
    """``count`` scenes of ``size`` x ``size`` from ``items``.

    Args:
        items: uint8 (N, 28, 28) or (N, 28, 28, 1) grayscale items.
        item_labels: int (N,) their classes (0-based).
        count: Scenes to make (int >= 1).
        size: Canvas side in pixels (int >= 32).
        seed: Seed of the composition (int).

    Returns:
        (images uint8 (count, size, size, 3), masks uint8 (count, size, size)), mask class = item class + 1.
    """
    images, masks, _ = compose_with_objects(items, item_labels, count, size, seed)
    return images, masks


def compose_with_objects(items, item_labels, count, size, seed):
    """:func:`compose`'s scenes with their objects (the same scenes for the same arguments).

    Returns:
        (images, masks, objects): ``objects[i]`` lists scene i's items in paste order as
        (label = item class + 1, x1, y1, x2, y2, visible): the extent of the item's own lit
        pixels in pixels (x2, y2 exclusive) and the fraction of them no later item covers.
    """
    check_number("count", count, minimum=1, integer=True)
    check_number("size", size, minimum=32, integer=True)
    from PIL import Image

    items = np.asarray(items).reshape(len(items), 28, 28)
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.uint8)
    masks = np.zeros((count, size, size), np.uint8)
    objects = []
    for index in range(count):
        canvas = rng.normal(24, 8, (size, size)).clip(0, 60)  # dim texture: the background is not flat black
        tint = np.ones((size, size, 3))
        owner = np.full((size, size), -1, np.int32)
        pasted = []
        for number in range(rng.integers(ITEMS_PER_SCENE[0], ITEMS_PER_SCENE[1] + 1)):
            pick = rng.integers(len(items))
            side = int(np.clip(round(28 * rng.uniform(*SCALES)), 8, size))
            item = np.asarray(Image.fromarray(items[pick]).resize((side, side), Image.BILINEAR), np.float32)
            top, left = rng.integers(0, size - side + 1, size=2)
            lit = item >= ITEM_THRESHOLD
            window = (slice(top, top + side), slice(left, left + side))
            canvas[window][lit] = item[lit]
            masks[index][window][lit] = item_labels[pick] + 1
            owner[window][lit] = number
            tint[window][lit] = rng.uniform(0.6, 1.0, 3)
            rows, cols = np.nonzero(lit)
            if len(rows):
                pasted.append((number, int(item_labels[pick]) + 1, left + cols.min(), top + rows.min(),
                               left + cols.max() + 1, top + rows.max() + 1, int(lit.sum())))
        images[index] = np.clip(canvas[..., None] * tint, 0, 255).astype(np.uint8)
        objects.append([(label, int(x1), int(y1), int(x2), int(y2), float((owner == number).sum() / lit_count))
                        for number, label, x1, y1, x2, y2, lit_count in pasted])
    return images, masks, objects


def load_fashion_scenes(data_dir=None, size=96, train_count=TRAIN_SCENES, test_count=TEST_SCENES, seed=0):
    """The Fashion-MNIST scenes: (x_train, m_train), (x_test, m_test) with 11 classes (``CLASS_NAMES``).

    Args:
        data_dir: Fashion-MNIST's IDX folder (None: Debian's ``dataset-fashion-mnist``).
        size: Canvas side (int >= 32).
        train_count: Training scenes, from Fashion-MNIST's training items (int >= 1).
        test_count: Held-out scenes, from its test items (int >= 1).
        seed: Composition seed (the held-out scenes use ``seed + 10000``).

    Returns:
        Two (images uint8 (N, size, size, 3), masks uint8 (N, size, size)) tuples.

    Raises:
        DatasetNotFoundError: Fashion-MNIST is not installed (the message says how to get it).
    """
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_fashion_mnist(data_dir)
    return (compose(x_train, y_train, train_count, size, seed),
            compose(x_test, y_test, test_count, size, seed + TEST_SEED_OFFSET))
