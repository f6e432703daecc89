"""The training engine: one fit loop for every recipe (config, schedules, optimizer, XLA policy, strategies)."""

from keras_lightnets.lazy import attach as _attach

_ATTRIBUTES = {
    "FineTuneOptions": "keras_lightnets.train.finetune",
    "FitResult": "keras_lightnets.train.engine",
    "TrainConfig": "keras_lightnets.train.config",
    "fine_tune": "keras_lightnets.train.finetune",
    "fit": "keras_lightnets.train.engine",
    "load_config": "keras_lightnets.train.config",
}

__getattr__, __dir__, __all__ = _attach(__name__, _ATTRIBUTES)
