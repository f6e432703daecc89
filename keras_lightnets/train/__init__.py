"""The training engine: one fit loop for every recipe (config, schedules, optimizer, XLA policy, strategies)."""

from keras_lightnets.lazy import attach as _attach

_ATTRIBUTES = {
    "FitResult": "keras_lightnets.train.engine",
    "TrainConfig": "keras_lightnets.train.config",
    "fit": "keras_lightnets.train.engine",
    "load_config": "keras_lightnets.train.config",
}

__getattr__, __dir__, __all__ = _attach(__name__, _ATTRIBUTES)
