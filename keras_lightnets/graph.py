"""Small helpers over Keras functional graphs."""

import keras


def static_copy(model, input_shape):
    """``model`` itself if its input already has ``input_shape``, else an unweighted clone on it.

    Args:
        model: Functional ``keras.Model`` with one input.
        input_shape: Input shape without the batch dimension (all ints).
    """
    current = tuple(model.inputs[0].shape[1:])
    if None not in current and current == tuple(input_shape):
        return model
    return keras.models.clone_model(model, input_tensors=keras.Input(shape=tuple(input_shape)))


def square_input_shape(model, size):
    """The model's input shape with height and width set to ``size``."""
    shape = tuple(model.inputs[0].shape[1:])
    if keras.config.image_data_format() == "channels_last":
        return (size, size, shape[-1])
    return (shape[0], size, size)
