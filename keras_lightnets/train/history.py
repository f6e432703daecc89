"""Resume-safe training history: one CSV row per epoch, never duplicated or lost, and a PNG of the curves."""

import csv
import os

import keras

from keras_lightnets.export.atomic import atomic_write_bytes


def read_history(path):
    """Rows of a history CSV as dicts of floats keyed by column (``epoch`` is an int); [] if absent."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()} for row in rows]


def _write(path, rows):
    columns = ["epoch"] + sorted({key for row in rows for key in row} - {"epoch"})
    lines = [",".join(columns)] + [",".join(repr(row.get(c, "")) for c in columns) for row in rows]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


class TestSetNames(keras.callbacks.Callback):
    """Renames Keras' ``val_*`` epoch metrics to ``test_*``: the engine holds out the dataset's test split.

    Must come first among the callbacks: Keras hands every callback, and then its
    progress bar, the same logs dict, so the progress line, ``history.csv``,
    TensorBoard and the checkpoint monitor all see ``test_loss`` / ``test_accuracy``.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key in [key for key in logs if key.startswith("val_")]:
            logs["test_" + key[len("val_"):]] = logs.pop(key)


class EpochHistory(keras.callbacks.Callback):
    """Writes ``history.csv`` atomically at every epoch end.

    When a run resumes at epoch ``e`` (BackupAndRestore), rows of epochs ``>= e``
    left by the interrupted run are dropped first, so each epoch appears once.

    Args:
        path: CSV path.
        write: False on non-chief workers of a multi-worker run (they keep nothing).
        on_resume: Optional ``callable(epoch)`` called when training starts at epoch > 0.
    """

    def __init__(self, path, write=True, on_resume=None):
        super().__init__()
        self.path, self.write, self.on_resume = path, write, on_resume
        self.rows = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.rows = [row for row in read_history(self.path) if row["epoch"] < epoch]
            if epoch > 0 and self.on_resume:
                self.on_resume(epoch)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))}
        row.update({key: float(value) for key, value in (logs or {}).items()})
        self.rows.append(row)
        if self.write:
            _write(self.path, self.rows)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(figure, path):
    """Writes a figure as PNG atomically (beside, then renamed) and closes it; returns the path."""
    import matplotlib.pyplot as plt

    temporary = path + ".tmp.png"
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    os.replace(temporary, path)
    return path


def plot_history(rows, path, title=""):
    """Saves loss and accuracy curves (train and test) of history rows as a PNG.

    Args:
        rows: Rows from :func:`read_history`.
        path: PNG path.
        title: Figure title.

    Returns:
        The path, or None when matplotlib is not installed or there are no rows.
    """
    plt = pyplot()
    if not rows or plt is None:
        return None
    epochs = [row["epoch"] + 1 for row in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("test_", "--")):
            if prefix + metric in rows[0]:
                label = ("test " if prefix else "train ") + metric
                axis.plot(epochs, [row[prefix + metric] for row in rows], style, marker="o", markersize=3, label=label)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
