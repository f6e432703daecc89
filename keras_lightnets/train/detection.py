"""Training detectors: SSD's matching and loss, augmentation that moves boxes, COCO AP in the report.

A run directory holds what a segmentation run's does (:mod:`keras_lightnets.train.segmentation`):
``config.json``, ``labels.txt`` (the object classes, no background), ``backup/`` while training
(an interrupted run resumes when started again with the same configuration),
``checkpoints/best.keras`` (lowest test loss), ``history.csv``, ``model.keras`` and
``summary.json`` last, with the held-out COCO AP, AP50 and AP75 (pycocotools) of the final model.
Targets are matched on the fly after augmentation (:mod:`keras_lightnets.detection.matching`).
"""

import dataclasses
import os

from keras_lightnets import validation
from keras_lightnets.data.detection import check
from keras_lightnets.detection.augment import BoxAugmentation
from keras_lightnets.train import engine
from keras_lightnets.train.segmentation import SegmentationConfig, adamw, finish_run, fit_run


@dataclasses.dataclass
class DetectionConfig(SegmentationConfig):
    """One detection run: :class:`~keras_lightnets.train.segmentation.SegmentationConfig`'s fields and these.

    Attributes:
        scale: (low, high) crop-window side for scale augmentation, or None.
        photometric: Color jitter (bool).
    """

    run_dir: str = os.path.join("runs", "detection")
    epochs: int = 10
    scale: tuple | None = (0.6, 1.6)
    photometric: bool = True

    def augmentation(self):
        return BoxAugmentation(self.flip, None if self.scale is None else tuple(self.scale), self.photometric)

    def validate(self):
        super().validate()
        self.augmentation()
        return self

    def to_dict(self):
        values = super().to_dict()
        values["scale"] = None if self.scale is None else list(self.scale)
        return values


def batches(data, anchors, batch_size, training, seed, augmentation=None):
    """A tf.data pipeline of (images float32, {"labels", "boxes"} per-default-box targets)."""
    import tensorflow as tf

    from keras_lightnets.detection.augment import augment
    from keras_lightnets.detection.matching import match

    dataset = tf.data.Dataset.from_tensor_slices((data.images, data.boxes, data.labels))
    if training:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)

    def prepare(image, boxes, box_labels):
        image = tf.cast(image, tf.float32)
        if training and augmentation is not None:
            image, boxes, box_labels = augment(image, boxes, box_labels, augmentation)
        target_labels, offsets = match(boxes, box_labels, anchors)
        return image, {"labels": target_labels, "boxes": offsets}

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def evaluate_ap(model, data, batch_size=32):
    """COCO AP, AP50, AP75 of ``model`` (a Detector) on ``data`` (its predict's detections)."""
    from keras_lightnets.detection.coco_eval import coco_metrics

    found = model.predict(data.images.astype("float32"), batch_size=batch_size, verbose=0)
    return coco_metrics(found, data, int(model.output["cls_logits"].shape[-1]))


def fit_detection(build, train, test, config, class_names, overwrite=False):
    """Trains a detector and saves the run; resumes an interrupted one.

    Args:
        build: ``build() -> Detector`` (e.g. ``lambda: kl.SSDLite("efficientnet_lite0", num_classes=11, ...)``);
            called once the seed and the precision policy are set.
        train: :class:`~keras_lightnets.data.detection.DetectionData` (images at the detector's size).
        test: The held-out :class:`~keras_lightnets.data.detection.DetectionData`.
        config: :class:`DetectionConfig`.
        class_names: The object classes (labels 1..K), without the background.
        overwrite: Delete a previous run in ``config.run_dir`` first.

    Returns:
        :class:`~keras_lightnets.train.engine.FitResult` (summary: test AP, AP50, AP75, loss, wall time).
    """
    import keras

    from keras_lightnets.detection.detector import is_detector

    config.validate()
    if not callable(build) or isinstance(build, keras.Model):
        validation.fail("build", build, "a function that builds the detector (e.g. lambda: kl.SSDLite(...))")
    num_classes = len(class_names) + 1
    validation.check_number("class_names", len(class_names), minimum=1, integer=True)
    check(train, num_classes, "train")
    check(test, num_classes, "test")
    validation.check_number("batch_size", config.batch_size, maximum=len(train), integer=True)
    engine._check_run_dir(config.run_dir, config, overwrite)  # noqa: SLF001 - the engine's own run-directory rule
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    model = build()
    if not is_detector(model):
        validation.fail("build", type(model).__name__, "a function returning a Detector (kl.SSDLite)")
    if model.output["cls_logits"].shape[-1] != num_classes:
        validation.fail("class_names", f"{len(class_names)} names",
                        f"{model.output['cls_logits'].shape[-1] - 1} names (the detector's classes without the background)")
    size = tuple(model.inputs[0].shape[1:3])
    for argument, data in (("train", train), ("test", test)):
        if tuple(data.images.shape[1:3]) != size:
            validation.fail(argument, f"images of {data.images.shape[1:3]}", f"images of the detector's size {size}")
    model.with_settings(class_names=tuple(class_names))
    model.compile(optimizer=adamw(config, len(train) // config.batch_size))
    anchors = model.anchors
    callbacks = engine._callbacks(config, config.run_dir, True, config.run_dir, monitor="test_loss", mode="min")  # noqa: SLF001
    seconds = fit_run(model, config, class_names, batches(train, anchors, config.batch_size, True, config.seed,
                                                          config.augmentation()),
                      batches(test, anchors, config.batch_size, False, config.seed), callbacks)
    test_loss = model.evaluate(batches(test, anchors, config.batch_size, False, 0), verbose=0)
    metrics = evaluate_ap(model, test, config.batch_size)
    measured = {"test_ap": metrics["AP"], "test_ap50": metrics["AP50"], "test_ap75": metrics["AP75"],
                "test_loss": float(test_loss if not isinstance(test_loss, list) else test_loss[0])}
    return finish_run(model, config, measured, (len(train), len(test)), int(size[0]), seconds,
                      f"test AP {metrics['AP']:.4f} (AP50 {metrics['AP50']:.4f}, AP75 {metrics['AP75']:.4f}) on "
                      f"{len(test)} held-out images")
