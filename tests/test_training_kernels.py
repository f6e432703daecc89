"""What every kernel the engine swaps in while training shares: under mixed precision it returns the layer's compute dtype."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from keras_lightnets.train.fused_batch_norm import fused_batch_norm  # noqa: E402
from keras_lightnets.train.pointwise_matmul import pointwise_matmul  # noqa: E402
from keras_lightnets.train.training_kernels import training_kernels  # noqa: E402

KERNELS = {
    "fused_batch_norm": (fused_batch_norm, lambda: keras.layers.BatchNormalization()),
    "pointwise_matmul": (pointwise_matmul, lambda: keras.layers.Conv2D(5, 1)),
}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_returns_the_compute_dtype(kernel, policy):
    swap, make_layer = KERNELS[kernel]
    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = make_layer()
        model = keras.Sequential([keras.Input((4, 4, 3)), layer])
        images = np.random.default_rng(2).normal(0, 1, (2, 4, 4, 3)).astype("float32")
        expected = model(images, training=True)
        with swap(model) as switched:
            got = model(images, training=True)
        assert switched == 1
        assert got.dtype == expected.dtype == layer.compute_dtype
        np.testing.assert_allclose(np.float32(got), np.float32(expected), atol=2e-2)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_engine_kernels_switch_batch_norms_and_pointwise_convolutions_together_and_restore_both():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(6, 1, name="pointwise")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="three_by_three")(x))
    with training_kernels(model) as switched:
        assert switched == 2
        assert "convolution_op" in model.get_layer("pointwise").__dict__ and "call" in model.get_layer("bn").__dict__
    assert "convolution_op" not in model.get_layer("pointwise").__dict__ and "call" not in model.get_layer("bn").__dict__
