"""The prune and QAT recipes: fine-tune a trained model with tfmot, export TFLite, measure before and after.

Both start from a trained Keras 3 ``.keras`` model (by default the digits
recipe's, trained first with the training engine when it is missing), load
its dataset at the model's resolution, fine-tune in tf_keras, and write to
``output_dir``:

* prune: ``pruned.keras`` (Keras 3, sparse weights), ``baseline_fp32.tflite``,
  ``pruned_fp32.tflite``, the sparsity table;
* qat: ``baseline_fp32.tflite``, ``qat_int8.tflite``;
* both: ``report.json`` / ``report.md`` with accuracy, size, gzip size and
  LiteRT CPU latency of every artifact. Every file is written atomically.
"""

import dataclasses
import gzip
import json
import os
import time

import numpy as np

from keras_lightnets import validation
from keras_lightnets.export.atomic import atomic_write_bytes

DEFAULT_MODEL = os.path.join("runs", "mobilenet_v1_digits", "model.keras")  # the main job's model
# Training batches whose images set the activation ranges before quantization-aware fine-tuning.
CALIBRATION_BATCHES = 16


def default_output_dir(model_path, recipe):
    """Where a recipe's results go by default: ``<the model's run directory>/<recipe>``.

    Args:
        model_path: The ``.keras`` file being compressed, e.g. ``runs/mobilenet_v1_digits/model.keras``.
        recipe: ``"pruned"`` or ``"qat"``.

    Returns:
        str, e.g. ``runs/mobilenet_v1_digits/pruned``.
    """
    return os.path.join(os.path.dirname(os.fspath(model_path)) or ".", recipe)


@dataclasses.dataclass
class Artifact:
    """One model file and what was measured on it.

    Attributes:
        name: "keras", "baseline_fp32", "pruned_fp32", "qat_int8", ...
        path: File on disk.
        accuracy: Test accuracy (LiteRT for .tflite files, Keras otherwise).
        size_kb: Size on disk in KB.
        gzip_kb: Size after gzip -9 in KB (what sparsity buys in a download).
        cpu_ms: LiteRT CPU (XNNPACK, 2 threads) median latency at batch 1, or None.
    """

    name: str
    path: str
    accuracy: float
    size_kb: float
    gzip_kb: float
    cpu_ms: float = None


def gzip_kb(path):
    """Size of ``path`` compressed with gzip at level 9, in KB."""
    with open(path, "rb") as handle:
        return len(gzip.compress(handle.read(), compresslevel=9)) / 1e3


def _test_arrays(data, image_size):
    """All test images (float32 [0, 255]) and integer labels as arrays."""
    from keras_lightnets import data as data_lib

    images, labels = [], []
    for batch, one_hot in data_lib.make_batches(data.test, image_size, 256, data.num_classes, training=False):
        images.append(batch.numpy())
        labels.append(np.argmax(one_hot.numpy(), axis=-1))
    return np.concatenate(images), np.concatenate(labels)


def measure_tflite(name, path, images, labels):
    """Accuracy of a batch-1 ``.tflite`` classifier over ``images`` with LiteRT, plus size and latency."""
    from keras_lightnets.export import litert

    runtime = litert.load(path)
    probabilities = next(iter(runtime(images).values()))
    accuracy = float(np.mean(np.argmax(probabilities, -1) == labels))
    return Artifact(name, path, accuracy, os.path.getsize(path) / 1e3, gzip_kb(path), runtime.latency_ms(runs=200))


def measure_keras(name, path, model, images, labels):
    """Accuracy of a Keras 3 classifier over ``images``, plus its file size."""
    probabilities = model.predict(images, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(probabilities, -1) == labels))
    return Artifact(name, path, accuracy, os.path.getsize(path) / 1e3, gzip_kb(path))


@dataclasses.dataclass
class Session:
    """What both recipes share: the trained model, its data, where results go, how to report progress."""

    model: object
    data: object
    image_size: int
    output_dir: str
    batch_size: int
    log: object
    seed: int = 0
    max_steps_per_epoch: int | None = None

    def train_batches(self):
        """Shuffled training batches (no augmentation: a short fine-tune at a low rate), in ``seed``'s order."""
        from keras_lightnets import data as data_lib

        return data_lib.make_batches(self.data.train, self.image_size, self.batch_size, self.data.num_classes, True,
                                     seed=self.seed)

    def calibration_images(self, batches=CALIBRATION_BATCHES):
        """The first ``batches`` shuffled training batches' images (no augmentation), one array."""
        return np.concatenate([images.numpy() for images, _ in self.train_batches().take(batches)])

    def steps_per_epoch(self):
        """Training batches per epoch: the whole training set, or ``max_steps_per_epoch`` of it."""
        steps = max(1, self.data.train_size // self.batch_size)
        return steps if self.max_steps_per_epoch is None else min(steps, self.max_steps_per_epoch)

    def path(self, name):
        """A file in the output directory."""
        return os.path.join(self.output_dir, name)


def open_session(model_path, dataset, data_dir, output_dir, batch_size, log=print, seed=0, max_steps_per_epoch=None):
    """Loads a trained ``.keras`` classifier and its dataset at the model's input size.

    Args:
        model_path: ``.keras`` file; the default digits model is trained first
            (training engine, ``digits`` preset) when it does not exist.
        dataset: Dataset name (see :func:`keras_lightnets.data.load_dataset`).
        data_dir: Dataset directory or None.
        output_dir: Directory for results (created).
        batch_size: Fine-tuning batch size (int >= 1).
        log: Progress printer.
        seed: Seed of the fine-tuning's shuffle order and random state (int >= 0).
        max_steps_per_epoch: Fine-tune on at most this many batches per epoch (int >= 1; None: the whole
            training set).

    Returns:
        :class:`Session`.
    """
    from keras_lightnets import data as data_lib
    from keras_lightnets.train.evaluate import load_classifier_and_data

    validation.check_number("batch_size", batch_size, minimum=1, integer=True)
    validation.check_number("seed", seed, minimum=0, integer=True)
    if max_steps_per_epoch is not None:
        validation.check_number("max_steps_per_epoch", max_steps_per_epoch, minimum=1, integer=True)
    if os.fspath(model_path) == DEFAULT_MODEL and not os.path.isfile(DEFAULT_MODEL):
        from keras_lightnets.train.engine import fit_or_reuse
        from keras_lightnets.train.presets import preset

        log(f"{DEFAULT_MODEL} not found: training it first (digits preset) ...")
        fit_or_reuse(preset("digits"))
    model, data = load_classifier_and_data(model_path, dataset, data_dir)
    height = model.input_shape[1]
    data_lib.check_batch_size(batch_size, data.train_size)
    os.makedirs(output_dir, exist_ok=True)
    return Session(model, data, height, os.fspath(output_dir), batch_size, log, seed, max_steps_per_epoch)


def recipe_parser(description, output_dir, epochs, learning_rate):
    """The flags both compression recipes take: model, data, fine-tuning and output.

    Args:
        description: ``--help`` text.
        output_dir: Name of the default ``--output-dir`` inside the model's run directory (``"pruned"``, ``"qat"``).
        epochs: Default ``--epochs``.
        learning_rate: Default ``--learning-rate``.

    Returns:
        ``argparse.ArgumentParser``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"trained .keras model (default {DEFAULT_MODEL})")
    parser.add_argument("--dataset", default="digits", help="dataset the model was trained on (default digits)")
    parser.add_argument("--data-dir", default=None, help="dataset directory (Fashion-MNIST IDX or tfds data_dir)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"fine-tuning epochs (default {epochs})")
    parser.add_argument("--learning-rate", type=float, default=learning_rate, help=f"SGD learning rate (default {learning_rate:g})")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fine-tuning's shuffle order (default 0)")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="fine-tune on at most this many batches per epoch (default: the whole training set)")
    parser.add_argument("--output-dir", default=None,
                        help=f"where results go (default: {output_dir}/ in the model's run directory, "
                             f"e.g. {default_output_dir(DEFAULT_MODEL, output_dir)})")
    parser.set_defaults(output_recipe=output_dir)
    from keras_lightnets.train.flags import add_logs_flag

    add_logs_flag(parser)
    return parser


def session_from_flags(args):
    """A :class:`Session` from the flags of :func:`recipe_parser`."""
    output_dir = args.output_dir or default_output_dir(args.model, args.output_recipe)
    return open_session(args.model, args.dataset, args.data_dir, output_dir, args.batch_size, seed=args.seed,
                        max_steps_per_epoch=args.steps_per_epoch)


def fine_tune(session, legacy_model, epochs, learning_rate, callbacks=()):
    """Fine-tunes a tf_keras model (pruning- or quantization-wrapped) with SGD + momentum on the session's data.

    Args:
        session: :class:`Session`.
        legacy_model: tf_keras model from :func:`~keras_lightnets.compress.prune` or
            :func:`~keras_lightnets.compress.quantize_aware`.
        epochs: Epochs (int >= 1).
        learning_rate: Constant learning rate (> 0; a tenth of the training peak or less).
        callbacks: Extra tf_keras callbacks.
    """
    import tensorflow as tf

    from keras_lightnets.compress import backend

    validation.check_number("epochs", epochs, minimum=1, integer=True)
    validation.check_number("learning_rate", learning_rate, minimum=0.0, exclusive_minimum=True)
    tf_keras = backend.tf_keras()
    legacy_model.compile(
        optimizer=tf_keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss=tf_keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    tf.random.set_seed(session.seed)
    steps = session.steps_per_epoch()
    session.log(f"fine-tuning {epochs} epoch(s) of {steps} steps at lr {learning_rate:g}, seed {session.seed} ...")
    legacy_model.fit(session.train_batches(), epochs=epochs, steps_per_epoch=steps, callbacks=list(callbacks), verbose=2)


def baseline(session, images, labels):
    """The trained model as it is: Keras accuracy and its fp32 TFLite file, measured."""
    from keras_lightnets.export import to_tflite

    path = to_tflite(session.model, session.path("baseline_fp32.tflite"))
    return measure_tflite("baseline_fp32", path, images, labels)


def save_keras(model, path):
    """Saves a Keras 3 model atomically (temporary file, then rename)."""
    temporary = f"{path}.partial.keras"
    model.save(temporary)
    os.replace(temporary, path)
    return path


def write_report(session, title, artifacts, extra):
    """Writes ``report.json`` and ``report.md``; returns the markdown text."""
    rows = [dataclasses.asdict(artifact) for artifact in artifacts]
    report = {"title": title, "artifacts": rows, **extra}
    lines = [f"# {title}", "", "| artifact | test accuracy | size KB | gzip KB | LiteRT CPU ms |", "|---|---|---|---|---|"]
    for artifact in artifacts:
        latency = f"{artifact.cpu_ms:.3f}" if artifact.cpu_ms is not None else "-"
        lines.append(f"| {artifact.name} | {artifact.accuracy:.2%} | {artifact.size_kb:,.1f} | {artifact.gzip_kb:,.1f} | {latency} |")
    text = "\n".join(lines) + "\n"
    for key, value in extra.items():
        if isinstance(value, str) and "\n" in value:
            text += f"\n{key}:\n```\n{value}\n```\n"
    atomic_write_bytes(session.path("report.json"), (json.dumps(report, indent=2) + "\n").encode())
    atomic_write_bytes(session.path("report.md"), text.encode())
    return text


def run_pruning(session, target_sparsity=0.5, epochs=10, learning_rate=0.01, exclude=()):
    """Prunes the session's model to ``target_sparsity`` while fine-tuning, strips it and measures it.

    The polynomial schedule reaches the target after two thirds of the steps,
    so the last third recovers at the final sparsity.

    Returns:
        The report dict (as written to ``report.json``).
    """
    from keras_lightnets import compress
    from keras_lightnets.export import to_tflite

    start = time.time()
    images, labels = _test_arrays(session.data, session.image_size)
    before = baseline(session, images, labels)
    total = epochs * session.steps_per_epoch()
    frequency = max(1, min(100, total // 20))
    pruned = compress.prune(session.model, target_sparsity, end_step=max(1, (2 * total) // 3), frequency=frequency, exclude=exclude)
    fine_tune(session, pruned, epochs, learning_rate, compress.pruning_callbacks())
    sparse = compress.strip(pruned)
    keras_file = save_keras(sparse, session.path("pruned.keras"))
    report = compress.sparsity_report(sparse)
    after = measure_tflite("pruned_fp32", to_tflite(sparse, session.path("pruned_fp32.tflite")), images, labels)
    artifacts = [before, after, measure_keras("pruned.keras", keras_file, sparse, images, labels)]
    extra = {
        "target_sparsity": target_sparsity, "kernel_sparsity": report.kernel_sparsity,
        "model_sparsity": report.model_sparsity, "sparsity_by_layer_class": report.by_kind(),
        "epochs": epochs, "learning_rate": learning_rate, "seconds": round(time.time() - start, 1),
        "sparsity": report.format(),
    }
    session.log(write_report(session, f"Pruning {session.model.name} to {target_sparsity:.0%}", artifacts, extra))
    return {"artifacts": [dataclasses.asdict(a) for a in artifacts], **extra}


def run_qat(session, epochs=3, learning_rate=1e-4):
    """Quantization-aware fine-tuning, then the int8 TFLite file measured against the fp32 one.

    The activation ranges start from ``CALIBRATION_BATCHES`` training batches
    (:func:`keras_lightnets.compress.ranges.calibrate_ranges`), so a fine-tune of a few
    hundred steps does not clip a trained network's linear outputs.

    Returns:
        The report dict (as written to ``report.json``).
    """
    from keras_lightnets import compress
    from keras_lightnets.export.tflite import float_ops

    start = time.time()
    images, labels = _test_arrays(session.data, session.image_size)
    before = baseline(session, images, labels)
    calibration = session.calibration_images()
    session.log(f"activation ranges from {len(calibration)} training images ...")
    qat = compress.quantize_aware(session.model, calibration=calibration, batch_size=session.batch_size)
    fine_tune(session, qat, epochs, learning_rate)
    path = compress.to_int8_tflite(qat, session.path("qat_int8.tflite"))
    left_in_float = float_ops(path)
    after = measure_tflite("qat_int8", path, images, labels)
    extra = {
        "epochs": epochs, "steps_per_epoch": session.steps_per_epoch(), "seed": session.seed,
        "calibration_images": len(calibration),
        "learning_rate": learning_rate, "float_ops": left_in_float,
        "speedup_vs_fp32": before.cpu_ms / after.cpu_ms, "seconds": round(time.time() - start, 1),
    }
    session.log(write_report(session, f"Quantization-aware training of {session.model.name} (int8)", [before, after], extra))
    return {"artifacts": [dataclasses.asdict(a) for a in (before, after)], **extra}
