"""Ground truth -> per-default-box training targets, as torchvision's ``SSDMatcher`` (TensorFlow).

A default box takes the ground-truth box it overlaps most when that IoU is >= 0.5;
then every ground-truth box takes its own best default box whatever the IoU
(so no object goes unmatched). Matched boxes get the object's label and the coded
offsets (:mod:`keras_lightnets.detection.box_coder`); the rest are background (0).
"""

IOU_THRESHOLD = 0.5


def pairwise_iou(boxes, others):
    """IoU (G, A) of boxes (G, 4) against boxes (A, 4), both (x1, y1, x2, y2)."""
    import tensorflow as tf

    top_left = tf.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = tf.minimum(boxes[:, None, 2:], others[None, :, 2:])
    overlap = tf.reduce_prod(tf.maximum(bottom_right - top_left, 0.0), axis=-1)
    area = tf.reduce_prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    other_area = tf.reduce_prod(others[:, 2:] - others[:, :2], axis=-1)
    return overlap / tf.maximum(area[:, None] + other_area[None, :] - overlap, 1e-12)


def match(boxes, labels, anchors, threshold=IOU_THRESHOLD):
    """Targets of one image.

    Args:
        boxes: (G, 4) float32 ground truth as normalized (x1, y1, x2, y2); G >= 1 (pad with label 0).
        labels: (G,) int32, 1..K; 0 marks a padding row.
        anchors: (A, 4) default boxes as (cx, cy, w, h), normalized.
        threshold: IoU from which a default box takes a ground-truth box.

    Returns:
        (labels (A,) int32, offsets (A, 4) float32; zeros where the label is 0).
    """
    import tensorflow as tf

    from keras_lightnets.detection import box_coder

    anchors = tf.constant(anchors, tf.float32)
    corners = tf.concat([anchors[:, :2] - 0.5 * anchors[:, 2:], anchors[:, :2] + 0.5 * anchors[:, 2:]], axis=1)
    valid = labels > 0
    iou = tf.where(valid[:, None], pairwise_iou(boxes, corners), -1.0)
    best_truth = tf.argmax(iou, axis=0, output_type=tf.int32)
    matched = tf.where(tf.reduce_max(iou, axis=0) >= threshold, best_truth, -1)
    best_anchor = tf.argmax(iou, axis=1, output_type=tf.int32)
    truths = tf.boolean_mask(tf.range(tf.shape(boxes)[0]), valid)
    matched = tf.tensor_scatter_nd_update(matched, tf.boolean_mask(best_anchor, valid)[:, None], truths)
    found = matched >= 0
    index = tf.maximum(matched, 0)
    target_labels = tf.where(found, tf.gather(labels, index), 0)
    offsets = box_coder.encode(tf.gather(boxes, index), anchors)
    return tf.cast(target_labels, tf.int32), tf.where(found[:, None], offsets, 0.0)
