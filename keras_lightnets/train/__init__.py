"""The training engine: one fit loop for every recipe (config, schedules, optimizer, XLA policy, strategies)."""

from keras_lightnets.train.config import TrainConfig, load_config
from keras_lightnets.train.engine import FitResult, fit

__all__ = ["FitResult", "TrainConfig", "fit", "load_config"]
