"""Raw SSD outputs -> detections: torchvision's ``SSD.postprocess_detections`` in TensorFlow.

Per image: softmax over the classes, boxes decoded against the default boxes and
clipped to the image; per class (background excluded) the boxes scoring above
``score_threshold``, at most ``candidates_per_class`` of them; non-maximum
suppression within each class (IoU above ``iou_threshold`` suppresses), the
best ``max_detections`` kept, by score. TensorFlow's NMS kernel (greedy, IoU >
threshold suppresses) is torchvision's ``batched_nms``; the outputs are padded
to ``max_detections`` so a batch has one shape.
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets.detection import box_coder


@dataclasses.dataclass(frozen=True)
class Postprocessing:
    """How raw outputs become detections (torchvision's ssdlite320 defaults).

    Attributes:
        score_threshold: Scores at or below it are dropped (in [0, 1)).
        iou_threshold: A box overlapping a better one of its class by more is dropped (in (0, 1]).
        max_detections: Detections kept per image (int >= 1).
        candidates_per_class: Best boxes per class that enter NMS (int >= 1).
    """

    score_threshold: float = 0.001
    iou_threshold: float = 0.55
    max_detections: int = 300
    candidates_per_class: int = 300

    def __post_init__(self):
        validation.check_number("score_threshold", self.score_threshold, minimum=0.0, maximum=1.0)
        validation.check_number("iou_threshold", self.iou_threshold, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        validation.check_number("max_detections", self.max_detections, minimum=1, integer=True)
        validation.check_number("candidates_per_class", self.candidates_per_class, minimum=1, integer=True)


def detections(cls_logits, bbox_regression, anchors, settings):
    """Detections of a batch (TensorFlow).

    Args:
        cls_logits: (N, A, C) class logits, class 0 the background.
        bbox_regression: (N, A, 4) box offsets.
        anchors: (A, 4) default boxes as (cx, cy, w, h) relative to the image.
        settings: :class:`Postprocessing`.

    Returns:
        dict: ``boxes`` (N, D, 4) float32 as normalized (ymin, xmin, ymax, xmax); ``scores``
        (N, D) float32; ``classes`` (N, D) int32, the class index without the background
        (label - 1, the index into the class names); ``num_detections`` (N,) int32. D =
        ``max_detections``; rows past ``num_detections`` are zeros.
    """
    import tensorflow as tf

    cls_logits = tf.cast(cls_logits, tf.float32)
    scores = tf.nn.softmax(cls_logits, axis=-1)[..., 1:]
    boxes = tf.clip_by_value(box_coder.decode(tf.cast(bbox_regression, tf.float32), tf.constant(anchors)), 0.0, 1.0)
    anchor_count = int(anchors.shape[0])
    classes = int(cls_logits.shape[-1]) - 1
    take = min(settings.candidates_per_class, anchor_count)
    limit = settings.max_detections

    def one_image(inputs):
        image_boxes, image_scores = inputs
        top_scores, top_index = tf.math.top_k(tf.transpose(image_scores), k=take)  # (classes, take)
        candidates = tf.reshape(tf.gather(image_boxes, top_index), (-1, 4))
        labels = tf.reshape(tf.repeat(tf.range(classes)[:, None], take, axis=1), (-1,))
        flat_scores = tf.reshape(top_scores, (-1,))
        # torchvision's batched_nms: each class shifted apart, so boxes of different classes never overlap.
        shifted = candidates + 2.0 * tf.cast(labels, tf.float32)[:, None]
        keep = tf.image.non_max_suppression(shifted, flat_scores, limit, iou_threshold=settings.iou_threshold,
                                            score_threshold=settings.score_threshold)
        found = tf.shape(keep)[0]
        pad = [[0, limit - found]]
        kept = tf.gather(candidates, keep)
        return (tf.pad(tf.gather(kept, [1, 0, 3, 2], axis=1), pad + [[0, 0]]),
                tf.pad(tf.gather(flat_scores, keep), pad), tf.pad(tf.gather(labels, keep), pad), found)

    out = tf.map_fn(one_image, (boxes, scores), fn_output_signature=(
        tf.TensorSpec((limit, 4), tf.float32), tf.TensorSpec((limit,), tf.float32),
        tf.TensorSpec((limit,), tf.int32), tf.TensorSpec((), tf.int32)))
    return {"boxes": out[0], "scores": out[1], "classes": out[2], "num_detections": out[3]}
