"""Fine-tuning from pretrained weights: a new head on the frozen backbone, then the backbone itself.

What "frozen" means follows Keras 3. Calling ``backbone(x, training=False)``
inside a functional model does not keep its batch normalization in
inference mode: when ``fit`` calls the outer model with ``training=True``,
that value reaches every inner layer. A ``BatchNormalization`` normalizes
with its moving statistics, and leaves them and its scale and offset
untouched, only when ``layer.trainable`` is False. So with ``bn="frozen"``
(the default) every batch-norm layer of the backbone is non-trainable in
both phases: the ImageNet statistics stay exactly as loaded and the
fine-tuned convolutions keep seeing the activation statistics they were
trained with. Letting them train on a small, differently distributed
dataset (the old behaviour) moved them within one batch and, on the digits,
took the network to chance accuracy. ``bn="adapt"`` lets the batch norms of
the unfrozen blocks train, for data far from the pretraining images.

The run directory holds the two engine runs and the result::

    1-head/        phase 1: the new classifier on the frozen backbone (an engine run)
    2-full/        phase 2: the unfrozen blocks and the classifier (an engine run)
    model.keras    the result: phase 2's final model
    labels.txt     the class names, one per line
    summary.json   both phases' test figures (written last: marks a finished fine-tune)

Rerunning the same command after an interruption reuses a finished phase 1
and resumes phase 2.
"""

import dataclasses
import json
import os
import shutil
from typing import Union

from keras_lightnets import validation
from keras_lightnets.export.atomic import atomic_write_bytes
from keras_lightnets.model_files import load_keras_model

HEAD_DIR, FULL_DIR = "1-head", "2-full"
BN_MODES = ("frozen", "adapt")


@dataclasses.dataclass
class FineTuneOptions:
    """What fine-tuning adds to a phase-2 :class:`~keras_lightnets.train.config.TrainConfig`.

    Attributes:
        backbone: "imagenet" (the model's published weights), or a ``.keras`` model of the same
            architecture (e.g. a run's ``model.keras``) whose feature layers are copied by name.
        head_epochs: Epochs of phase 1, the new classifier on the frozen backbone (int >= 1).
        head_learning_rate: Peak learning rate of phase 1 at the config's ``base_batch_size`` (> 0);
            phase 2 uses the config's ``learning_rate``.
        unfreeze: What phase 2 trains: "all" (every backbone layer but frozen batch norms), or an
            int N >= 1: the last N blocks of the stage table and the layers after them.
        bn: "frozen" (every backbone batch norm in inference mode, statistics and affine parameters
            unchanged) or "adapt" (those of the unfrozen blocks train).
    """

    backbone: str = "imagenet"
    head_epochs: int = 1
    head_learning_rate: float = 1e-3
    unfreeze: Union[str, int] = "all"
    bn: str = "frozen"

    def validate(self):
        """Checks every field (raises LightnetsError naming the first bad one); returns self."""
        validation.check_number("head_epochs", self.head_epochs, minimum=1, integer=True)
        validation.check_number("head_learning_rate", self.head_learning_rate, minimum=0.0, exclusive_minimum=True)
        if self.unfreeze != "all" and (isinstance(self.unfreeze, bool) or not isinstance(self.unfreeze, int) or self.unfreeze < 1):
            validation.fail("unfreeze", self.unfreeze, "'all' or a number of blocks >= 1")
        validation.check_choice("bn", self.bn, BN_MODES)
        _check_backbone(self.backbone)
        return self


def _check_backbone(backbone):
    """``backbone`` if it is "imagenet" or the path of an existing ``.keras`` file (LightnetsError otherwise)."""
    path = os.fspath(backbone) if isinstance(backbone, (str, os.PathLike)) else None
    if backbone != "imagenet" and (path is None or not path.endswith(".keras") or not os.path.isfile(path)):
        validation.fail("backbone", backbone, '"imagenet" or the path of an existing .keras model')
    return backbone


def _backbone_kwargs(config, channels):
    kwargs = {"include_top": False, "input_shape": (config.image_size, config.image_size, channels)}
    if config.alpha is not None:
        kwargs["alpha"] = config.alpha
    if config.drop_connect_rate is not None:
        kwargs["drop_connect_rate"] = config.drop_connect_rate
    return kwargs


def transfer_model(config, num_classes, channels, backbone_weights, trainable=False):
    """A registry backbone with pretrained weights and a new classifier (global pooling, dropout, dense softmax).

    Args:
        config: ``TrainConfig`` (model name, alpha, image size, dropout).
        num_classes: Classes of the new task (int >= 2).
        channels: Input channels (1 or 3; "imagenet" needs 3).
        backbone_weights: "imagenet", or a ``.keras`` model of the same architecture
            (e.g. a run's ``model.keras``) whose feature layers are copied by name.
        trainable: Whether the backbone's weights train (its batch norms stay frozen either way).

    Returns:
        ``keras.Model`` taking raw [0, 255] images; its second layer is the backbone.
    """
    import keras

    from keras_lightnets import registry
    from keras_lightnets.weights import port_weights

    if backbone_weights == "imagenet":
        backbone = registry.create_model(config.model, weights="imagenet", **_backbone_kwargs(config, channels))
    else:
        _check_backbone(backbone_weights)
        backbone = _fresh_backbone(config, channels)
        port_weights(load_keras_model(backbone_weights, "backbone"), backbone)
    set_trainable(backbone, "all" if trainable else 0, "frozen")
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    x = backbone(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(config.dropout or 0.0, name="top_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_transfer")


def set_trainable(backbone, unfreeze, bn, ends=None):
    """Marks what of ``backbone`` trains.

    Args:
        backbone: The backbone model (built by this library, or loaded with the same layer names).
        unfreeze: "all", 0 (nothing: phase 1), or N >= 1 (the last N blocks and the layers after them).
        bn: "frozen" (no batch norm trains) or "adapt" (those in the trained part do).
        ends: Block end layer names when ``backbone`` carries no record (a loaded model).

    Raises:
        LightnetsError: N beyond the backbone's blocks (the message gives their number).
    """
    import keras

    from keras_lightnets.models import blocks

    backbone.trainable = unfreeze != 0  # sets every sublayer
    if unfreeze in ("all", 0):
        trained = set(map(id, backbone.layers)) if unfreeze == "all" else set()
    else:
        trained = set(map(id, blocks.trailing_layers(backbone, unfreeze, ends)))
    for layer in backbone.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = id(layer) in trained and (bn == "adapt" or not is_bn)


def _fresh_backbone(config, channels):
    """The configured backbone with random weights: the block record a loaded model lacks, a target for ported weights."""
    from keras_lightnets import registry

    return registry.create_model(config.model, weights=None, **_backbone_kwargs(config, channels))


def _block_ends(config, channels):
    """The block record of a fresh build of the configured backbone (a loaded model has none)."""
    from keras_lightnets.models import blocks

    return blocks.block_ends(_fresh_backbone(config, channels))


def _backbone_of(model):
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        validation.fail("model", model.name, "a transfer model with one backbone (as phase 1 writes it)")
    return nested[0]


def _phase_two_model(path, options):
    def build(config, num_classes, channels):
        model = load_keras_model(path)
        ends = None if options.unfreeze == "all" else _block_ends(config, channels)
        set_trainable(_backbone_of(model), options.unfreeze, options.bn, ends)
        return model
    return build


def check_unfreeze(config, options, channels):
    """Fails before any training when ``options.unfreeze`` asks for more blocks than the backbone has."""
    if options.unfreeze != "all":
        from keras_lightnets.models import blocks

        blocks.trailing_layers(_fresh_backbone(config, channels), options.unfreeze)


def fine_tune(config, options=None, overwrite=False):
    """Trains a new head on the frozen backbone, then the unfrozen part of the network.

    Args:
        config: Validated-able ``TrainConfig`` of phase 2 (its ``learning_rate``, ``epochs``, optimizer,
            schedule, augmentation and ``label_smoothing``); ``run_dir`` gets both phases and the result
            (without ``output_dir``: ``runs/<model>_<dataset>_finetune``).
            Phase 1 uses the same config with ``options.head_epochs`` and ``options.head_learning_rate``.
        options: :class:`FineTuneOptions` (default: ImageNet weights, 1 head epoch at 1e-3, everything
            unfrozen, batch norms frozen).
        overwrite: Delete a previous fine-tune in ``config.run_dir`` first.

    Returns:
        dict: the fine-tune's summary (also ``summary.json``): ``model`` (the result's path),
        ``test_accuracy``, ``test_loss``, ``head`` and ``full`` (each phase's summary).
    """
    from keras_lightnets import data as data_lib
    from keras_lightnets.train.engine import fit_or_reuse

    options = (options or FineTuneOptions()).validate()
    config.validate()
    if config.output_dir is None:  # runs/<model>_<dataset>_finetune, apart from a from-scratch run of the same model
        config = config.replace(output_dir=config.run_dir + "_finetune")
    run_dir = config.run_dir
    if overwrite and os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    dataset = data_lib.load_dataset(config.dataset, config.data_dir, config.image_size, config.channels, seed=config.seed)
    check_unfreeze(config, options, dataset.channels)
    head = config.replace(epochs=options.head_epochs, learning_rate=options.head_learning_rate,
                          output_dir=os.path.join(run_dir, HEAD_DIR))
    first = fit_or_reuse(head, build=lambda c, n, ch: transfer_model(c, n, ch, options.backbone, trainable=False))
    full = config.replace(output_dir=os.path.join(run_dir, FULL_DIR))
    second = fit_or_reuse(full, build=_phase_two_model(os.path.join(head.run_dir, "model.keras"), options))
    shutil.copyfile(os.path.join(full.run_dir, "model.keras"), os.path.join(run_dir, ".model.keras.partial"))
    os.replace(os.path.join(run_dir, ".model.keras.partial"), os.path.join(run_dir, "model.keras"))
    labels = os.path.join(full.run_dir, "labels.txt")
    if os.path.exists(labels):
        shutil.copyfile(labels, os.path.join(run_dir, "labels.txt"))
    summary = {
        "model": os.path.join(run_dir, "model.keras"), "test_accuracy": second["test_accuracy"],
        "test_loss": second["test_loss"], "options": dataclasses.asdict(options), "head": first, "full": second,
        "train_seconds": round(first["train_seconds_this_process"] + second["train_seconds_this_process"], 1),
    }
    atomic_write_bytes(os.path.join(run_dir, "summary.json"), (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
    if config.verbose:
        print("\n".join(report_lines(summary)), flush=True)
    return summary


def report_lines(summary):
    """The fine-tune's final report: where the result is and what each phase reached."""
    head, full = summary["head"], summary["full"]
    return [
        f"[lightnets] fine-tuned {full['model']} on {full['dataset']}: the result is {summary['model']}",
        f"  test accuracy {summary['test_accuracy']:.4f}, test loss {summary['test_loss']:.4f} "
        f"({full['test_images']} test images, {full['epochs']} epochs after the head)",
        f"  head alone (1-head/, {head['epochs']} epoch(s) on the frozen backbone): test accuracy "
        f"{head['test_accuracy']:.4f}, test loss {head['test_loss']:.4f}",
        f"  {summary['train_seconds']:.0f} s of training in the processes that ended the two phases (a resumed phase "
        f"counts from its resume); phases in {HEAD_DIR}/ and {FULL_DIR}/",
    ]
