"""TensorFlow's fused batch-normalization kernel for the BatchNormalization layers of a model being trained.

Keras 3 computes batch normalization from separate ops (moments, then scale and
shift) on every backend. TensorFlow has one fused kernel (``FusedBatchNormV3``,
oneDNN on x86 CPUs) that computes the same thing and its gradient in a single pass.
Swapping it in made MobileNetV1-1.0 training at 48 px 1.32x faster on a 2-core AMD
EPYC (1,044 vs 790 img/s, batch 128; benchmarks/training_kernels.py measures it).
The layers keep their class, configuration, weights and names. Only the kernel changes
while the swap is active, so saved models hold stock ``BatchNormalization`` layers.

The fused path keeps Keras 3's semantics: training mode only when the layer is
trainable, moving statistics updated with the biased batch variance (the kernel
returns the Bessel-corrected one, which is undone here), float32 arithmetic under
mixed precision. Layers it cannot serve exactly (synchronized across replicas,
renormalization, masks, non-4-D inputs, epsilon below the kernel's minimum) run
Keras' own ``call``.
"""

import keras

from keras_lightnets.train.method_swap import swapped_tensorflow_kernel
from keras_lightnets.train.model_factory import is_batch_norm

# FusedBatchNormV3 clamps epsilon to at least this value.
_KERNEL_MIN_EPSILON = 1.001e-5


def _fusable(layer, inputs, mask):
    rank = len(inputs.shape)
    return (
        mask is None and rank == 4 and layer.axis % rank in (1, 3)
        and not layer.synchronized and not layer.renorm and layer.epsilon >= _KERNEL_MIN_EPSILON
    )


def _fused_call(layer, inputs, training=None, mask=None):
    """``BatchNormalization.call`` through ``tf.compat.v1.nn.fused_batch_norm``."""
    import tensorflow as tf

    if not _fusable(layer, inputs, mask):
        return keras.layers.BatchNormalization.call(layer, inputs, training=training, mask=mask)
    channels_axis = layer.axis % 4  # _fusable checked rank 4 and axis 1 or 3
    data_format = "NHWC" if channels_axis == 3 else "NCHW"
    x = tf.cast(inputs, tf.float32)
    channels = x.shape[channels_axis]
    gamma = tf.cast(layer.gamma, tf.float32) if layer.scale else tf.ones((channels,), tf.float32)
    beta = tf.cast(layer.beta, tf.float32) if layer.center else tf.zeros((channels,), tf.float32)
    if training and layer.trainable:
        outputs, mean, corrected_variance = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=layer.epsilon, data_format=data_format, is_training=True,
        )
        count = tf.cast(tf.size(x) // channels, tf.float32)
        variance = corrected_variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = layer.momentum
        layer.moving_mean.assign(layer.moving_mean * momentum + tf.cast(mean, layer.moving_mean.dtype) * (1.0 - momentum))
        layer.moving_variance.assign(
            layer.moving_variance * momentum + tf.cast(variance, layer.moving_variance.dtype) * (1.0 - momentum)
        )
    else:
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, mean=tf.cast(layer.moving_mean, tf.float32),
            variance=tf.cast(layer.moving_variance, tf.float32),
            epsilon=layer.epsilon, data_format=data_format, is_training=False,
        )
    return tf.cast(outputs, layer.compute_dtype)


def fused_batch_norm(model):
    """Runs the model's BatchNormalization layers on TensorFlow's fused kernel inside the block.

    Does nothing on other Keras backends. Functions traced inside the block (e.g. the
    compiled train step) keep the fused kernel; layers called after the block use Keras'
    own ``call`` again.

    Args:
        model: A Keras model (nested models included).

    Returns:
        A context manager; ``with`` yields the number of layers switched (0 when the
        backend is not TensorFlow).
    """
    return swapped_tensorflow_kernel(model, is_batch_norm, "call", _fused_call)
