"""Augmentation that moves boxes with the pixels (TensorFlow, per image).

- Horizontal flip (half the images): x -> 1 - x for the boxes.
- Scale and crop: a random square window of side ``s`` x the image (s in ``scale``;
  above 1 zooms out, the outside filled with the image's mean) resized back to the
  image size; boxes move with it, are clipped to it, and are dropped (label 0) when
  their center leaves the window or they shrink below one pixel (SSD's rule).
- Photometric: brightness, contrast, saturation and hue jitter (SSD's ranges).
"""

import dataclasses

from keras_lightnets import validation


@dataclasses.dataclass(frozen=True)
class BoxAugmentation:
    """What :func:`augment` does.

    Attributes:
        flip: Random horizontal flips (bool).
        scale: (low, high) side of the crop window relative to the image (0 < low <= high <= 4), or None.
        photometric: Color jitter (bool).
    """

    flip: bool = True
    scale: tuple | None = (0.6, 1.6)
    photometric: bool = True

    def __post_init__(self):
        validation.check_choice("flip", self.flip, [True, False])
        validation.check_choice("photometric", self.photometric, [True, False])
        if self.scale is not None and (not isinstance(self.scale, (tuple, list)) or len(self.scale) != 2
                                       or not 0 < self.scale[0] <= self.scale[1] <= 4):
            validation.fail("scale", self.scale, "None or (low, high) with 0 < low <= high <= 4")


def augment(image, boxes, labels, settings):
    """One augmented image with its boxes.

    Args:
        image: (S, S, 3) float32 in [0, 255].
        boxes: (G, 4) normalized (x1, y1, x2, y2).
        labels: (G,) int32, 0 = padding.
        settings: :class:`BoxAugmentation`.

    Returns:
        (image, boxes, labels) of the same shapes.
    """
    import tensorflow as tf

    size = tf.shape(image)[0:2]
    if settings.flip:
        turn = tf.random.uniform(()) < 0.5
        image = tf.where(turn, tf.reverse(image, [1]), image)
        boxes = tf.where(turn, tf.stack([1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]], -1), boxes)
    if settings.scale is not None:
        side = tf.random.uniform((), settings.scale[0], settings.scale[1])
        x0 = tf.random.uniform((), tf.minimum(0.0, 1.0 - side), tf.maximum(0.0, 1.0 - side))
        y0 = tf.random.uniform((), tf.minimum(0.0, 1.0 - side), tf.maximum(0.0, 1.0 - side))
        mean = tf.reduce_mean(image)
        window = tf.stack([y0, x0, y0 + side, x0 + side])[None]
        image = tf.image.crop_and_resize(image[None], window, [0], size, extrapolation_value=0.0)[0]
        inside = tf.image.crop_and_resize(tf.ones_like(image[None, ..., :1]), window, [0], size)[0]
        image = image + (1.0 - inside) * mean  # zoomed-out borders: the image's mean, not black
        centers = 0.5 * (boxes[:, :2] + boxes[:, 2:])
        keep = tf.reduce_all((centers >= tf.stack([x0, y0])) & (centers <= tf.stack([x0 + side, y0 + side])), axis=-1)
        boxes = tf.clip_by_value((boxes - tf.stack([x0, y0, x0, y0])) / side, 0.0, 1.0)
        pixel = 1.0 / tf.cast(size[0], tf.float32)
        keep &= tf.reduce_all(boxes[:, 2:] - boxes[:, :2] >= pixel, axis=-1)
        labels = tf.where(keep, labels, 0)
    if settings.photometric:
        image = tf.image.random_brightness(image, 32.0)
        image = tf.image.random_contrast(image, 0.5, 1.5)
        image = tf.image.random_saturation(image, 0.5, 1.5)
        image = tf.image.random_hue(image / 255.0, 0.05) * 255.0
        image = tf.clip_by_value(image, 0.0, 255.0)
    return image, boxes, labels
