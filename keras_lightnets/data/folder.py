"""Image folders: ``<root>/<class_name>/<image>`` (or ``<root>/train/...`` + ``<root>/test/...``)."""

import os

from keras_lightnets.data.errors import DatasetNotFoundError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
TEST_SPLIT_NAMES = ("test", "val", "validation")
LAYOUT = (
    "Expected layout: <root>/<class_name>/<image>.jpg|.png|.bmp|.gif with at least two class "
    "folders, or <root>/train/<class_name>/... plus <root>/test/<class_name>/... "
    "(val/ or validation/ also work for the held-out split)."
)


# The first bytes of each format the loader decodes (JPEG, PNG, GIF, BMP).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def _check_images(folder):
    """Raises naming the first file of a class folder that is not an image (hidden non-image files are skipped;
    the loader reads every file with an image extension, hidden or not)."""
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        is_image_name = name.lower().endswith(IMAGE_EXTENSIONS)
        if os.path.isdir(path) or (name.startswith(".") and not is_image_name):  # .DS_Store and the like
            continue
        if not is_image_name:
            raise DatasetNotFoundError(f"{path} is not an image: class folders may hold only "
                                       f"{'/'.join(IMAGE_EXTENSIONS)} files (move it out, or hide it with a leading '.'). {LAYOUT}")
        with open(path, "rb") as file:
            head = file.read(8)
        if not head.startswith(_SIGNATURES):
            raise DatasetNotFoundError(f"{path} is not a JPEG, PNG, GIF or BMP image (its first bytes are {head!r}): "
                                       f"damaged or misnamed. {LAYOUT}")


def _class_dirs(root):
    """Class folder names of ``root``, sorted; each must hold images and nothing else (but hidden files).

    Raises:
        DatasetNotFoundError: naming an empty class folder, or a file that is not an image.
    """
    names = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith(".") or entry.name in TEST_SPLIT_NAMES + ("train",):
            continue
        if not any(name.lower().endswith(IMAGE_EXTENSIONS) for name in os.listdir(entry.path)):
            raise DatasetNotFoundError(f"Class folder {entry.path!r} has no images: every class needs some. {LAYOUT}")
        _check_images(entry.path)
        names.append(entry.name)
    return names


def check_layout(root):
    """Checks an image folder's layout.

    Args:
        root: Folder path.

    Returns:
        (train_dir, test_dir or None, class_names).

    Raises:
        DatasetNotFoundError: if ``root`` is missing or does not have the layout (the message shows it).
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise DatasetNotFoundError(f"Image folder {root!r} does not exist. {LAYOUT}")
    test_dir = next((os.path.join(root, n) for n in TEST_SPLIT_NAMES if os.path.isdir(os.path.join(root, n))), None)
    train_dir = os.path.join(root, "train") if test_dir and os.path.isdir(os.path.join(root, "train")) else root
    classes = _class_dirs(train_dir)
    if len(classes) < 2:
        raise DatasetNotFoundError(
            f"Image folder {train_dir!r} has {len(classes)} class folder(s) with images ({classes}). {LAYOUT}"
        )
    if test_dir and train_dir != root:
        test_classes = _class_dirs(test_dir)
        if not set(test_classes) <= set(classes):
            raise DatasetNotFoundError(
                f"Image folder {test_dir!r} has classes {sorted(set(test_classes) - set(classes))} that "
                f"{train_dir!r} lacks. {LAYOUT}"
            )
    else:
        test_dir = None
    return train_dir, test_dir, classes


def load_image_folder(root, image_size, channels=3, test_fraction=0.2, seed=0):
    """Loads an image folder as unbatched (image, label) datasets.

    Args:
        root: Folder in the layout :data:`LAYOUT` describes.
        image_size: Height and width every image is resized to (int >= 8).
        channels: 1 (grayscale) or 3 (RGB).
        test_fraction: Share held out when there is no test folder (0 < f < 1).
        seed: Seed of the hold-out split (int).

    Returns:
        (train dataset, test dataset, class names, train size, test size).
    """
    import keras
    import tensorflow as tf

    train_dir, test_dir, classes = check_layout(root)
    common = dict(
        labels="inferred", label_mode="int", batch_size=None,
        image_size=(image_size, image_size), color_mode="grayscale" if channels == 1 else "rgb",
        seed=seed, verbose=False,
    )
    if test_dir:
        train = keras.utils.image_dataset_from_directory(train_dir, shuffle=True, class_names=classes, **common)
        test_classes = _class_dirs(test_dir)
        # The test folder may lack some classes: its labels are mapped to the train folder's indices.
        to_train_index = tf.constant([classes.index(name) for name in test_classes], tf.int32)
        test = keras.utils.image_dataset_from_directory(test_dir, shuffle=False, class_names=test_classes, **common)
        test = test.map(lambda image, label: (image, tf.gather(to_train_index, label)))
    else:
        train, test = keras.utils.image_dataset_from_directory(
            train_dir, shuffle=True, validation_split=test_fraction, subset="both", class_names=classes, **common
        )
    sizes = [int(ds.cardinality()) for ds in (train, test)]
    if tf.executing_eagerly() and min(sizes) < 1:
        raise DatasetNotFoundError(f"Image folder {root!r}: a split is empty (train {sizes[0]}, test {sizes[1]} images). {LAYOUT}")
    return train, test, tuple(classes), sizes[0], sizes[1]
