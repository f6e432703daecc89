"""Box offsets relative to default boxes, torchvision's ``BoxCoder`` with weights (10, 10, 5, 5).

A box (center x, y, width w, height h) against a default box (x_a, y_a, w_a, h_a) is coded
as (10 (x - x_a) / w_a, 10 (y - y_a) / h_a, 5 log(w / w_a), 5 log(h / h_a)); decoding
inverts it with the width and height offsets clipped at log(1000 / 16) first,
as torchvision does. Written with ``keras.ops`` (any backend; numpy arrays in, tensors out).
"""

import math

# torchvision's SSD box coder weights (x, y, width, height) and its clip of the decoded width/height offsets.
WEIGHTS = (10.0, 10.0, 5.0, 5.0)
SIZE_CLIP = math.log(1000.0 / 16)


def decode(offsets, anchors, weights=WEIGHTS):
    """Boxes (x1, y1, x2, y2) from offsets (..., A, 4) against ``anchors`` (A, 4) as (cx, cy, w, h)."""
    from keras import ops

    cx, cy, w, h = (anchors[:, i] for i in range(4))
    dx = offsets[..., 0] / weights[0]
    dy = offsets[..., 1] / weights[1]
    dw = ops.minimum(offsets[..., 2] / weights[2], SIZE_CLIP)
    dh = ops.minimum(offsets[..., 3] / weights[3], SIZE_CLIP)
    center_x = dx * w + cx
    center_y = dy * h + cy
    half_w = 0.5 * ops.exp(dw) * w
    half_h = 0.5 * ops.exp(dh) * h
    return ops.stack([center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h], axis=-1)


def encode(boxes, anchors, weights=WEIGHTS):
    """Offsets (..., A, 4) of ``boxes`` (..., A, 4) as (x1, y1, x2, y2) against ``anchors`` (A, 4) as (cx, cy, w, h).

    Boxes of zero width or height are the caller's to avoid (their log is -inf).
    """
    from keras import ops

    cx, cy, w, h = (anchors[:, i] for i in range(4))
    box_w = boxes[..., 2] - boxes[..., 0]
    box_h = boxes[..., 3] - boxes[..., 1]
    box_x = boxes[..., 0] + 0.5 * box_w
    box_y = boxes[..., 1] + 0.5 * box_h
    return ops.stack([weights[0] * (box_x - cx) / w, weights[1] * (box_y - cy) / h,
                      weights[2] * ops.log(box_w / w), weights[3] * ops.log(box_h / h)], axis=-1)
