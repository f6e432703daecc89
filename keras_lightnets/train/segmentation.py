"""Training segmentation networks: per-pixel cross entropy, mean IoU, in the engine's run directories.

A run directory holds what a classification run's does (see
:mod:`keras_lightnets.train.engine`): ``config.json``, ``labels.txt``,
``backup/`` while training (an interrupted run resumes from it when started
again with the same configuration), ``checkpoints/best.keras`` (highest test
mean IoU), ``history.csv``, ``model.keras`` (EMA weights when EMA is on) and
``summary.json`` last. The loss is Keras' sparse cross entropy on logits with
``ignore_class`` (pixels marked ``IGNORE_INDEX`` count nowhere); the metric
Keras' ``MeanIoU`` over every class, background included.
"""

import dataclasses
import json
import os
import time

from keras_lightnets import labels, validation
from keras_lightnets.data.mask_folder import IGNORE_INDEX, largest_unknown_class
from keras_lightnets.train import engine


@dataclasses.dataclass
class SegmentationConfig:
    """One segmentation run.

    Attributes:
        run_dir: The run directory.
        epochs: Full passes over the training scenes (int >= 1).
        batch_size: Images per step (int >= 1).
        learning_rate: Peak AdamW rate (> 0), cosine decay to 0 after one warm-up epoch.
        weight_decay: AdamW decay (>= 0).
        ema_momentum: Weight EMA momentum in (0, 1), or None for none.
        precision: "float32" or "mixed_float16" / "mixed_bfloat16".
        flip: Random horizontal flips of image and mask together (bool).
        seed: Shuffle and augmentation seed (int).
        verbose: Keras' fit verbosity (0, 1, 2).
    """

    run_dir: str = os.path.join("runs", "segmentation")
    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    ema_momentum: float | None = None
    precision: str = "float32"
    flip: bool = True
    seed: int = 0
    verbose: int = 2

    def validate(self):
        validation.check_number("epochs", self.epochs, minimum=1, integer=True)
        validation.check_number("batch_size", self.batch_size, minimum=1, integer=True)
        validation.check_number("learning_rate", self.learning_rate, minimum=0.0, exclusive_minimum=True)
        validation.check_number("weight_decay", self.weight_decay, minimum=0.0)
        if self.ema_momentum is not None:
            validation.check_number("ema_momentum", self.ema_momentum, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        validation.check_choice("precision", self.precision, ["float32", "mixed_float16", "mixed_bfloat16"])
        validation.check_choice("flip", self.flip, [True, False])
        return self

    def to_dict(self):
        return {key: value for key, value in dataclasses.asdict(self).items() if key != "run_dir"}


def check_data(images, masks, num_classes, argument):
    """Refuses mismatched images and masks or class ids the model has no output for (before any step)."""
    import numpy as np

    if images.ndim != 4 or masks.shape != images.shape[:3]:
        validation.fail(argument, f"images {images.shape} and masks {masks.shape}",
                        "images (N, H, W, C) with masks (N, H, W) of the same N, H, W")
    bad = largest_unknown_class(masks, num_classes)
    if bad is not None:
        validation.fail(argument, f"a mask holding class {bad}",
                        f"class ids below num_classes={num_classes} (or {IGNORE_INDEX} to ignore a pixel)")
    return np.asarray(images, np.float32), np.asarray(masks, np.int32)


def _batches(images, masks, batch_size, training, seed, flip):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, masks))
    if training:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        if flip:
            def flipped(image, mask):
                turn = tf.random.uniform(()) < 0.5
                return (tf.where(turn, tf.reverse(image, [1]), image), tf.where(turn, tf.reverse(mask, [1]), mask))

            data = data.map(flipped, num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def fit_segmentation(build, train, test, config, class_names, overwrite=False):
    """Trains a segmentation model (logits out) and saves the run; resumes an interrupted one.

    Args:
        build: ``build() -> keras.Model``, a network of :mod:`keras_lightnets.heads` with per-pixel
            logits (``activation=None``); called once the seed and the precision policy are set
            (a mixed-precision network must be built under its policy).
        train: (images (N, H, W, C) in [0, 255], masks (N, H, W) class ids).
        test: The held-out (images, masks).
        config: :class:`SegmentationConfig`.
        class_names: One name per class (background first).
        overwrite: Delete a previous run in ``config.run_dir`` first.

    Returns:
        :class:`~keras_lightnets.train.engine.FitResult` (summary: test mean IoU and loss, wall time).
    """
    import keras

    config.validate()
    if not callable(build) or isinstance(build, keras.Model):
        validation.fail("build", build, "a function that builds the network (e.g. lambda: kl.LRASPP(...))")
    num_classes = len(class_names)
    validation.check_number("class_names", num_classes, minimum=2, integer=True)
    x_train, m_train = check_data(*train, num_classes, "train")
    x_test, m_test = check_data(*test, num_classes, "test")
    validation.check_number("batch_size", config.batch_size, maximum=len(x_train), integer=True)
    engine._check_run_dir(config.run_dir, config, overwrite)  # noqa: SLF001 - the engine's own run-directory rule
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    model = build()
    if model.outputs[0].shape[-1] != num_classes:
        validation.fail("class_names", f"{num_classes} names", f"{model.outputs[0].shape[-1]} names (the model's classes)")
    optimizer = adamw(config, len(x_train) // config.batch_size)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_INDEX)
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=[keras.metrics.MeanIoU(num_classes, name="mean_iou", sparse_y_pred=False, ignore_class=IGNORE_INDEX)])
    seconds = fit_run(model, config, class_names, _batches(x_train, m_train, config.batch_size, True, config.seed, config.flip),
                      _batches(x_test, m_test, config.batch_size, False, config.seed, False), _callbacks(config))
    test_loss, test_iou = model.evaluate(_batches(x_test, m_test, config.batch_size, False, 0, False), verbose=0)
    per_class = class_iou(model, x_test, m_test, num_classes, config.batch_size)
    measured = {"test_mean_iou": float(test_iou), "test_loss": float(test_loss), "test_class_iou": per_class}
    return finish_run(model, config, measured, (len(x_train), len(x_test)), int(x_train.shape[1]), seconds,
                      f"test mean IoU {test_iou:.4f} ({len(x_test)} held-out images)")


def fit_run(model, config, class_names, train_batches, test_batches, callbacks):
    """Starts the run directory (``config.json``, ``labels.txt``), fits, then puts the EMA weights in place;
    returns the seconds of training in this process.

    Args:
        model: The compiled model.
        config: The run's config (``run_dir``, ``epochs``, ``ema_momentum``, ``verbose``).
        class_names: Written to ``labels.txt``.
        train_batches: The training dataset (shuffled and augmented as the task needs).
        test_batches: The held-out dataset, measured after each epoch.
        callbacks: The engine's (backup and resume, history, best checkpoint on the task's test figure).
    """
    os.makedirs(config.run_dir, exist_ok=True)
    engine._write_json(os.path.join(config.run_dir, engine.CONFIG), config.to_dict())  # noqa: SLF001
    labels.write_labels(os.path.join(config.run_dir, labels.LABELS_FILE), list(class_names))
    started = time.time()
    model.fit(train_batches, epochs=config.epochs, validation_data=test_batches, callbacks=callbacks,
              verbose=config.verbose, shuffle=False)
    seconds = time.time() - started
    if config.ema_momentum is not None:
        model.optimizer.finalize_variable_values(model.trainable_variables)  # the saved model holds the EMA weights
    return seconds


def finish_run(model, config, measured, counts, image_size, seconds, result):
    """Saves a finished run (``model.keras``, then ``summary.json``) and reports it; returns its FitResult.

    Args:
        model: The trained model (EMA weights already in place).
        config: The run's config (``run_dir``, ``epochs``, ``precision``, ``ema_momentum``, ``verbose``).
        measured: The task's test figures for the summary.
        counts: (training images, held-out images).
        image_size: Input side.
        seconds: Training time in this process.
        result: The test figures as printed ("test mean IoU 0.52 (1000 held-out images)").
    """
    summary = {
        "model": model.name, "params": int(model.count_params()), "epochs": config.epochs, "image_size": image_size,
        **measured, "train_images": int(counts[0]), "test_images": int(counts[1]),
        "train_seconds_this_process": round(seconds, 1), "precision": config.precision, "ema": config.ema_momentum is not None,
    }
    engine._save_model(model, os.path.join(config.run_dir, "model.keras"))  # noqa: SLF001
    engine._write_json(os.path.join(config.run_dir, engine.SUMMARY), summary)  # noqa: SLF001
    from keras_lightnets.train.history import read_history

    history = read_history(os.path.join(config.run_dir, "history.csv"))
    if config.verbose:
        print(f"[lightnets] finished: {model.name}, {config.epochs} epochs, {seconds:.0f} s of training in this process; "
              f"{result}; run directory {config.run_dir}", flush=True)
    return engine.FitResult(model, summary, config.run_dir, history)


def adamw(config, steps):
    """AdamW at ``config.learning_rate`` after one warm-up epoch of ``steps``, cosine decay to 0, EMA when asked."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps * (config.epochs - 1)), warmup_target=config.learning_rate, warmup_steps=steps)
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay,
                                  use_ema=config.ema_momentum is not None, ema_momentum=config.ema_momentum or 0.99)


def _callbacks(config):
    return engine._callbacks(config, config.run_dir, True, config.run_dir, monitor="test_mean_iou")  # noqa: SLF001


def class_iou(model, images, masks, num_classes, batch_size=32):
    """IoU of each class on ``images`` (pixels marked ``IGNORE_INDEX`` left out); None for a class absent from both."""
    import numpy as np

    predicted = np.concatenate([model.predict(images[i:i + batch_size], verbose=0).argmax(-1)
                                for i in range(0, len(images), batch_size)])
    keep = masks != IGNORE_INDEX
    result = []
    for index in range(num_classes):
        truth, guess = (masks == index) & keep, (predicted == index) & keep
        union = int((truth | guess).sum())
        result.append(None if union == 0 else float((truth & guess).sum() / union))
    return result


def read_summary(run_dir):
    """The ``summary.json`` of a finished segmentation run."""
    with open(os.path.join(run_dir, engine.SUMMARY)) as handle:
        return json.load(handle)
