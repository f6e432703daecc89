"""Detection data in folders with COCO-format annotations: what labelling tools export.

``<root>/train/`` and ``<root>/test/`` (or ``val/``), each with its images and an
``annotations.json`` in COCO's object-detection format: ``images`` (``id``,
``file_name`` relative to the split folder, ``width``, ``height``),
``annotations`` (``image_id``, ``category_id``, ``bbox`` = [x, y, width, height]
in pixels) and ``categories`` (``id``, ``name``). A category id is the class
label (torchvision's convention: COCO's own ids 1..90 with ``num_classes=91``),
so ids must lie in 1..num_classes - 1. Everything is checked before anything
trains, each problem a :class:`~keras_lightnets.errors.LightnetsError` naming
the file: a missing image, a ``file_name`` leading outside the split folder, a
box outside its image or with no area, an unknown image or category id, a
declared size that is not the file's.
"""

import json
import os

import numpy as np

from keras_lightnets import validation
from keras_lightnets.data.detection import pack

ANNOTATIONS = "annotations.json"
LAYOUT = ("Expected layout: <root>/train/ and <root>/test/ (or val/), each with its images and annotations.json "
          "in COCO's detection format (images, annotations with bbox [x, y, w, h] in pixels, categories)")


def _read_json(path):
    if not os.path.isfile(path):
        validation.fail("data_dir", os.path.dirname(path), LAYOUT)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        validation.fail("annotations", path, f"a readable COCO JSON file ({error})")
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in ("images", "annotations")):
        validation.fail("annotations", path, 'a JSON object with "images" and "annotations" lists')
    return data


def _image_path(split, entry, annotations):
    name = entry.get("file_name")
    if not isinstance(name, str) or not name or os.path.isabs(name):
        validation.fail("file_name", name, f"a path relative to {split} (in {annotations})")
    path = os.path.realpath(os.path.join(split, name))
    if os.path.commonpath([path, os.path.realpath(split)]) != os.path.realpath(split):
        validation.fail("file_name", name, f"a file inside {split} (in {annotations})")
    if not os.path.isfile(path):
        validation.fail("file_name", name, f"an image that exists ({path} does not; listed in {annotations})")
    return path


def category_names(root, num_classes):
    """Names of classes 1..num_classes - 1 from the train split's ``categories`` ("class_{id}" where none)."""
    data = _read_json(os.path.join(os.fspath(root), "train", ANNOTATIONS))
    names = {entry.get("id"): str(entry.get("name")) for entry in data.get("categories", []) if isinstance(entry, dict)}
    return [names.get(index, f"class_{index}") for index in range(1, num_classes)]


def load_split(split, num_classes, size):
    """One split folder: :class:`~keras_lightnets.data.detection.DetectionData` resized to ``size`` x ``size``."""
    from PIL import Image

    annotations = os.path.join(split, ANNOTATIONS)
    data = _read_json(annotations)
    entries = {}
    for entry in data["images"]:
        if not isinstance(entry, dict) or "id" not in entry:
            validation.fail("images", entry, f"entries with an id and a file_name (in {annotations})")
        entries[entry["id"]] = entry
    objects = {image_id: [] for image_id in entries}
    for note in data["annotations"]:
        image_id, label, box = note.get("image_id"), note.get("category_id"), note.get("bbox")
        if image_id not in entries:
            validation.fail("image_id", image_id, f"an id of the images list (in {annotations})")
        name = entries[image_id].get("file_name")
        if isinstance(label, bool) or not isinstance(label, int) or not 1 <= label < num_classes:
            validation.fail("category_id", f"{label} (an object of {name})",
                            f"1..{num_classes - 1} (num_classes={num_classes}, 0 is the background)")
        if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
            validation.fail("bbox", box, f"[x, y, width, height] in pixels (an object of {name})")
        objects[image_id].append((label, box))
    images, packed, names = [], [], []
    for image_id, entry in entries.items():
        path = _image_path(split, entry, annotations)
        with Image.open(path) as opened:
            image = opened.convert("RGB")
            width, height = image.size
            for key, actual in (("width", width), ("height", height)):
                if key in entry and entry[key] != actual:
                    validation.fail(key, f"{entry[key]} for {entry['file_name']}", f"the file's own {key} {actual}")
            images.append(np.asarray(image.resize((size, size), Image.BILINEAR)))
        found = []
        for label, (x, y, w, h) in objects[image_id]:
            if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
                validation.fail("bbox", f"{[x, y, w, h]} of {entry['file_name']}",
                                f"a box with width and height > 0 inside the {width}x{height} image")
            found.append((label, x / width, y / height, (x + w) / width, (y + h) / height))
        packed.append(found)
        names.append(entry["file_name"])
    if not images:
        validation.fail("images", split, f"a split with at least one image (in {annotations})")
    return pack(np.stack(images), packed, names)


def load_coco_folder(root, num_classes, size):
    """(train, test) of a COCO-annotated folder (``train/`` + ``test/`` or ``val/``).

    Args:
        root: The folder.
        num_classes: Classes with the background (int >= 2); category ids must be below it.
        size: Side the images are resized to (int >= 32; boxes are normalized, so they follow).

    Returns:
        (train, test) :class:`~keras_lightnets.data.detection.DetectionData`.
    """
    validation.check_number("num_classes", num_classes, minimum=2, integer=True)
    validation.check_number("size", size, minimum=32, integer=True)
    root = os.fspath(root)
    if not os.path.isdir(os.path.join(root, "train")):
        validation.fail("data_dir", root, LAYOUT)
    held_out = next((os.path.join(root, name) for name in ("test", "val") if os.path.isdir(os.path.join(root, name))), None)
    if held_out is None:
        validation.fail("data_dir", root, f"a folder with a test/ or val/ split to measure the model on ({LAYOUT})")
    return load_split(os.path.join(root, "train"), num_classes, size), load_split(held_out, num_classes, size)
