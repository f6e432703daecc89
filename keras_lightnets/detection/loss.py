"""SSD's training loss, as torchvision's ``SSD.compute_loss`` (``keras.ops``: any backend).

Targets are per default box (:mod:`keras_lightnets.detection.matching`): a label
(0 = background) and the coded offsets of the matched ground-truth box. Box loss:
smooth L1 (beta 1) summed over the matched boxes. Class loss: cross entropy of the
matched boxes plus, per image, of the ``negative_ratio`` x as many unmatched boxes
with the highest loss (hard negative mining); or, with ``"focal"``, the softmax focal
loss (gamma 2; alpha 0.25 on objects, 0.75 on background) over every box. Both are
divided by the number of matched boxes in the batch (at least 1).
"""

from keras_lightnets import validation

CLASSIFICATION_LOSSES = ("hard_negative", "focal")
FOCAL_GAMMA = 2.0
FOCAL_ALPHA = 0.25


def ssd_loss(labels, box_targets, cls_logits, bbox_regression, classification="hard_negative", negative_ratio=3):
    """(box loss, class loss) of a batch: scalars.

    Args:
        labels: (N, A) int, 0 = background.
        box_targets: (N, A, 4) coded offsets (any value where the label is 0).
        cls_logits: (N, A, C) logits.
        bbox_regression: (N, A, 4) predicted offsets.
        classification: "hard_negative" (torchvision's) or "focal".
        negative_ratio: Negatives per positive in hard negative mining (int >= 1).
    """
    from keras import ops

    validation.check_choice("classification_loss", classification, CLASSIFICATION_LOSSES)
    cls_logits = ops.cast(cls_logits, "float32")
    bbox_regression = ops.cast(bbox_regression, "float32")
    labels = ops.cast(labels, "int32")
    positive = ops.cast(labels > 0, "float32")
    positives = ops.sum(positive)
    normalizer = ops.maximum(positives, 1.0)
    difference = ops.abs(bbox_regression - ops.cast(box_targets, "float32"))
    smooth_l1 = ops.where(difference < 1.0, 0.5 * difference * difference, difference - 0.5)
    box_loss = ops.sum(ops.sum(smooth_l1, axis=-1) * positive) / normalizer
    log_probabilities = ops.log_softmax(cls_logits, axis=-1)
    picked = ops.take_along_axis(log_probabilities, ops.expand_dims(labels, -1), axis=-1)[..., 0]
    cross_entropy = -picked
    if classification == "focal":
        focus = (1.0 - ops.exp(picked)) ** FOCAL_GAMMA
        alpha = positive * FOCAL_ALPHA + (1.0 - positive) * (1.0 - FOCAL_ALPHA)
        return box_loss, ops.sum(alpha * focus * cross_entropy) / normalizer
    negative_loss = ops.where(positive > 0, -1.0, cross_entropy)  # cross entropy >= 0: positives sort last
    order = ops.argsort(-negative_loss, axis=1)
    rank = ops.argsort(order, axis=1)
    wanted = negative_ratio * ops.sum(positive, axis=1, keepdims=True)
    negative = ops.cast(ops.cast(rank, "float32") < wanted, "float32") * (1.0 - positive)
    return box_loss, ops.sum(cross_entropy * (positive + negative)) / normalizer
