"""The seeds' study: one network trained with depthwise separable and with standard convolutions.

Both runs share the config, the data and the seed; only ``convolutions`` differs. The
table reports measured parameters, multiply-adds (:func:`keras_lightnets.profile`), test
accuracy, training time, and Keras CPU latency (batch 1, graph mode, median).
"""

import json
import os
import time

import numpy as np

from keras_lightnets.export.atomic import atomic_write_bytes
from keras_lightnets.model_files import load_keras_model

KINDS = ("separable", "standard")


def cpu_latency_ms(model, repeats=50):
    """Median latency in ms of one image through a traced model (batch 1, after warm-up).

    Args:
        model: Keras model with a fixed input shape.
        repeats: Timed calls (int >= 1).

    Returns:
        float milliseconds.
    """
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    image = tf.random.uniform((1, *model.input_shape[1:]), 0, 255)
    for _ in range(5):
        function(image).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(image).numpy()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def compare(config, overwrite=False):
    """Trains the separable network and its standard twin; writes the table and plot.

    Args:
        config: ``TrainConfig`` of the separable run (model must be MobileNetV1 or Xception);
            runs go to ``<output_dir>/separable`` and ``<output_dir>/standard``.
        overwrite: Retrain runs already finished.

    Returns:
        dict kind -> row (params, macs, test_accuracy, train_seconds, latency_ms, run_dir).
    """

    from keras_lightnets.profiling import profile
    from keras_lightnets.train.engine import fit_or_reuse
    from keras_lightnets.train.history import read_history

    rows = {}
    for kind in KINDS:
        run_config = config.replace(convolutions=kind, output_dir=os.path.join(config.run_dir, kind))
        summary = fit_or_reuse(run_config, overwrite)
        model = load_keras_model(os.path.join(run_config.run_dir, "model.keras"))
        cost = profile(model)
        rows[kind] = {
            "params": int(cost.params), "macs": int(cost.macs), "test_accuracy": summary["test_accuracy"],
            "train_seconds": summary["train_seconds_this_process"], "latency_ms": round(cpu_latency_ms(model), 3),
            "run_dir": run_config.run_dir, "history": read_history(os.path.join(run_config.run_dir, "history.csv")),
        }
    write_report(rows, config)
    return rows


def format_table(rows):
    """A Markdown table of the two runs and their ratios."""
    sep, std = rows["separable"], rows["standard"]
    lines = [
        "| network | params | MACs | test accuracy | train time | CPU latency (batch 1) |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        row = rows[kind]
        lines.append(
            f"| {kind} | {row['params']:,} | {row['macs'] / 1e6:.2f}M | {100 * row['test_accuracy']:.2f}% | "
            f"{row['train_seconds']:.0f} s | {row['latency_ms']:.2f} ms |"
        )
    lines.append(
        f"| standard / separable | {std['params'] / sep['params']:.1f}x | {std['macs'] / sep['macs']:.1f}x | "
        f"{100 * (std['test_accuracy'] - sep['test_accuracy']):+.2f} points | "
        f"{std['train_seconds'] / sep['train_seconds']:.1f}x | {std['latency_ms'] / sep['latency_ms']:.1f}x |"
    )
    return "\n".join(lines)


def write_report(rows, config):
    """Writes ``comparison.md``, ``comparison.json`` and ``comparison.png`` in ``config.run_dir``."""
    os.makedirs(config.run_dir, exist_ok=True)
    title = f"{config.model} (alpha {config.alpha}) on {config.dataset}, {config.image_size}px, {config.epochs} epochs"
    text = f"# Depthwise separable vs standard convolutions\n\n{title}\n\n{format_table(rows)}\n"
    atomic_write_bytes(os.path.join(config.run_dir, "comparison.md"), text.encode())
    plain = {kind: {k: v for k, v in row.items() if k != "history"} for kind, row in rows.items()}
    atomic_write_bytes(os.path.join(config.run_dir, "comparison.json"), json.dumps(plain, indent=2).encode())
    _plot(rows, os.path.join(config.run_dir, "comparison.png"), title)


def _plot(rows, path, title):
    from keras_lightnets.train.history import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    colors = {"separable": "tab:blue", "standard": "tab:orange"}
    for axis, key, label, scale in (
        (axes[0], "params", "parameters (millions)", 1e-6), (axes[1], "macs", "multiply-adds (millions)", 1e-6),
        (axes[2], "latency_ms", "CPU latency, batch 1 (ms)", 1.0),
    ):
        values = [rows[kind][key] * scale for kind in KINDS]
        axis.bar(KINDS, values, color=[colors[k] for k in KINDS])
        for index, value in enumerate(values):
            axis.text(index, value, f"{value:.2f}", ha="center", va="bottom")
        axis.set_title(label)
    for kind in KINDS:
        history = rows[kind]["history"]
        axes[3].plot([r["epoch"] + 1 for r in history], [100 * r["test_accuracy"] for r in history], color=colors[kind], label=kind)
    axes[3].set_title("test accuracy (%) per epoch")
    axes[3].set_xlabel("epoch")
    axes[3].legend()
    axes[3].grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
