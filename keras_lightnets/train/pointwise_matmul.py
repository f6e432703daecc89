"""Pointwise (1x1) convolutions as matrix multiplications for the Conv2D layers of a model being trained.

A 1x1 convolution with stride 1 is a matrix product: every pixel's channel vector
times the (in, out) kernel. TensorFlow's CPU convolution kernel computes it and its
gradients more slowly than its matrix-multiply kernel, most of all on small feature
maps: on a 2-core AMD EPYC, a 512 -> 1024 pointwise layer on 1x1 maps (the end of
MobileNetV1 at 48 px, batch 128) took 6.97 ms per forward + backward pass as a
convolution and 1.96 ms as a matrix product; on 3x3 to 24x24 maps the product was
4-25% faster. ``benchmarks/training_kernels.py`` measures what it buys for a whole
training step.

Only the kernel changes while the swap is active: the layers keep their class,
configuration, weights and names, and saved models hold stock ``Conv2D`` layers.
Layers it cannot serve exactly keep Keras' own convolution: kernels other than 1x1,
strides or dilation other than 1, grouped convolutions, ``channels_first`` data,
quantized layers and subclasses with their own ``convolution_op``.
"""

import keras

from keras_lightnets.train.method_swap import swapped_tensorflow_kernel


def is_pointwise(layer):
    """Whether a layer is a plain Conv2D that a matrix product can replace exactly.

    Args:
        layer: Any Keras layer.

    Returns:
        bool.
    """
    return (
        isinstance(layer, keras.layers.Conv2D)
        and type(layer).convolution_op is keras.layers.Conv2D.convolution_op
        and tuple(layer.kernel_size) == (1, 1)
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.groups == 1
        and layer.data_format == "channels_last"
        and getattr(layer, "quantization_mode", None) is None
    )


def _matmul_convolution(layer, inputs, kernel):
    """``Conv2D.convolution_op`` for a 1x1, stride-1 kernel: (pixels, in) x (in, out)."""
    import tensorflow as tf

    in_channels, out_channels = kernel.shape[-2], kernel.shape[-1]
    pixels = tf.reshape(inputs, (-1, in_channels))
    outputs = tf.matmul(pixels, tf.reshape(kernel, (in_channels, out_channels)))
    leading = tf.shape(inputs)[:-1]  # batch, height, width (dynamic batch size)
    return tf.reshape(outputs, tf.concat([leading, [out_channels]], axis=0))


def pointwise_matmul(model):
    """Runs the model's pointwise Conv2D layers as matrix multiplications inside the block.

    Does nothing on other Keras backends. Functions traced inside the block (e.g. the
    compiled train step) keep the matrix product; layers called after the block use
    Keras' own convolution again.

    Args:
        model: A Keras model (nested models and composite layers included).

    Returns:
        A context manager; ``with`` yields the number of layers switched (0 when the
        backend is not TensorFlow).
    """
    return swapped_tensorflow_kernel(model, is_pointwise, "convolution_op", _matmul_convolution)
