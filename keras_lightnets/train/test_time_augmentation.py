"""Test-time augmentation: a classifier's prediction averaged over mirrored and shifted views.

Policies:
    "none": the image alone.
    "flip": the image and its horizontal mirror (2 views).
    "flip_shift": the image and its mirror, each also moved by ``shift`` pixels up, down,
        left and right with zero fill (10 views): the kinds of view the "flip_translate"
        training policy shows the network.

Mirrored views only suit data where a mirror image keeps its class (clothes, natural
images), not digits or text.
"""

from keras_lightnets import validation

POLICIES = ("none", "flip", "flip_shift")


def views(policy, shift=1):
    """The views a policy averages, as (mirror, down, right) triples.

    Args:
        policy: One of :data:`POLICIES`.
        shift: Pixels each shifted view moves (int >= 1; "flip_shift" only).

    Returns:
        List of ``(mirror: bool, down: int, right: int)``; ``(False, 0, 0)`` is the image itself.
    """
    validation.check_choice("tta", policy, POLICIES)
    validation.check_number("shift", shift, minimum=1, integer=True)
    mirrors = (False,) if policy == "none" else (False, True)
    offsets = [(0, 0)]
    if policy == "flip_shift":
        offsets += [(shift, 0), (-shift, 0), (0, shift), (0, -shift)]
    return [(mirror, down, right) for mirror in mirrors for down, right in offsets]


def view(images, mirror, down, right):
    """One view of a batch of images.

    Args:
        images: Float tensor or array (batch, height, width, channels).
        mirror: Mirror left to right first (bool).
        down: Rows to move the content down (negative: up), |down| < height; vacated rows are 0.
        right: Columns to move the content right (negative: left), |right| < width; vacated columns are 0.

    Returns:
        A tensor of the same shape and dtype.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if mirror:
        images = tf.reverse(images, axis=[2])
    height, width = images.shape[1], images.shape[2]
    if down or right:
        padded = tf.pad(images, [[0, 0], [max(down, 0), max(-down, 0)], [max(right, 0), max(-right, 0)], [0, 0]])
        top, left = max(-down, 0), max(-right, 0)
        images = padded[:, top:top + height, left:left + width]
    return images


def _view_predictor(model, policy, shift):
    """``predict(images) -> [probabilities of each view]``, the image itself first, from one traced graph."""
    import tensorflow as tf

    chosen = views(policy, shift)
    forward = tf.function(lambda images: model(images, training=False))

    def predict(images):
        return [forward(view(images, *choice)).numpy().astype("float32") for choice in chosen]

    return predict


def averaged_predictor(model, policy="none", shift=1):
    """A function from a batch of images to class probabilities averaged over a policy's views.

    The model runs as one traced graph (``tf.function``), reused for every view and batch.

    Args:
        model: Classifier ending in a softmax (probabilities out).
        policy: One of :data:`POLICIES`.
        shift: Pixels of the shifted views (int >= 1).

    Returns:
        ``predict(images) -> NumPy array (batch, classes)`` for batches
        (batch, height, width, channels) as the model takes them.
    """
    predict_views = _view_predictor(model, policy, shift)

    def predict(images):
        each = predict_views(images)
        return sum(each) / len(each)

    return predict


def predict_batches(model, batches, policy="none", shift=1):
    """Single-view and view-averaged probabilities, and one-hot labels, of a whole dataset.

    One pass over the data: the image itself is the policy's first view, so its
    probabilities come with the average at no extra cost.

    Args:
        model: Classifier ending in a softmax.
        batches: Iterable of (images, one-hot labels) batches, e.g. from
            :func:`keras_lightnets.data.make_batches`.
        policy: One of :data:`POLICIES`.
        shift: Pixels of the shifted views (int >= 1).

    Returns:
        (single_view, averaged, one_hot_labels): NumPy arrays (examples, classes);
        ``averaged`` equals ``single_view`` for "none".
    """
    import numpy as np

    predict_views = _view_predictor(model, policy, shift)
    single, averaged, labels = [], [], []
    for images, one_hot in batches:
        each = predict_views(images)
        single.append(each[0])
        averaged.append(sum(each) / len(each))
        labels.append(np.asarray(one_hot))
    return np.concatenate(single), np.concatenate(averaged), np.concatenate(labels)
