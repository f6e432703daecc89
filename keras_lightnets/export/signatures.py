"""The TensorFlow functions behind exported signatures (pure TF: they run in TF Serving)."""

import keras
import tensorflow as tf

from keras_lightnets import validation

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"


def input_size(model, image_size=None):
    """(height, width, channels) the export takes.

    Args:
        model: Keras image model with a channels-last 4D input.
        image_size: Required (int >= 1, or (height, width)) when the model's
            spatial dimensions are ``None``; otherwise must agree with them.
    """
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or keras.config.image_data_format() != "channels_last":
        validation.fail("model", model.name, "a channels-last image model with input (height, width, channels)")
    height, width, channels = shape
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
            validation.fail("image_size", image_size, "an int >= 1 or a (height, width) pair")
        if (height, width) != (None, None) and (height, width) != size:
            validation.fail("image_size", image_size, f"None or {(height, width)} (the model's input size)")
        height, width = size
    if height is None or width is None:
        validation.fail("image_size", image_size, f"an int >= 1 because {model.name!r} takes any image size")
    return height, width, channels


def _ends_with_softmax(model):
    layer = model.layers[-1]
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def is_classifier(model):
    """True for a classifier: one (batch, classes) output from a layer named
    "predictions" (our builders, keras.applications) or ending in softmax.
    Anything else (feature extractors, pooled embeddings) exports ``features``.
    """
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        return False
    return model.layers[-1].name == "predictions" or _ends_with_softmax(model)


def is_segmenter(model):
    """True for a segmentation network of :mod:`keras_lightnets.heads`: one (batch, H, W, classes) output
    upsampled to the input by its final :class:`~keras_lightnets.layers.resize.ResizeLike` (+ softmax)."""
    from keras_lightnets.layers.resize import ResizeLike

    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 4:
        return False
    last = model.layers[-1]
    return isinstance(last, ResizeLike) or (_ends_with_softmax(model) and isinstance(model.layers[-2], ResizeLike))


def model_outputs(model, images, top_k=0, class_names=None, class_map=True):
    """Named outputs of ``model`` on ``images``.

    Classifiers give ``probabilities`` (softmax added when the model outputs
    logits) and, with ``top_k`` > 0, ``top_k_scores`` / ``top_k_classes``
    (and ``top_k_labels`` when ``class_names`` are given). Segmenters give
    per-pixel ``probabilities`` (batch, H, W, classes) and, with ``class_map``,
    ``class_map`` (batch, H, W) int32, each pixel's most probable class.
    Detectors (:class:`~keras_lightnets.detection.detector.Detector`) give their
    detections after NMS: ``boxes`` (batch, D, 4) normalized (ymin, xmin, ymax, xmax),
    ``classes`` (batch, D) int32 (index into the class names, no background),
    ``scores`` (batch, D) and ``num_detections`` (batch,) int32.
    Other models give ``features``.
    """
    from keras_lightnets.detection.detector import is_detector

    outputs = model(images, training=False)
    if is_detector(model):
        return model.detect(outputs)
    if is_segmenter(model):
        probabilities = outputs if _ends_with_softmax(model) else tf.nn.softmax(outputs, axis=-1)
        named = {"probabilities": tf.cast(probabilities, tf.float32)}
        if class_map:
            named["class_map"] = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        return named
    if not is_classifier(model):
        return {"features": outputs}
    probabilities = outputs if _ends_with_softmax(model) else tf.nn.softmax(outputs)
    named = {"probabilities": tf.cast(probabilities, tf.float32)}
    if top_k:
        scores, classes = tf.math.top_k(named["probabilities"], k=top_k)
        named.update(top_k_scores=scores, top_k_classes=classes)
        if class_names:
            named["top_k_labels"] = tf.gather(tf.constant(list(class_names)), classes)
    return named


def decode_images(image_bytes, height, width, channels):
    """Decodes a batch of encoded JPEG/PNG images and resizes them to (height, width).

    Args:
        image_bytes: 1-D ``tf.string`` tensor of encoded images (raw bytes:
            TF Serving's REST API has already decoded ``{"b64": ...}``).
        height: Output height.
        width: Output width.
        channels: Output channels (1 or 3).

    Returns:
        float32 tensor (batch, height, width, channels) with values in [0, 255].
    """

    def decode_one(encoded):
        head = tf.strings.substr(encoded, 0, 4)
        known = tf.logical_or(
            tf.equal(tf.strings.substr(head, 0, 3), _JPEG_MAGIC), tf.equal(head, _PNG_MAGIC)
        )
        check = tf.debugging.Assert(
            known, ["image_bytes: an element is not a JPEG or PNG image; first bytes:", head], summarize=1
        )
        with tf.control_dependencies([check]):
            image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        image.set_shape((None, None, channels))
        return tf.image.resize(tf.cast(image, tf.float32), (height, width))

    return tf.map_fn(
        decode_one, image_bytes, fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32)
    )
