"""Input-shape resolution shared by every builder."""

import keras

from keras_lightnets import validation


def _describe(data_format):
    return "(channels, height, width)" if data_format == "channels_first" else "(height, width, channels)"


def resolve_input_shape(input_shape, input_tensor, default_size, min_size, include_top, weights, data_format):
    """Validates and completes a builder's ``input_shape``.

    Args:
        input_shape: None or a 3-tuple of (height, width, channels) (channels
            first under "channels_first"); height/width may be None.
        input_tensor: Optional Keras tensor; its shape is used when
            ``input_shape`` is None.
        default_size: Resolution used when nothing is given and
            ``include_top`` is True.
        min_size: Smallest accepted height/width (int).
        include_top: Whether the classifier head is attached.
        weights: The ``weights`` argument ("imagenet" requires 3 channels).
        data_format: "channels_last" or "channels_first".

    Returns:
        The full 3-tuple input shape.
    """
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = default_size if include_top else None
        input_shape = (3, size, size) if data_format == "channels_first" else (size, size, 3)
    allowed = f"a 3-tuple {_describe(data_format)} with height and width None or >= {min_size}"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        validation.fail("input_shape", input_shape, allowed)
    input_shape = tuple(input_shape)
    if data_format == "channels_first":
        channels, rows, cols = input_shape
    else:
        rows, cols, channels = input_shape
    for dim in (rows, cols):
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < min_size):
            validation.fail("input_shape", input_shape, allowed)
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        validation.fail("input_shape", input_shape, allowed + " and an integer channel count >= 1")
    if weights == "imagenet" and channels != 3:
        validation.fail("input_shape", input_shape, 'exactly 3 channels when weights="imagenet"')
    return input_shape


def make_input(input_shape, input_tensor):
    """Returns (model_inputs, first_tensor) for the builder's graph.

    Args:
        input_shape: Resolved 3-tuple input shape.
        input_tensor: None, a Keras tensor (shared with another model) or a
            backend tensor to wrap.
    """
    if input_tensor is None:
        tensor = keras.Input(shape=input_shape)
        return tensor, tensor
    if keras.backend.is_keras_tensor(input_tensor):
        return keras.utils.get_source_inputs(input_tensor), input_tensor
    tensor = keras.Input(tensor=input_tensor, shape=input_shape)
    return tensor, tensor


def spatial_size(input_shape, data_format):
    """(rows, cols) of a resolved input shape."""
    return tuple(input_shape[1:]) if data_format == "channels_first" else tuple(input_shape[:2])


def channel_count(input_shape, data_format):
    """Channel count of a resolved input shape."""
    return input_shape[0] if data_format == "channels_first" else input_shape[-1]
