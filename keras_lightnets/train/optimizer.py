"""The optimizer of a run: RMSprop/SGD/Adam/AdamW with decoupled weight decay and optional EMA."""

import keras

#: Weights that never get weight decay: batch-norm scale/offset and biases (by variable
#: name), plus depthwise kernels (the MobileNet paper puts little or no decay on them).
NO_DECAY_NAMES = ("gamma", "beta", "bias")


def _depthwise_kernels(layer):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return list(layer.trainable_weights)
    return [weight for inner in getattr(layer, "layers", []) for weight in _depthwise_kernels(inner)]


def make_optimizer(config, learning_rate, model):
    """Builds the optimizer of a run.

    Args:
        config: Validated :class:`~keras_lightnets.train.config.TrainConfig`.
        learning_rate: Float or ``LearningRateSchedule``.
        model: The model being trained (its depthwise kernels are excluded from decay).

    Returns:
        A ``keras.optimizers.Optimizer``.
    """
    common = dict(
        learning_rate=learning_rate,
        weight_decay=config.weight_decay or None,
        use_ema=config.ema_momentum is not None,
        ema_momentum=config.ema_momentum or 0.99,
    )
    if config.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(rho=config.rmsprop_rho, momentum=config.momentum, epsilon=config.epsilon, **common)
    elif config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(momentum=config.momentum, nesterov=config.momentum > 0, **common)
    elif config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(epsilon=config.epsilon, **common)
    else:
        optimizer = keras.optimizers.AdamW(epsilon=config.epsilon, **{**common, "weight_decay": config.weight_decay})
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_list=_depthwise_kernels(model), var_names=list(NO_DECAY_NAMES))
    return optimizer
