"""Class names that travel with a model: ``labels.txt`` in every run directory, read back by the export.

A training run writes its dataset's class names (digits "0".."9",
Fashion-MNIST's ten names, a folder's sub-folder names, a tfds dataset's
label names) to ``labels.txt``, one per line, line i = class i. ``lightnets
export`` of a run's ``model.keras`` (or ``checkpoints/best.keras``) finds that
file beside the model and puts the names into the SavedModel's
``top_k_labels`` and the TFLite metadata; ``--labels FILE`` or
``--labels imagenet`` overrides it. Nothing here imports Keras.
"""

import os

from keras_lightnets import validation
from keras_lightnets.export.atomic import atomic_write_bytes

LABELS_FILE = "labels.txt"
IMAGENET = "imagenet"


def write_labels(path, names):
    """Writes ``names`` one per line (atomically)."""
    names = [str(name) for name in names]
    if any("\n" in name or "\r" in name for name in names):
        validation.fail("class_names", names, "names without line breaks")
    atomic_write_bytes(os.fspath(path), ("\n".join(names) + "\n").encode("utf-8"))


def read_labels(path, argument="labels"):
    """The names in a labels file, one per line (a trailing empty line ignored).

    Raises:
        LightnetsError: the file is missing, not UTF-8 text, or holds an empty line.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            names = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        validation.fail(argument, path, f"a readable UTF-8 file of class names, one per line ({type(error).__name__})")
    if not names or any(not name.strip() for name in names):
        validation.fail(argument, path, "a file of class names, one per line, none empty")
    return names


def labels_beside(model_path):
    """The ``labels.txt`` of the run a ``.keras`` file belongs to (beside it, or one folder up for
    ``checkpoints/best.keras``), or None."""
    folder = os.path.dirname(os.path.abspath(os.fspath(model_path)))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, LABELS_FILE)
        if os.path.isfile(path):
            return path
    return None


def resolve_labels(option, classes, model_path=None, imagenet_weights=False):
    """The class names an export uses.

    Args:
        option: ``--labels``: None (find them), "imagenet", or the path of a file with one name per line.
        classes: The model's number of classes (int).
        model_path: The ``.keras`` file being exported, whose run's ``labels.txt`` is used when
            ``option`` is None; None for a model built by name.
        imagenet_weights: Whether the model carries the published ImageNet classifier (then, without
            an option or a run's file, the 1000 ImageNet names).

    Returns:
        list of ``classes`` names, or None when none are known.

    Raises:
        LightnetsError: a file that cannot be read, or a number of names other than ``classes``
            (the message gives both numbers).
    """
    if option == IMAGENET:
        from keras_lightnets.data.imagenet import imagenet_labels

        names, source = list(imagenet_labels()), "--labels imagenet"
    elif option is not None:
        names, source = read_labels(option), option
    elif model_path is not None and labels_beside(model_path):
        source = labels_beside(model_path)
        names = read_labels(source)
    elif imagenet_weights and classes == 1000:
        from keras_lightnets.data.imagenet import imagenet_labels

        return list(imagenet_labels())
    else:
        return None
    if len(names) != classes:
        validation.fail("labels", source, f"{classes} class names, one per line: the model has {classes} classes and "
                        f"the labels give {len(names)}")
    return names
