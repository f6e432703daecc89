"""MobileNetV3 and EfficientNetV2: what is their own (the hard-sigmoid gate, registry names, custom tables).

Parameter counts, multiply-adds and outputs after port_weights against keras.applications: the
family-contract suite (``test_family_contract.py``, rows in ``family_references.py``).
"""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import assert_same_outputs, images, randomize, run


def test_parity_check_sees_a_wrong_hard_sigmoid():
    """A planted change in MobileNetV3's gate (the 0.2x + 0.5 hard sigmoid of Keras 2) shows far above the tolerance."""
    shape = (96, 96, 3)
    ka = randomize(keras.applications.MobileNetV3Small(input_shape=shape, weights=None, classifier_activation=None), seed=5)
    ours = kl.MobileNetV3Small(input_shape=shape, classifier_activation=None)
    kl.port_weights(ka, ours)
    x = images((2,) + shape)
    expected = run(ka, x)
    assert_same_outputs(expected, ours, x, atol=1e-4)
    gate = ours.get_layer("expanded_conv_squeeze_excite_conv_1")
    gate.activation = lambda z: keras.ops.clip(0.2 * z + 0.5, 0.0, 1.0)
    assert np.abs(run(ours, x) - expected).max() > 1e-2


def test_registry_names_of_the_new_families():
    names = kl.list_models()
    for name in ("mobilenet_v3_small", "mobilenet_v3_large_0.75", "mobilenet_v3_small_minimalistic",
                 "efficientnet_v2_b0", "efficientnet_v2_s", "efficientnet_v2_l"):
        assert name in names
    model = kl.create_model("mobilenet_v3_large_0.75", input_shape=(64, 64, 1), classes=5)
    assert model.count_params() == kl.MobileNetV3Large(alpha=0.75, input_shape=(64, 64, 1), classes=5).count_params()
    assert kl.registry.default_resolution("efficientnet_v2_s") == 384
    with pytest.raises(ValueError, match="`minimalistic`"):
        kl.create_model("mobilenet_v3_small_minimalistic", minimalistic=False)


def test_a_custom_table_in_ten_lines():
    """The documented example: a table of our own, scaled by width like any family's."""
    stages = [
        kl.Stage("inverted_residual", 16, expansion=1),
        kl.Stage("inverted_residual", 24, stride=2, repeats=2),
        kl.Stage("inverted_residual", 40, stride=2, repeats=2, kernel=5, se_ratio=0.25),
        kl.Stage("fused_inverted_residual", 80, stride=2, expansion=4),
    ]
    model = kl.MobileNetV2(input_shape=(96, 96, 3), classes=10, stages=stages)
    narrow = kl.MobileNetV2(input_shape=(96, 96, 3), classes=10, stages=stages, alpha=0.5)
    assert model.output.shape == (None, 10) and narrow.count_params() < model.count_params()
    assert model.get_layer("block_4_add") is not None and model.get_layer("block_3_se_excite") is not None
    assert model.get_layer("block_5_expand").kernel_size == (3, 3)  # the fused block's k x k expansion
