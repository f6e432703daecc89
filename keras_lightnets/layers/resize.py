"""Bilinear resizing of a feature map to another tensor's height and width (the heads' upsampling)."""

import keras

from keras_lightnets import validation


@keras.saving.register_keras_serializable(package="keras_lightnets")
class ResizeLike(keras.layers.Layer):
    """Resizes its first input to the spatial size of its second, bilinearly.

    Half-pixel centers without antialiasing: PyTorch's ``interpolate(mode="bilinear",
    align_corners=False)`` and TFLite's ``RESIZE_BILINEAR`` with ``half_pixel_centers``.
    The target size is read from the second input when the graph runs, so
    models with unknown input sizes work.

    Args:
        data_format: "channels_last", "channels_first" or None (Keras' default).
        **kwargs: Base ``Layer`` arguments.

    Call arguments:
        inputs: ``[x, reference]``: the 4D tensor to resize and a 4D tensor of the wanted size.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or keras.config.image_data_format()
        validation.check_choice("data_format", self.data_format, ["channels_last", "channels_first"])

    def _spatial_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def call(self, inputs):
        x, reference = inputs
        shape = keras.ops.shape(reference)
        size = tuple(shape[axis] for axis in self._spatial_axes())
        return keras.ops.image.resize(x, size, interpolation="bilinear", antialias=False,
                                      data_format=self.data_format)

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        output = list(x)
        for axis in self._spatial_axes():
            output[axis] = reference[axis]
        return tuple(output)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
