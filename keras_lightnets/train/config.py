"""Everything a training run is made of, in one validated, serializable record."""

import dataclasses
import json
import os
import re
from typing import Optional

from keras_lightnets import registry, validation
from keras_lightnets.data.augment import POLICIES as AUGMENT_POLICIES
from keras_lightnets.models.catalog import CONVOLUTIONS
from keras_lightnets.train.test_time_augmentation import POLICIES as TTA_POLICIES

OPTIMIZERS = ("rmsprop", "sgd", "adam", "adamw")
SCHEDULES = ("exponential", "cosine", "constant")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
XLA_POLICIES = ("auto", "on", "off")
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")


def default_run_dir(model, dataset):
    """``runs/<model>_<dataset>``: the run directory every recipe and command uses by default.

    Args:
        model: Registered model name, e.g. ``"mobilenet_v1"``.
        dataset: Dataset name as the config holds it (``"digits"``, ``"folder:~/photos"``, ``"tfds:cifar10"``).

    Returns:
        str, e.g. ``"runs/mobilenet_v1_digits"``, ``"runs/mobilenet_v2_photos"``.
    """
    name = str(dataset)
    if name.startswith("folder:"):
        name = os.path.basename(os.path.normpath(os.path.expanduser(name[len("folder:"):]))) or "folder"
    elif name.startswith("tfds:"):
        name = name[len("tfds:"):]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split(":")[0]).strip("_") or "data"
    return os.path.join("runs", f"{model}_{name}")


@dataclasses.dataclass
class TrainConfig:
    """One training run.

    Attributes:
        model: A name from ``keras_lightnets.list_models()`` (e.g. "mobilenet_v1", "efficientnet_b0").
        alpha: Width multiplier for MobileNet names without one (> 0), or None for the name's own.
        convolutions: "separable", or "standard" (MobileNetV1/Xception only) for the comparison network.
        dataset: Dataset name (see :func:`keras_lightnets.data.load_dataset`).
        data_dir: Dataset directory (Fashion-MNIST IDX files, tfds data_dir), or None.
        image_size: Input resolution of the model (int >= 32).
        channels: Input channels: None for the dataset's own, 1 or 3.
        epochs: Training epochs (int >= 1).
        batch_size: Global batch size (int >= 1, at most the training set).
        optimizer: One of ``OPTIMIZERS``.
        learning_rate: Peak learning rate at ``base_batch_size`` (> 0); scaled linearly with the batch size.
        base_batch_size: Batch size ``learning_rate`` refers to (int >= 1).
        schedule: "exponential" (x ``decay_rate`` every ``decay_epochs``), "cosine" or "constant", after warm-up.
        warmup_epochs: Linear warm-up from 0 (>= 0, may be fractional).
        decay_rate: Multiplier per ``decay_epochs`` for the exponential schedule (0 < r <= 1).
        decay_epochs: Epochs between exponential decays (> 0).
        momentum: Momentum of RMSprop/SGD (0 <= m < 1).
        rmsprop_rho: RMSprop gradient average decay (0 < rho < 1).
        epsilon: Optimizer epsilon (> 0).
        weight_decay: Decoupled weight decay on convolution and dense kernels, not on
            batch-norm, biases or depthwise kernels (>= 0).
        label_smoothing: Label smoothing (0 <= s < 1).
        ema_momentum: Exponential moving average of the weights (0 < m < 1), evaluated
            each epoch and kept at the end; None disables it.
        augment: Augmentation policy (see ``keras_lightnets.data.AUGMENT_POLICIES``).
        translate: Largest random shift of the "translate" and "flip_translate" policies,
            as a fraction of each side (0 < t <= 0.5).
        random_erasing: Probability (0 <= p <= 1) that a training image gets one random
            rectangle (2-33% of its area) replaced by noise, after the policy; 0 disables it.
        tta: Test-time augmentation of the final evaluation, one of "none", "flip", "flip_shift"
            (see :mod:`keras_lightnets.train.test_time_augmentation`). ``summary.json`` keeps the
            single-view ``test_accuracy`` and adds ``test_accuracy_tta``.
        dropout: Dropout before the classifier (0 <= p < 1), None for the builder's.
        drop_connect_rate: Stochastic depth of EfficientNet blocks (0 <= p < 1), None for the builder's.
        bn_momentum: Batch-norm momentum (0 < m < 1), None for the builder's (0.99; small
            datasets need less, so the moving statistics catch up with the weights).
        precision: "float32", "mixed_float16" or "mixed_bfloat16" (classifier stays float32).
        xla: "auto" (XLA on GPU/TPU, never on CPU), "on" or "off".
        strategy: tf.distribute strategy: "auto", "default", "mirrored", "multiworker" or "tpu".
        output_dir: Run directory (checkpoints, logs, history, plots, the final model); None
            for the convention ``runs/<model>_<dataset>`` (see :attr:`run_dir`).
        seed: Random seed (int).
        verbose: Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    """

    model: str = "mobilenet_v1"
    alpha: Optional[float] = None
    convolutions: str = "separable"
    dataset: str = "digits"
    data_dir: Optional[str] = None
    image_size: int = 32
    channels: Optional[int] = None
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "rmsprop"
    learning_rate: float = 0.008
    base_batch_size: int = 128
    schedule: str = "exponential"
    warmup_epochs: float = 5.0
    decay_rate: float = 0.94
    decay_epochs: float = 2.5
    momentum: float = 0.9
    rmsprop_rho: float = 0.9
    epsilon: float = 0.002
    weight_decay: float = 1e-5
    label_smoothing: float = 0.1
    ema_momentum: Optional[float] = None
    augment: str = "translate"
    translate: float = 0.1
    random_erasing: float = 0.0
    tta: str = "none"
    dropout: Optional[float] = 0.2
    drop_connect_rate: Optional[float] = None
    bn_momentum: Optional[float] = None
    precision: str = "float32"
    xla: str = "auto"
    strategy: str = "auto"
    output_dir: Optional[str] = None
    seed: int = 0
    verbose: int = 2

    def validate(self):
        """Checks every field; raises ValueError naming the first bad one. Returns self."""
        check = validation.check_number
        if not isinstance(self.model, str):
            validation.fail("model", self.model, "a name from keras_lightnets.list_models()")
        if self.model in registry.list_models() and registry.family_of(self.model).task != "classification":
            validation.fail("model", self.model, "a classification model's name (this engine trains image classifiers)")
        if self.alpha is not None:
            check("alpha", self.alpha, minimum=0.0, exclusive_minimum=True)
        validation.check_choice("convolutions", self.convolutions, CONVOLUTIONS)
        check("image_size", self.image_size, minimum=32, integer=True)
        validation.check_choice("channels", self.channels, [None, 1, 3])
        check("epochs", self.epochs, minimum=1, integer=True)
        check("batch_size", self.batch_size, minimum=1, integer=True)
        validation.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check("learning_rate", self.learning_rate, minimum=0.0, exclusive_minimum=True)
        check("base_batch_size", self.base_batch_size, minimum=1, integer=True)
        validation.check_choice("schedule", self.schedule, SCHEDULES)
        check("warmup_epochs", self.warmup_epochs, minimum=0.0)
        check("decay_rate", self.decay_rate, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        check("decay_epochs", self.decay_epochs, minimum=0.0, exclusive_minimum=True)
        check("momentum", self.momentum, minimum=0.0, maximum=0.999999)
        check("rmsprop_rho", self.rmsprop_rho, minimum=0.0, maximum=0.999999, exclusive_minimum=True)
        check("epsilon", self.epsilon, minimum=0.0, exclusive_minimum=True)
        check("weight_decay", self.weight_decay, minimum=0.0)
        validation.check_rate("label_smoothing", self.label_smoothing)
        validation.check_choice("augment", self.augment, AUGMENT_POLICIES)
        check("translate", self.translate, minimum=0.0, maximum=0.5, exclusive_minimum=True)
        check("random_erasing", self.random_erasing, minimum=0.0, maximum=1.0)
        validation.check_choice("tta", self.tta, TTA_POLICIES)
        if not isinstance(self.dataset, str) or not self.dataset:
            validation.fail("dataset", self.dataset, "digits, fashion_mnist, folder:<path> or a tfds name")
        if self.ema_momentum is not None:
            check("ema_momentum", self.ema_momentum, minimum=0.0, maximum=0.999999, exclusive_minimum=True)
        if self.dropout is not None:
            validation.check_rate("dropout", self.dropout)
        if self.drop_connect_rate is not None:
            validation.check_rate("drop_connect_rate", self.drop_connect_rate)
        if self.bn_momentum is not None:
            check("bn_momentum", self.bn_momentum, minimum=0.0, maximum=0.999999, exclusive_minimum=True)
        validation.check_choice("precision", self.precision, PRECISIONS)
        validation.check_choice("xla", self.xla, XLA_POLICIES)
        validation.check_choice("strategy", self.strategy, STRATEGIES)
        if self.output_dir is not None and (not isinstance(self.output_dir, str) or not self.output_dir):
            validation.fail("output_dir", self.output_dir, "a directory path, or None for runs/<model>_<dataset>")
        check("seed", self.seed, integer=True)
        validation.check_choice("verbose", self.verbose, [0, 1, 2])
        return self

    @property
    def run_dir(self):
        """The run directory: ``output_dir``, else ``runs/<model>_<dataset>`` (e.g. ``runs/mobilenet_v1_digits``;
        a ``folder:PATH`` dataset is named by the folder, ``tfds:NAME`` by NAME)."""
        return self.output_dir or default_run_dir(self.model, self.dataset)

    def to_dict(self):
        """The fields as a plain dict (JSON-serializable)."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A copy with some fields changed (unknown names raise ValueError)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            validation.fail(unknown[0], changes[unknown[0]], "a field of TrainConfig: " + ", ".join(field_names()))
        return dataclasses.replace(self, **changes)


def field_names():
    """Names of every :class:`TrainConfig` field, in order."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def load_config(path, base=None):
    """Reads a JSON config file over a base config.

    Args:
        path: JSON file with an object of :class:`TrainConfig` fields.
        base: Config the file's fields override (default ``TrainConfig()``).

    Returns:
        :class:`TrainConfig` (not yet validated).
    """
    try:
        with open(path) as handle:
            values = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        validation.fail("config", str(path), f"a readable JSON file of TrainConfig fields ({error})")
    if not isinstance(values, dict):
        validation.fail("config", str(path), "a JSON object of TrainConfig fields")
    values.pop("_comment", None)
    return (base or TrainConfig()).replace(**values)
