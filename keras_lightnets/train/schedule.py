"""Learning-rate schedules of the papers: linear warm-up, then staircase exponential, cosine or constant."""

import math

import keras
from keras import ops

from keras_lightnets.train.config import SCHEDULES
from keras_lightnets import validation


@keras.saving.register_keras_serializable(package="keras_lightnets")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then a decay.

    Args:
        peak: Learning rate reached at the end of warm-up (> 0).
        warmup_steps: Warm-up length in steps (>= 0).
        total_steps: Length of the whole run in steps (>= 1); the cosine reaches 0 there.
        kind: "exponential" (``peak * decay_rate ** floor(t / decay_steps)``, the
            staircase of the MobileNet/EfficientNet recipes), "cosine" or "constant".
        decay_rate: Multiplier per ``decay_steps`` (0 < r <= 1), exponential only.
        decay_steps: Steps between exponential decays (>= 1).
    """

    def __init__(self, peak, warmup_steps, total_steps, kind="exponential", decay_rate=0.97, decay_steps=1):
        validation.check_number("peak", peak, minimum=0.0, exclusive_minimum=True)
        validation.check_number("warmup_steps", warmup_steps, minimum=0, integer=True)
        validation.check_number("total_steps", total_steps, minimum=1, integer=True)
        validation.check_choice("kind", kind, SCHEDULES)
        validation.check_number("decay_steps", decay_steps, minimum=1, integer=True)
        self.peak, self.warmup_steps, self.total_steps = float(peak), warmup_steps, total_steps
        self.kind, self.decay_rate, self.decay_steps = kind, float(decay_rate), decay_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        after = ops.maximum(step - self.warmup_steps, 0.0)
        if self.kind == "exponential":
            decayed = self.peak * ops.power(self.decay_rate, ops.floor(after / self.decay_steps))
        elif self.kind == "cosine":
            span = float(max(self.total_steps - self.warmup_steps, 1))
            decayed = 0.5 * self.peak * (1.0 + ops.cos(math.pi * ops.minimum(after / span, 1.0)))
        else:
            decayed = ops.convert_to_tensor(self.peak, "float32")
        ramp = self.peak * ops.minimum((step + 1.0) / warmup, 1.0)
        return ops.where(step < self.warmup_steps, ramp, decayed)

    def get_config(self):
        return {
            "peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps,
            "kind": self.kind, "decay_rate": self.decay_rate, "decay_steps": self.decay_steps,
        }


def make_schedule(config, steps_per_epoch):
    """The schedule of a :class:`~keras_lightnets.train.config.TrainConfig`.

    The peak is ``learning_rate * batch_size / base_batch_size`` (the linear
    scaling rule of the recipes); epochs become steps with ``steps_per_epoch``.

    Args:
        config: Validated ``TrainConfig``.
        steps_per_epoch: Optimizer steps per epoch (int >= 1).

    Returns:
        :class:`WarmupDecay`.
    """
    peak = config.learning_rate * config.batch_size / config.base_batch_size
    return WarmupDecay(
        peak, int(round(config.warmup_epochs * steps_per_epoch)), config.epochs * steps_per_epoch,
        kind=config.schedule, decay_rate=config.decay_rate,
        decay_steps=max(1, int(round(config.decay_epochs * steps_per_epoch))),
    )
