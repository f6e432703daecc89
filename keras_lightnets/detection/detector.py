"""A detection network whose ``predict`` returns detections and whose ``fit`` trains on matched targets.

:class:`Detector` is a functional Keras model (every layer visible to
``kl.profile``, batch-norm folding and export) with two raw outputs,
``cls_logits`` (N, A, C) and ``bbox_regression`` (N, A, 4), one row per default
box. It carries its detection settings (default boxes, post-processing, loss)
in its config, so a ``.keras`` file reloads as a detector.

- ``model(images)``: the raw outputs (what torchvision's head returns).
- ``model.predict(images)``: detections after NMS
  (:func:`keras_lightnets.detection.postprocess.detections`; TensorFlow).
- ``model.fit(images, {"labels": (N, A), "boxes": (N, A, 4)})``: SSD's loss
  (:mod:`keras_lightnets.detection.loss`) on per-box targets made by
  :mod:`keras_lightnets.detection.matching`.
"""

import dataclasses

import keras
import numpy as np

from keras_lightnets.detection import loss as losses
from keras_lightnets.detection.anchors import DefaultBoxes
from keras_lightnets.detection.postprocess import Postprocessing


@dataclasses.dataclass(frozen=True)
class DetectionSettings:
    """What a detector needs beyond its layers (stored in its config).

    Attributes:
        image_size: (height, width) the detector takes.
        grid_sizes: (rows, cols) of each feature map, in order.
        default_boxes: :class:`~keras_lightnets.detection.anchors.DefaultBoxes`.
        postprocessing: :class:`~keras_lightnets.detection.postprocess.Postprocessing`.
        classification_loss: "hard_negative" or "focal".
        class_names: Names of the classes without the background (may be empty).
    """

    image_size: tuple
    grid_sizes: tuple
    default_boxes: DefaultBoxes = DefaultBoxes()
    postprocessing: Postprocessing = Postprocessing()
    classification_loss: str = "hard_negative"
    class_names: tuple = ()

    def anchors(self):
        """(A, 4) default boxes as (cx, cy, w, h) relative to the image."""
        return self.default_boxes.centered(self.grid_sizes)

    def to_dict(self):
        return {"image_size": list(self.image_size), "grid_sizes": [list(g) for g in self.grid_sizes],
                "default_boxes": {"aspect_ratios": [list(r) for r in self.default_boxes.aspect_ratios],
                                  "min_ratio": self.default_boxes.min_ratio, "max_ratio": self.default_boxes.max_ratio},
                "postprocessing": dataclasses.asdict(self.postprocessing),
                "classification_loss": self.classification_loss, "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, config):
        boxes = config["default_boxes"]
        return cls(tuple(config["image_size"]), tuple(tuple(g) for g in config["grid_sizes"]),
                   DefaultBoxes(tuple(tuple(r) for r in boxes["aspect_ratios"]), boxes["min_ratio"], boxes["max_ratio"]),
                   Postprocessing(**config["postprocessing"]), config["classification_loss"],
                   tuple(config.get("class_names", ())))


def is_detector(model):
    """True for a :class:`Detector` (a model whose predict gives detections)."""
    return isinstance(model, Detector)


@keras.saving.register_keras_serializable(package="keras_lightnets")
class Detector(keras.Model):
    """A functional SSD network with its detection settings (build it with ``kl.SSDLite``).

    Args:
        *args, **kwargs: ``keras.Model``'s functional arguments (inputs, outputs, name).
        settings: :class:`DetectionSettings` (or its dict form).
    """

    def __init__(self, *args, settings=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = DetectionSettings.from_dict(settings) if isinstance(settings, dict) else settings

    @property
    def anchors(self):
        """(A, 4) float32 default boxes as (cx, cy, w, h) relative to the image."""
        return np.asarray(self.settings.anchors(), np.float32)

    def with_settings(self, **changes):
        """Changes the post-processing (``score_threshold``...) or ``class_names`` in place; returns the model."""
        post = {k: v for k, v in changes.items() if k in {f.name for f in dataclasses.fields(Postprocessing)}}
        rest = {k: v for k, v in changes.items() if k not in post}
        settings = dataclasses.replace(self.settings, **rest)
        if post:
            settings = dataclasses.replace(settings, postprocessing=dataclasses.replace(settings.postprocessing, **post))
        self.settings = settings
        return self

    def detect(self, raw):
        """Detections from raw outputs (a dict of ``cls_logits`` and ``bbox_regression``), TensorFlow."""
        from keras_lightnets.detection.postprocess import detections

        return detections(raw["cls_logits"], raw["bbox_regression"], self.anchors, self.settings.postprocessing)

    def predict_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self.detect(self(x, training=False))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        box_loss, class_loss = losses.ssd_loss(y["labels"], y["boxes"], y_pred["cls_logits"], y_pred["bbox_regression"],
                                               self.settings.classification_loss)
        total = box_loss + class_loss
        if self.losses:
            total = total + keras.ops.sum(self.losses)
        return total

    def get_config(self):
        return {**super().get_config(), "settings": self.settings.to_dict()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        settings = config.pop("settings")
        model = super().from_config(config, custom_objects=custom_objects)
        model.settings = DetectionSettings.from_dict(settings)
        return model
