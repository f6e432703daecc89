"""The COCO detection metric (AP over IoU 0.50:0.95, AP50, AP75) through ``pycocotools``.

Ground truth and detections are handed to pycocotools' ``COCOeval`` in memory,
boxes in pixels of the images as the detector saw them; categories are the
labels 1..K; every ground-truth box counts (no crowd regions).
"""

import contextlib
import io

import numpy as np

from keras_lightnets import validation


def coco_metrics(found, data, num_classes):
    """AP, AP50 and AP75 of ``found`` on ``data``.

    Args:
        found: Detections as ``Detector.predict`` returns them (``boxes`` normalized
            (ymin, xmin, ymax, xmax), ``scores``, ``classes`` = label - 1, ``num_detections``).
        data: :class:`~keras_lightnets.data.detection.DetectionData` (the same images, in order).
        num_classes: Classes with the background.

    Returns:
        dict ``AP``, ``AP50``, ``AP75`` (fractions in [0, 1]; -1 when the data has no object).
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        validation.fail("metric", "COCO AP", 'pycocotools installed (pip install "keras_lightnets[train]")')
    if len(found["boxes"]) != len(data):
        validation.fail("found", f"detections of {len(found['boxes'])} images", f"detections of the {len(data)} images of data")
    size = np.asarray(data.images.shape[1:3][::-1] * 2, np.float64)  # width, height, width, height
    images, truth, results = [], [], []
    for index in range(len(data)):
        images.append({"id": index, "width": int(size[0]), "height": int(size[1])})
        for box, label in zip(data.boxes[index], data.labels[index]):
            if label > 0:
                x1, y1, x2, y2 = (box * size).tolist()
                truth.append({"id": len(truth) + 1, "image_id": index, "category_id": int(label), "iscrowd": 0,
                              "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
        for row in range(int(found["num_detections"][index])):
            y1, x1, y2, x2 = (np.asarray(found["boxes"][index][row], np.float64) * size[[1, 0, 1, 0]]).tolist()
            results.append({"image_id": index, "category_id": int(found["classes"][index][row]) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(found["scores"][index][row])})
    if not truth:
        return {"AP": -1.0, "AP50": -1.0, "AP75": -1.0}
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = {"images": images, "annotations": truth,
                          "categories": [{"id": label} for label in range(1, num_classes)]}
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"AP": float(evaluation.stats[0]), "AP50": float(evaluation.stats[1]), "AP75": float(evaluation.stats[2])}
