"""The training engine every recipe uses: data, model, optimizer, callbacks, fit, evaluate, save.

A run directory holds::

    config.json          the run's TrainConfig (a resumed run must match it)
    labels.txt           the dataset's class names, one per line (index = label)
    backup/              BackupAndRestore state while training (removed when the run ends)
    checkpoints/best.keras  best test-accuracy model so far (ModelCheckpoint)
    logs/                TensorBoard event files
    history.csv          one row per epoch (resume-safe)
    curves.png           loss and accuracy curves
    model.keras          the final model (EMA weights when EMA is on)
    summary.json         test metrics, sizes, wall time (written last: marks a finished run)
"""

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time

from keras_lightnets import keras_internals, labels, validation
from keras_lightnets.export.atomic import atomic_write_bytes

SUMMARY = "summary.json"
CONFIG = "config.json"


@dataclasses.dataclass
class FitResult:
    """What a finished run produced.

    Attributes:
        model: The trained ``keras.Model``.
        summary: Dict written to ``summary.json`` (test accuracy/loss, epochs, wall time...).
        run_dir: The run directory.
        history: Per-epoch rows (see :mod:`keras_lightnets.train.history`).
    """

    model: object
    summary: dict
    run_dir: str
    history: list


def _write_json(path, value):
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def _check_run_dir(run_dir, config, overwrite):
    """Refuses to mix runs: a finished run or a different config in ``run_dir``."""
    summary, saved_config = os.path.join(run_dir, SUMMARY), os.path.join(run_dir, CONFIG)
    if overwrite and os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    if os.path.exists(summary):
        validation.fail("output_dir", run_dir, "a directory without a finished run (this one has summary.json); "
                        "pass overwrite=True / --overwrite or another --output-dir")
    if os.path.exists(saved_config):
        with open(saved_config) as handle:
            previous = json.load(handle)
        defaults = type(config)().to_dict()  # fields added since that run was started keep their defaults
        changed = sorted(k for k, v in config.to_dict().items() if k != "verbose" and previous.get(k, defaults[k]) != v)
        if changed:
            validation.fail(
                "output_dir", run_dir,
                f"the same config to resume the interrupted run there (changed: {', '.join(changed)}), "
                "or another --output-dir / --overwrite",
            )


def _callbacks(config, run_dir, chief, write_dir, monitor="test_accuracy", mode="max"):
    """A run's callbacks; ``monitor`` is the test metric ``checkpoints/best.keras`` maximizes (``mode="min"``: minimizes)."""
    import keras

    from keras_lightnets.train.history import EpochHistory, TestSetNames

    # double_checkpoint: a kill during a backup write falls back to the previous epoch's backup.
    callbacks = [TestSetNames(), keras.callbacks.BackupAndRestore(os.path.join(write_dir, "backup"), double_checkpoint=True)]
    if config.ema_momentum is not None:
        # After BackupAndRestore: backups hold the raw weights; what follows sees the EMA weights.
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(EpochHistory(
        os.path.join(run_dir, "history.csv"), write=chief,
        on_resume=lambda epoch: _say(config, f"resuming the interrupted run at epoch {epoch + 1}/{config.epochs}"),
    ))
    callbacks.append(keras.callbacks.ModelCheckpoint(
        os.path.join(write_dir, "checkpoints", "best.keras"), monitor=monitor, mode=mode, save_best_only=True,
    ))
    if _tensorboard_installed():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(write_dir, "logs"), write_graph=False))
    return callbacks


def _tensorboard_installed():
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _say(config, message):
    if config.verbose:
        print(f"[lightnets] {message}", flush=True)


def fit(config, overwrite=False, build=None):
    """Trains, evaluates and saves one model; resumes an interrupted run in the same directory.

    Args:
        config: :class:`~keras_lightnets.train.config.TrainConfig`.
        overwrite: Delete a previous run in ``config.run_dir`` first (bool).
        build: Optional ``build(config, num_classes, channels) -> keras.Model`` (called in the
            strategy's scope); default :func:`~keras_lightnets.train.model_factory.build_model`.

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError: bad config field (named), batch larger than the data, a finished or different run in the directory.
        keras_lightnets.data.DatasetNotFoundError: the dataset is not on this machine.
        keras_lightnets.train.strategy.StrategyUnavailableError: the strategy cannot run here.
    """
    config.validate()
    from keras_lightnets.train.strategy import make_strategy

    strategy = make_strategy(config.strategy)  # first: multi-worker set-up must precede other TF work
    run = _start_run(config, strategy, overwrite)
    model = _compiled_model(config, strategy, run, build)
    if run.chief:  # only once the model exists: a build that fails (e.g. missing weights) leaves no run behind
        os.makedirs(run.run_dir, exist_ok=True)
        _write_json(os.path.join(run.run_dir, CONFIG), config.to_dict())
        labels.write_labels(os.path.join(run.run_dir, labels.LABELS_FILE), run.dataset.class_names)
    measured = _train_and_evaluate(config, strategy, run, model)
    return _finish_run(config, run, model, _summary(config, strategy, run, model, measured))


@dataclasses.dataclass
class _Run:
    """Where one training process stands: its data, its role and its directories."""

    dataset: object
    chief: bool
    run_dir: str
    write_dir: str
    jit_compile: bool


def _start_run(config, strategy, overwrite):
    """Seeds, precision, the dataset, this process's role and directories (the chief checks the run directory)."""
    import keras

    from keras_lightnets import data as data_lib
    from keras_lightnets.train.strategy import is_chief
    from keras_lightnets.train.xla import resolve_jit_compile

    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    dataset = data_lib.load_dataset(config.dataset, config.data_dir, config.image_size, config.channels, seed=config.seed)
    data_lib.check_batch_size(config.batch_size, dataset.train_size)
    chief = is_chief(strategy)
    run_dir = config.run_dir
    if chief:
        _check_run_dir(run_dir, config, overwrite)
        write_dir = run_dir
    else:  # other workers keep their backups apart and drop them at the end
        write_dir = os.path.join(run_dir, f".worker-{strategy.cluster_resolver.task_id}")
    jit_compile = resolve_jit_compile(config.xla)
    _say(config, f"{dataset.name}: {dataset.train_size} train / {dataset.test_size} test images, "
                 f"{dataset.num_classes} classes; {config.model} at {config.image_size}px, "
                 f"{strategy.num_replicas_in_sync} replica(s), XLA {'on' if jit_compile else 'off'}, {config.precision}")
    return _Run(dataset, chief, run_dir, write_dir, jit_compile)


def _compiled_model(config, strategy, run, build):
    """The model, built and compiled in the strategy's scope (batch norms synchronized across replicas)."""
    import keras

    from keras_lightnets.train.model_factory import build_model, set_batch_norm
    from keras_lightnets.train.optimizer import make_optimizer
    from keras_lightnets.train.schedule import make_schedule

    steps = run.dataset.train_size // config.batch_size
    with strategy.scope():
        model = (build or build_model)(config, run.dataset.num_classes, run.dataset.channels)
        if strategy.num_replicas_in_sync > 1:
            set_batch_norm(model, synchronized=True)
        optimizer = make_optimizer(config, make_schedule(config, steps), model)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"], jit_compile=run.jit_compile,
        )
    return model


def _train_and_evaluate(config, strategy, run, model):
    """``Model.fit`` over the run's epochs, then the final test evaluation; (seconds, loss, accuracy, TTA accuracy)."""
    from keras_lightnets import data as data_lib
    from keras_lightnets.train.training_kernels import training_kernels

    dataset = run.dataset
    augmenter = data_lib.make_augmenter(
        config.augment, dataset.channels, seed=config.seed, translate=config.translate,
        random_erasing=config.random_erasing,
    )
    train = data_lib.make_batches(dataset.train, config.image_size, config.batch_size, dataset.num_classes, True, augmenter, config.seed)
    test = data_lib.make_batches(dataset.test, config.image_size, config.batch_size, dataset.num_classes, False)
    started = time.time()
    with training_kernels(model), _fit_workarounds(model, strategy):
        with _fit_strategy_scope(strategy):
            model.fit(
                train, epochs=config.epochs, validation_data=test, verbose=config.verbose, shuffle=False,
                callbacks=_callbacks(config, run.run_dir, run.chief, run.write_dir),
            )
        train_seconds = time.time() - started
        return (train_seconds, *_evaluate_everything(model, test, config.label_smoothing, config.tta))


def _summary(config, strategy, run, model, measured):
    """The run's summary.json content."""
    from keras_lightnets.train.history import read_history

    train_seconds, test_loss, test_accuracy, tta_accuracy = measured
    history = read_history(os.path.join(run.run_dir, "history.csv")) if run.chief else []
    best = best_epoch(history)
    summary = {
        "model": config.model, "dataset": run.dataset.name, "image_size": config.image_size,
        "params": int(model.count_params()), "epochs": config.epochs,
        "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
        "train_images": run.dataset.train_size, "test_images": run.dataset.test_size,
        "train_seconds_this_process": round(train_seconds, 1), "replicas": strategy.num_replicas_in_sync,
        "xla": run.jit_compile, "precision": config.precision, "ema": config.ema_momentum is not None,
    }
    if tta_accuracy is not None:
        summary.update(tta=config.tta, test_accuracy_tta=tta_accuracy)
    if best is not None:
        summary["best_checkpoint"] = {
            "path": os.path.join("checkpoints", "best.keras"), "epoch": best[0] + 1, "test_accuracy": best[1],
        }
    return summary, history


def _finish_run(config, run, model, summary_and_history):
    """The chief saves model.keras, curves.png and summary.json and prints the report; other workers clean up."""
    from keras_lightnets.train.history import plot_history

    summary, history = summary_and_history
    result = FitResult(model, summary, run.run_dir, history)
    if run.chief:
        _save_model(model, os.path.join(run.run_dir, "model.keras"))
        plot_history(history, os.path.join(run.run_dir, "curves.png"), f"{config.model} on {run.dataset.name}")
        _write_json(os.path.join(run.run_dir, SUMMARY), summary)
        if config.verbose:
            print("\n".join(report_lines(result)), flush=True)
    else:
        shutil.rmtree(run.write_dir, ignore_errors=True)
    return result


def best_epoch(history):
    """(epoch index, test accuracy) of the epoch ModelCheckpoint kept as ``best.keras``, or None.

    The first epoch with the highest test accuracy, as ``save_best_only`` keeps it.
    """
    rows = [row for row in history if "test_accuracy" in row]
    if not rows:
        return None
    best = max(rows, key=lambda row: (row["test_accuracy"], -row["epoch"]))
    return int(best["epoch"]), float(best["test_accuracy"])


def report_lines(result):
    """The final report of a run, printed once at its end.

    Args:
        result: :class:`FitResult`.

    Returns:
        List of lines: what ``model.keras`` and ``checkpoints/best.keras`` are and their test
        accuracies, and where the run is.
    """
    summary = result.summary
    images = summary["test_images"]
    lines = [
        f"[lightnets] finished: {summary['model']} on {summary['dataset']}, {summary['epochs']} epochs, "
        f"{summary['train_seconds_this_process']:.0f} s of training in this process",
        f"  model.keras             the last epoch's weights{' (EMA)' if summary.get('ema') else ''}: "
        f"test accuracy {summary['test_accuracy']:.4f}{_tta_words(summary)} ({images} test images)",
    ]
    best = summary.get("best_checkpoint")
    if best:
        lines.append(
            f"  checkpoints/best.keras  epoch {best['epoch']}, the highest test accuracy of any epoch: "
            f"{best['test_accuracy']:.4f} (chosen on the test set, so an optimistic figure)"
        )
    lines.append(f"  run directory: {result.run_dir} (config.json, history.csv, curves.png, summary.json)")
    return lines


def _tta_words(summary):
    """", 0.9412 with flip_shift test-time augmentation" when the summary has it, else ""."""
    if "test_accuracy_tta" not in summary:
        return ""
    return f", {summary['test_accuracy_tta']:.4f} with {summary['tta']} test-time augmentation"


def fit_or_reuse(config, overwrite=False, build=None):
    """Runs :func:`fit` unless ``config.run_dir`` already holds a finished run.

    Multi-run recipes (fine-tuning phases, the comparison study) use it so that rerunning
    them after an interruption skips the runs that finished.

    Args:
        config: ``TrainConfig``.
        overwrite: Retrain even a finished run.
        build: As for :func:`fit`.

    Returns:
        The run's summary dict (``summary.json``).
    """
    path = os.path.join(config.run_dir, SUMMARY)
    if overwrite or not os.path.exists(path):
        fit(config, overwrite, build)
    with open(path) as handle:
        return json.load(handle)


def _evaluate_everything(model, batches, label_smoothing, tta):
    """(loss, accuracy, accuracy over the ``tta`` views or None) on every test batch in this
    process, outside any distribution."""
    import keras
    import numpy as np

    from keras_lightnets.train.test_time_augmentation import predict_batches

    probabilities, averaged, labels = predict_batches(model, batches, tta)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)(labels, probabilities)

    def accuracy(predicted):
        return float(np.mean(np.argmax(predicted, -1) == np.argmax(labels, -1)))

    return float(loss), accuracy(probabilities), None if tta == "none" else accuracy(averaged)


def _with_rank1_logs(step):
    import keras

    def step_with_rank1_logs(data):
        return {name: keras.ops.reshape(value, (1,)) for name, value in step(data).items()}

    return step_with_rank1_logs


def _multi_worker(strategy):
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


@contextlib.contextmanager
def _fit_workarounds(model, strategy):
    """What ``Model.fit`` and the evaluation after it need around the model; the model is given back as received.

    Keras 3.15's fit does not work with MultiWorkerMirroredStrategy (keras-team/keras#20585),
    for two reasons, each worked around here for that strategy only:

    1. Before training it reduces the first (images, labels) batch with ``strategy.reduce``
       to build the model symbolically; the multi-worker reduce rejects a tuple. The model
       forgets the strategy it was built under and fit runs inside that strategy's scope
       (:func:`_fit_strategy_scope`): Keras reads the same strategy from the scope and builds
       on the first traced step; the evaluation after fit runs outside it, on this worker's data.
    2. It reduces every step's scalar logs with ``reduce("MEAN", axis=0)``, which fails on
       scalars; the steps return them as 1-element vectors, whose mean over workers is the
       global value.

    Every other strategy runs unchanged. On leaving, the model has its own strategy
    again and no step left in its instance dictionary.
    """
    if not _multi_worker(strategy):
        yield
        return
    steps = ("train_step", "test_step")
    with keras_internals.forgotten_distribute_strategy(model):
        for name in steps:
            setattr(model, name, _with_rank1_logs(getattr(model, name)))
        try:
            yield
        finally:
            for name in steps:
                delattr(model, name)


def _fit_strategy_scope(strategy):
    """The scope ``Model.fit`` runs in: the multi-worker strategy's (see :func:`_fit_workarounds`), else none."""
    return strategy.scope() if _multi_worker(strategy) else contextlib.nullcontext()


def _save_model(model, path):
    """Saves a ``.keras`` file atomically (written beside, then renamed)."""
    handle, temporary = tempfile.mkstemp(suffix=".keras", prefix=".model-", dir=os.path.dirname(path) or ".")
    os.close(handle)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
