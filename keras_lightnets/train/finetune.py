"""Transfer learning in two phases: a new head on a frozen backbone, then the whole network at a lower rate.

The backbone is called with ``training=False`` in both phases, so its batch-norm layers
keep their statistics (the Keras transfer-learning recipe). Each phase is an ordinary
engine run in its own sub-directory, so either resumes after an interruption.
"""

import os

from keras_lightnets import validation
from keras_lightnets.model_files import load_keras_model

HEAD_DIR, FULL_DIR = "1-head", "2-full"


def transfer_model(config, num_classes, channels, backbone_weights, trainable):
    """A registry backbone with pretrained weights and a new classifier.

    Args:
        config: ``TrainConfig`` (model name, alpha, image size, dropout).
        num_classes: Classes of the new task (int >= 2).
        channels: Input channels (1 or 3; "imagenet" needs 3).
        backbone_weights: "imagenet", or a ``.keras`` model of the same architecture
            (e.g. a run's ``model.keras``) whose feature layers are copied by name.
        trainable: Whether the backbone's weights train.

    Returns:
        ``keras.Model`` taking raw [0, 255] images.
    """
    import keras

    from keras_lightnets import registry
    from keras_lightnets.weights import port_weights

    kwargs = {"include_top": False, "input_shape": (config.image_size, config.image_size, channels)}
    if config.alpha is not None:
        kwargs["alpha"] = config.alpha
    if backbone_weights == "imagenet":
        backbone = registry.create_model(config.model, weights="imagenet", **kwargs)
    else:
        path = os.fspath(backbone_weights) if isinstance(backbone_weights, (str, os.PathLike)) else None
        if path is None or not path.endswith(".keras") or not os.path.isfile(path):
            validation.fail("backbone", backbone_weights, '"imagenet" or the path of an existing .keras model')
        backbone = registry.create_model(config.model, weights=None, **kwargs)
        port_weights(load_keras_model(path, "backbone"), backbone)
    backbone.trainable = trainable
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    x = backbone(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(config.dropout or 0.0, name="top_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_transfer")


def _unfrozen(path):
    def build(config, num_classes, channels):
        model = load_keras_model(path)
        for layer in model.layers:
            layer.trainable = True
        return model
    return build


def fine_tune(config, backbone_weights, head_epochs=3, lr_factor=0.1, overwrite=False):
    """Trains a new head on a frozen backbone, then fine-tunes everything.

    Args:
        config: ``TrainConfig`` of the second phase; ``output_dir`` gets both phases.
        backbone_weights: "imagenet" or a ``.keras`` model of the same architecture.
        head_epochs: Epochs of the frozen-backbone phase (int >= 1).
        lr_factor: Learning rate of phase 2 relative to phase 1 (0 < f <= 1).
        overwrite: Delete previous runs of both phases first.

    Returns:
        (phase-1 summary dict, phase-2 :class:`FitResult`). A finished phase 1 found in
        ``output_dir`` is reused, so rerunning after an interruption continues phase 2.
    """
    from keras_lightnets.train.engine import fit, fit_or_reuse

    validation.check_number("head_epochs", head_epochs, minimum=1, integer=True)
    validation.check_number("lr_factor", lr_factor, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    config.validate()
    head = config.replace(epochs=head_epochs, output_dir=os.path.join(config.run_dir, HEAD_DIR))
    first = fit_or_reuse(head, overwrite, build=lambda c, n, ch: transfer_model(c, n, ch, backbone_weights, trainable=False))
    full = config.replace(
        learning_rate=config.learning_rate * lr_factor, warmup_epochs=0.0,
        output_dir=os.path.join(config.run_dir, FULL_DIR),
    )
    second = fit(full, overwrite, build=_unfrozen(os.path.join(head.run_dir, "model.keras")))
    return first, second
