"""Detection data: images with boxes, and the Fashion-MNIST detection scenes.

A detection set is a :class:`DetectionData`: uint8 images (N, S, S, 3), boxes
(N, G, 4) as normalized (x1, y1, x2, y2) and labels (N, G) with 1..K the
classes and 0 a padding row (G = the most objects of any image). The scenes
are :mod:`keras_lightnets.data.scenes`' (real Fashion-MNIST items on a
textured canvas; training scenes from training items, held-out scenes from
test items, fixed seeds); an item's box is the extent of its own lit pixels,
and items that later ones cover by more than half are left out of the ground
truth (their pixels stay in the image).
"""

import dataclasses

import numpy as np

from keras_lightnets import validation
from keras_lightnets.data import fashion_mnist, scenes

CLASS_NAMES = fashion_mnist.CLASS_NAMES
MIN_VISIBLE = 0.5
TRAIN_SCENES = 6000
TEST_SCENES = 1000


@dataclasses.dataclass
class DetectionData:
    """Images with their boxes.

    Attributes:
        images: uint8 (N, S, S, 3).
        boxes: float32 (N, G, 4), normalized (x1, y1, x2, y2).
        labels: int32 (N, G), 1..K; 0 = no object in this row.
        names: Optional file names (for messages and reports).
    """

    images: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    names: tuple = ()

    def __len__(self):
        return len(self.images)

    def take(self, count):
        """The first ``count`` images."""
        return DetectionData(self.images[:count], self.boxes[:count], self.labels[:count], tuple(self.names[:count]))


def pack(images, objects, names=()):
    """A :class:`DetectionData` from images and per-image lists of (label, x1, y1, x2, y2) normalized boxes."""
    width = max(1, max((len(found) for found in objects), default=1))
    boxes = np.zeros((len(images), width, 4), np.float32)
    labels = np.zeros((len(images), width), np.int32)
    for index, found in enumerate(objects):
        for row, (label, *box) in enumerate(found):
            boxes[index, row] = box
            labels[index, row] = label
    return DetectionData(np.asarray(images, np.uint8), boxes, labels, tuple(names))


def check(data, num_classes, argument):
    """Refuses boxes outside [0, 1] or with max < min, or labels the model has no class for (before any step)."""
    if not isinstance(data, DetectionData):
        validation.fail(argument, type(data).__name__, "a keras_lightnets.data.detection.DetectionData")
    if data.images.ndim != 4 or data.images.shape[-1] != 3 or data.boxes.shape[:2] != data.labels.shape \
            or len(data.boxes) != len(data.images) or data.boxes.shape[-1] != 4:
        validation.fail(argument, f"images {data.images.shape}, boxes {data.boxes.shape}, labels {data.labels.shape}",
                        "images (N, S, S, 3), boxes (N, G, 4), labels (N, G)")
    real = data.labels > 0
    boxes = data.boxes[real]
    where = np.argwhere(real)
    bad = np.flatnonzero((boxes < 0).any(1) | (boxes > 1).any(1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if len(bad):
        image, row = where[bad[0]]
        name = data.names[image] if data.names else f"image {image}"
        validation.fail(argument, f"box {data.boxes[image, row].tolist()} of {name}",
                        "normalized (x1, y1, x2, y2) inside [0, 1] with x2 > x1 and y2 > y1")
    if (data.labels < 0).any() or (data.labels >= num_classes).any():
        image = int(np.argwhere((data.labels < 0) | (data.labels >= num_classes))[0][0])
        name = data.names[image] if data.names else f"image {image}"
        validation.fail(argument, f"class {int(data.labels[image].max())} in {name}",
                        f"classes 1..{num_classes - 1} (num_classes={num_classes}, 0 is the background)")
    return data


def scene_objects(objects, size, min_visible=MIN_VISIBLE):
    """Per scene, its ground truth: (label, normalized box) of each item at least ``min_visible`` uncovered."""
    return [[(label, x1 / size, y1 / size, x2 / size, y2 / size)
             for label, x1, y1, x2, y2, visible in found if visible >= min_visible] for found in objects]


def load_detection_scenes(data_dir=None, size=128, train_count=TRAIN_SCENES, test_count=TEST_SCENES, seed=0):
    """Fashion-MNIST detection scenes: (train, test) :class:`DetectionData`, classes 1..10 (``CLASS_NAMES``).

    Args:
        data_dir: Fashion-MNIST's IDX folder (None: Debian's ``dataset-fashion-mnist``).
        size: Canvas side (int >= 32).
        train_count: Training scenes, from Fashion-MNIST's training items (int >= 1).
        test_count: Held-out scenes, from its test items (int >= 1).
        seed: Composition seed (the held-out scenes use ``seed + 10000``).

    Raises:
        DatasetNotFoundError: Fashion-MNIST is not installed (the message says how to get it).
    """
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_fashion_mnist(data_dir)
    result = []
    for items, labels, count, offset in ((x_train, y_train, train_count, 0), (x_test, y_test, test_count, scenes.TEST_SEED_OFFSET)):
        images, _, objects = scenes.compose_with_objects(items, labels, count, size, seed + offset)
        result.append(pack(images, scene_objects(objects, size)))
    return tuple(result)
