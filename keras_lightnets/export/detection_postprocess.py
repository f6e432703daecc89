"""A detector's TFLite form: the network, then LiteRT's ``TFLite_Detection_PostProcess`` op.

The op (a custom op every LiteRT runtime registers; it runs on the CPU, no GPU
accelerator takes it) decodes box offsets against the default boxes, runs per-class
NMS (``use_regular_nms``) and returns the four tensors phones and MediaPipe's
``ObjectDetector`` read: boxes (1, D, 4) as normalized (ymin, xmin, ymax, xmax),
classes (1, D) (index without the background), scores (1, D) and the number of
detections (1,). TensorFlow has no kernel for it: the converter replaces a function
marked ``experimental_implements="TFLite_Detection_PostProcess ..."`` by the op (as
the TF Object Detection API's TFLite export does). Its inputs: offsets reordered to
(y, x, h, w) with scales (10, 10, 5, 5), softmax scores with the background first,
default boxes as (ycenter, xcenter, h, w). The op's outputs must be the file's
outputs (MediaPipe's metadata writer pairs them with the op's output ports) and the
op neither clips boxes to the image nor caps the width/height offsets at
log(1000/16) as torchvision and the Keras detector do, so the graph does both
before it: offsets are decoded, capped and clipped, and coded again; the op's
decoding then gives the Keras detector's boxes. (MediaPipe would otherwise report
a box reaching past the image edge with its origin moved to the edge and its full
width kept.) In an int8 file those ops would be quantized with the network, so there
the op decodes the network's offsets itself and boxes at the image edge keep
MediaPipe's reading.
"""

import numpy as np
import tensorflow as tf

from keras_lightnets.detection import box_coder

OP_NAME = "TFLite_Detection_PostProcess"
OUTPUT_NAMES = ("boxes", "classes", "scores", "num_detections")
MINIMUM_SIDE = 1e-6  # a box clipped to nothing keeps this width (its code stays finite)


def _signature(settings, num_classes):
    post = settings.postprocessing
    attributes = {
        "max_detections": ("i", post.max_detections), "max_classes_per_detection": ("i", 1),
        "detections_per_class": ("i", post.candidates_per_class), "use_regular_nms": ("b", "true"),
        "nms_score_threshold": ("f", post.score_threshold), "nms_iou_threshold": ("f", post.iou_threshold),
        "num_classes": ("i", num_classes - 1),
        "y_scale": ("f", box_coder.WEIGHTS[1]), "x_scale": ("f", box_coder.WEIGHTS[0]),
        "h_scale": ("f", box_coder.WEIGHTS[3]), "w_scale": ("f", box_coder.WEIGHTS[2]),
    }
    parts = [f'name: "{OP_NAME}"']
    for key, (kind, value) in attributes.items():
        parts.append(f'attr {{ key: "{key}" value {{ {kind}: {value} }} }}')
    return " ".join(parts)


def postprocess_function(settings, num_classes):
    """The composite function the converter turns into the op (TensorFlow itself never runs its body)."""

    @tf.function(experimental_implements=_signature(settings, num_classes))
    def postprocess(box_encodings, class_predictions, anchors):
        del box_encodings, class_predictions, anchors
        boxes = tf.constant(0.0, tf.float32, name="boxes")
        classes = tf.constant(0.0, tf.float32, name="classes")
        scores = tf.constant(0.0, tf.float32, name="scores")
        count = tf.constant(0.0, tf.float32, name="num_detections")
        return boxes, classes, scores, count

    return postprocess


def tflite_outputs(model, images, with_postprocess=True, clip_boxes=True):
    """The named outputs of a detector's TFLite graph.

    With the op: the tuple (boxes, classes, scores, num_detections), the op's four (a tuple: the
    file's outputs keep that order, the one MediaPipe's metadata describes; the signature names
    them ``output_0`` .. ``output_3``). Without: a dict of
    ``cls_scores`` (softmax, background first) and ``bbox_regression``: the network alone
    (what the GPU accelerator runs). ``clip_boxes=False`` hands the op the network's offsets as
    they are (the op decodes them unclipped and uncapped).
    """
    raw = model(images, training=False)
    scores = tf.nn.softmax(tf.cast(raw["cls_logits"], tf.float32), axis=-1)
    offsets = tf.cast(raw["bbox_regression"], tf.float32)
    if not with_postprocess:
        return {"cls_scores": scores, "bbox_regression": offsets}
    anchors = np.asarray(model.anchors, np.float32)
    if clip_boxes:
        boxes = tf.clip_by_value(box_coder.decode(offsets, tf.constant(anchors)), 0.0, 1.0)
        boxes = tf.concat([boxes[..., :2], tf.maximum(boxes[..., 2:], boxes[..., :2] + MINIMUM_SIDE)], axis=-1)
        offsets = box_coder.encode(boxes, tf.constant(anchors))
    encodings = tf.gather(offsets, [1, 0, 3, 2], axis=-1)  # (dx, dy, dw, dh) -> (dy, dx, dh, dw)
    anchors = anchors[:, [1, 0, 3, 2]]  # (cx, cy, w, h) -> (cy, cx, h, w)
    postprocess = postprocess_function(model.settings, int(raw["cls_logits"].shape[-1]))
    boxes, classes, found, count = postprocess(encodings, scores, tf.constant(anchors))
    return boxes, classes, found, count


def order_outputs(content):
    """The converted file with its outputs in signature order (``output_0`` .. ``output_3``).

    The converter lists a subgraph's outputs in an order of its own; MediaPipe's ObjectDetector
    metadata describes them as location, category, score, number of detections, in that order.

    Args:
        content: The ``.tflite`` file's bytes.

    Returns:
        The rewritten bytes (the signature keeps its names, the tensors are unchanged).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    signature = model.signatureDefs[0]
    index = {tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name: tensor.tensorIndex
             for tensor in signature.outputs}
    model.subgraphs[signature.subgraphIndex].outputs = [index[f"output_{i}"] for i in range(len(OUTPUT_NAMES))]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
