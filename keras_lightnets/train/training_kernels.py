"""The kernels a model trains on in the engine: fused batch norm and pointwise convolutions as matrix products."""

import contextlib

from keras_lightnets.train.fused_batch_norm import fused_batch_norm
from keras_lightnets.train.pointwise_matmul import pointwise_matmul


@contextlib.contextmanager
def training_kernels(model):
    """Runs the model on every faster training kernel inside the block (TensorFlow only).

    Args:
        model: A Keras model (nested models and composite layers included).

    Yields:
        Number of layers switched, batch norms and pointwise convolutions together.
    """
    with fused_batch_norm(model) as batch_norms, pointwise_matmul(model) as pointwise:
        yield batch_norms + pointwise
