"""port_weights between keras.applications and ours, the built-in preprocessing, and the parity check's power.

Parameter counts and outputs after port_weights, family by family: the family-contract suite
(``test_family_contract.py``, rows in ``family_references.py``).
"""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import assert_same_outputs, images, randomize, run


@pytest.mark.parametrize(
    "ka_builder, ours_builder, shape",
    [
        (keras.applications.MobileNet, kl.MobileNetV1, (128, 128, 3)),
        (keras.applications.MobileNetV2, kl.MobileNetV2, (96, 96, 3)),
        (keras.applications.Xception, kl.Xception, (96, 96, 3)),
    ],
)
def test_builtin_preprocessing_equals_keras_preprocess_input(ka_builder, ours_builder, shape):
    """Ours on raw [0, 255] pixels == keras.applications on preprocess_input(pixels)."""
    ka = randomize(ka_builder(input_shape=shape, weights=None, classifier_activation=None), seed=4)
    ours = ours_builder(input_shape=shape, classifier_activation=None)
    kl.port_weights(ka, ours)
    raw = images((2,) + shape)
    got = assert_same_outputs(run(ka, keras.applications.mobilenet.preprocess_input(raw.copy())), ours, raw, atol=1e-4)
    assert np.abs(run(ka, raw) - got).max() > 1e-2  # a missing rescale would show


def test_efficientnet_preprocessing_is_imagenet_mean_std():
    shape = (64, 64, 3)
    ka = keras.applications.EfficientNetB0(input_shape=shape, weights=None, classifier_activation=None)
    # keras.applications' ImageNet file fills its Normalization layer; set the same statistics by hand.
    norm = ka.get_layer("normalization")
    norm.set_weights([np.array([0.485, 0.456, 0.406]), np.square([0.229, 0.224, 0.225]), np.array(0)])
    norm.finalize_state()
    randomize(ka)
    ours = kl.EfficientNet(0, input_shape=shape, classifier_activation=None)
    kl.port_weights(ka, ours)
    raw = images((2,) + shape)
    got = assert_same_outputs(run(ka, raw), ours, raw, atol=1e-4)
    norm.set_weights([np.zeros(3), np.ones(3), np.array(0)])
    norm.finalize_state()
    assert np.abs(run(ka, raw) - got).max() > 1e-2  # a missing mean/std normalization would show


def test_port_weights_into_feature_extractor_skips_the_classifier():
    ka = randomize(keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None))
    ours = kl.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False, include_preprocessing=False)
    report = kl.port_weights(ka, ours)
    assert report.unused_source == ["predictions"]
    x = images((2, 96, 96, 3), low=-1, high=1)
    trunk = keras.Model(ka.input, ka.get_layer("out_relu").output)
    assert_same_outputs(run(trunk, x), ours, x, atol=1e-5)


def test_port_weights_rejects_another_architecture():
    source = kl.MobileNetV1(input_shape=(128, 128, 3), alpha=0.5)
    destination = kl.MobileNetV1(input_shape=(128, 128, 3), alpha=0.25)
    before = [w.numpy().copy() for w in destination.weights]
    with pytest.raises(ValueError, match="`source`"):
        kl.port_weights(source, destination)
    for old, weight in zip(before, destination.weights):
        np.testing.assert_array_equal(old, weight.numpy())


def test_port_weights_back_to_keras_applications():
    ours = randomize(kl.Xception(input_shape=(96, 96, 3), include_preprocessing=False, classifier_activation=None))
    ka = keras.applications.Xception(input_shape=(96, 96, 3), weights=None, classifier_activation=None)
    kl.port_weights(ours, ka)
    x = images((2, 96, 96, 3), low=-1, high=1)
    assert_same_outputs(run(ours, x), ka, x, atol=1e-4)


def test_parity_check_sees_planted_bugs():
    """The bugs random weights used to hide: two same-shape layers swapped early, a wrong BN epsilon."""
    shape = (128, 128, 3)
    ka = randomize(keras.applications.MobileNet(input_shape=shape, alpha=0.5, weights=None, classifier_activation=None))
    ours = kl.MobileNetV1(input_shape=shape, alpha=0.5, include_preprocessing=False, classifier_activation=None)
    kl.port_weights(ka, ours)
    x = images((2,) + shape, low=-1, high=1)
    expected = run(ka, x)
    assert_same_outputs(expected, ours, x, atol=1e-4)
    seventh, eighth = ours.get_layer("conv_pw_7"), ours.get_layer("conv_pw_8")
    kernels = seventh.get_weights(), eighth.get_weights()
    seventh.set_weights(kernels[1])
    eighth.set_weights(kernels[0])
    assert np.abs(run(ours, x) - expected).max() > 1e-2
    seventh.set_weights(kernels[0])
    eighth.set_weights(kernels[1])
    ours.get_layer("conv_dw_1_bn").epsilon = 1e-5
    assert np.abs(run(ours, x) - expected).max() > 1e-2
