"""The 1000 ImageNet-1k class names, shipped with the package (no download).

``imagenet_labels.txt`` holds one name per line in class-index order: the
first lemma of each WordNet synset of the ILSVRC-2012 classes, in the
standard (sorted synset id) order, as listed by timm's
``imagenet_synsets.txt`` and ``imagenet_synset_to_lemma.txt``.
"""

import functools
import os

import numpy as np

from keras_lightnets import validation

LABELS_FILE = os.path.join(os.path.dirname(__file__), "imagenet_labels.txt")


@functools.lru_cache(maxsize=None)
def imagenet_labels():
    """The 1000 class names, index i = class i (e.g. 281 "tabby", 967 "espresso").

    Returns:
        tuple of 1000 str.
    """
    with open(LABELS_FILE, encoding="utf-8") as file:
        labels = tuple(line.rstrip("\n") for line in file)
    if len(labels) != 1000:
        raise RuntimeError(f"{LABELS_FILE} has {len(labels)} lines, not 1000: reinstall keras_lightnets")
    return labels


def top_classes(probabilities, top=5):
    """The ``top`` most likely ImageNet classes of each row.

    Args:
        probabilities: (batch, 1000) array of scores.
        top: How many classes per row (1..1000).

    Returns:
        list (one per row) of lists of (class index, name, score), best first.
    """
    validation.check_number("top", top, minimum=1, maximum=1000, integer=True)
    scores = np.asarray(probabilities)
    if scores.ndim != 2 or scores.shape[1] != 1000:
        validation.fail("probabilities", f"an array of shape {scores.shape}", "a (batch, 1000) array")
    labels = imagenet_labels()
    order = np.argsort(-scores, axis=1)[:, :top]
    return [[(int(i), labels[i], float(row[i])) for i in indices] for row, indices in zip(scores, order)]
