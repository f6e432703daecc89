"""Segmentation data in folders: ``<root>/images/<name>.jpg|.png`` with ``<root>/masks/<name>.png``.

The layout most labelling tools export: every image has a same-named PNG
mask (any image extension; the mask's stem matches) whose pixel values are
class ids (single-channel, or RGB with equal channels). ``<root>/train/`` and
``<root>/test/`` (or ``val/``) with that layout each give a split. Every
image and mask is checked before anything trains: a missing mask, a mask
whose size differs from its image or a class id >= ``num_classes`` is a
:class:`~keras_lightnets.errors.LightnetsError` naming the file.
"""

import os

import numpy as np

from keras_lightnets import validation
from keras_lightnets.data.folder import IMAGE_EXTENSIONS

LAYOUT = ("Expected layout: <root>/images/<name>.jpg|.png plus <root>/masks/<name>.png (class id per pixel), "
          "or <root>/train/... and <root>/test/... each with that layout")
IGNORE_INDEX = 255  # a mask value that marks pixels no loss or metric counts (unlabelled borders)


def largest_unknown_class(masks, num_classes):
    """The largest class id in ``masks`` that is neither below ``num_classes`` nor ``IGNORE_INDEX``, or None."""
    bad = masks[(masks >= num_classes) & (masks != IGNORE_INDEX)]
    return int(bad.max()) if bad.size else None


def _pairs(root):
    images_dir, masks_dir = os.path.join(root, "images"), os.path.join(root, "masks")
    if not os.path.isdir(images_dir) or not os.path.isdir(masks_dir):
        validation.fail("data_dir", root, LAYOUT)
    pairs = []
    for name in sorted(os.listdir(images_dir)):
        if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
            continue
        mask = os.path.join(masks_dir, os.path.splitext(name)[0] + ".png")
        if not os.path.isfile(mask):
            validation.fail("data_dir", os.path.join(images_dir, name), f"an image with its mask {mask} ({LAYOUT})")
        pairs.append((os.path.join(images_dir, name), mask))
    if not pairs:
        validation.fail("data_dir", root, f"a folder with at least one image ({LAYOUT})")
    return pairs


def _read(path, mode):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert(mode))


def _mask(path):
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image)
    if array.ndim == 3:
        if not (array[..., :1] == array[..., :3]).all():
            validation.fail("mask", path, "a single-channel PNG of class ids (or RGB with equal channels)")
        array = array[..., 0]
    return array


def load_split(root, num_classes, size=None):
    """Every (image, mask) of one folder split, checked.

    Args:
        root: A folder with ``images/`` and ``masks/``.
        num_classes: Classes (int >= 2); mask values must be below it or ``IGNORE_INDEX``.
        size: Resize to (size, size) (int, bilinear images, nearest masks), or None to keep
            the files' size (then every image must have the same size).

    Returns:
        (images uint8 (N, H, W, 3), masks uint8 (N, H, W)).
    """
    validation.check_number("num_classes", num_classes, minimum=2, maximum=IGNORE_INDEX, integer=True)
    images, masks = [], []
    for image_path, mask_path in _pairs(os.fspath(root)):
        image, mask = _read(image_path, "RGB"), _mask(mask_path)
        if image.shape[:2] != mask.shape:
            validation.fail("mask", mask_path, f"the size of its image {image_path} ({image.shape[1]}x{image.shape[0]}), "
                                               f"not {mask.shape[1]}x{mask.shape[0]}")
        bad = largest_unknown_class(mask, num_classes)
        if bad is not None:
            validation.fail("mask", mask_path, f"class ids below num_classes={num_classes} (or {IGNORE_INDEX} to ignore "
                                               f"a pixel); it holds {bad}")
        if size is not None:
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
            mask = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST))
        images.append(image)
        masks.append(mask)
    if len({image.shape for image in images}) > 1:
        validation.fail("size", size, "an int: the images of this folder differ in size")
    return np.stack(images), np.stack(masks)


def load_mask_folder(root, num_classes, size=None):
    """(train, test) splits of a mask folder: ``train/`` + ``test/`` (or ``val/``), or one folder for both.

    Returns:
        ((images, masks), (images, masks) or None when the folder has no held-out split).
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        validation.fail("data_dir", root, f"an existing folder ({LAYOUT})")
    held_out = next((os.path.join(root, name) for name in ("test", "val") if os.path.isdir(os.path.join(root, name))), None)
    if held_out is None:
        return load_split(root, num_classes, size), None
    return load_split(os.path.join(root, "train"), num_classes, size), load_split(held_out, num_classes, size)
