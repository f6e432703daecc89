"""How closely two sets of detections agree (an export against the Keras detector, MediaPipe against Keras).

Detections are in ``Detector.predict``'s form: ``boxes`` (N, D, 4) normalized (ymin, xmin,
ymax, xmax), ``classes``, ``scores``, ``num_detections``. A detection of the reference is
found when the other set has one of the same class whose box overlaps it by IoU >= 0.9
(boxes clipped to the image first).
"""

import numpy as np

MINIMUM_IOU = 0.9


def box_iou(a, b):
    """IoU of two (ymin, xmin, ymax, xmax) boxes."""
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    overlap = max(0.0, bottom - top) * max(0.0, right - left)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return float(overlap / union) if union > 0 else 0.0


def agreement(theirs, reference, minimum_score=0.5, minimum_iou=MINIMUM_IOU):
    """(share of found detections, detections compared, largest score difference of a found one).

    Args:
        theirs: The detections under test.
        reference: The detections they should reproduce; those scoring above ``minimum_score`` count.
        minimum_score: Score a reference detection must exceed to be compared.
        minimum_iou: Overlap that counts as the same box.
    """
    found = compared = 0
    largest = 0.0
    for image in range(len(reference["boxes"])):
        candidates = [(np.clip(theirs["boxes"][image][row], 0.0, 1.0), int(theirs["classes"][image][row]),
                       float(theirs["scores"][image][row])) for row in range(int(theirs["num_detections"][image]))]
        for row in range(int(reference["num_detections"][image])):
            score = float(reference["scores"][image][row])
            if score <= minimum_score:
                continue
            compared += 1
            box, label = np.clip(reference["boxes"][image][row], 0.0, 1.0), int(reference["classes"][image][row])
            matches = [abs(s - score) for b, c, s in candidates if c == label and box_iou(b, box) >= minimum_iou]
            if matches:
                found += 1
                largest = max(largest, min(matches))
    return (found / compared if compared else float("nan")), compared, largest
