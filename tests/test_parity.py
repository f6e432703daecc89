"""Exactness against keras.applications: parameter counts and outputs after port_weights."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import assert_ported, assert_same_outputs, images, randomize, run, trainable_count

# ../shared/REFERENCE.md, keras 3.15.1, weights=None, 1000 classes.
REFERENCE_PARAMS = [
    (lambda: kl.MobileNetV1(), 4_253_864, 4_231_976),
    (lambda: kl.MobileNetV1(alpha=0.75), 2_601_976, None),
    (lambda: kl.MobileNetV1(alpha=0.5), 1_342_536, None),
    (lambda: kl.MobileNetV1(alpha=0.25), 475_544, None),
    (lambda: kl.MobileNetV2(), 3_538_984, 3_504_872),
    (lambda: kl.MobileNetV2(alpha=0.35), 1_691_208, None),
    (lambda: kl.MobileNetV2(alpha=1.4), 6_156_712, None),
    (lambda: kl.Xception(), 22_910_480, 22_855_952),
    (lambda: kl.EfficientNet(0), 5_330_571, 5_288_548),
    (lambda: kl.EfficientNet(1), 7_856_239, 7_794_184),
    (lambda: kl.EfficientNet(2), 9_177_569, 9_109_994),
    (lambda: kl.EfficientNet(3), 12_320_535, 12_233_232),
    (lambda: kl.EfficientNet(4), 19_466_823, 19_341_616),
    (lambda: kl.EfficientNet(5), 30_562_527, 30_389_784),
    (lambda: kl.EfficientNet(6), 43_265_143, 43_040_704),
    (lambda: kl.EfficientNet(7), 66_658_687, 66_347_960),
]




@pytest.mark.parametrize("build, total, trainable", REFERENCE_PARAMS)
def test_parameter_counts_match_keras_applications(build, total, trainable):
    model = build()
    assert model.count_params() == total
    if trainable is not None:
        assert trainable_count(model) == trainable




@pytest.mark.parametrize("alpha, size", [(1.0, 160), pytest.param(0.5, 128, marks=pytest.mark.zoo), (0.25, 224), (0.75, 97)])
def test_mobilenet_v1_output_identical_after_porting(alpha, size):
    shape = (size, size, 3)
    ka = keras.applications.MobileNet(input_shape=shape, alpha=alpha, weights=None, classifier_activation=None)
    ours = kl.MobileNetV1(input_shape=shape, alpha=alpha, include_preprocessing=False, classifier_activation=None)
    assert_ported(ka, ours, images((2,) + shape, low=-1, high=1), seed=3)


@pytest.mark.parametrize("alpha, size", [(1.0, 96), pytest.param(0.35, 128, marks=pytest.mark.zoo), (1.4, 113), (0.75, 160)])
def test_mobilenet_v2_output_identical_after_porting(alpha, size):
    shape = (size, size, 3)
    ka = keras.applications.MobileNetV2(input_shape=shape, alpha=alpha, weights=None, classifier_activation=None)
    ours = kl.MobileNetV2(input_shape=shape, alpha=alpha, include_preprocessing=False, classifier_activation=None)
    assert_ported(ka, ours, images((2,) + shape, low=-1, high=1), seed=3)


@pytest.mark.parametrize("phi, size", [(0, 96), pytest.param(1, 113, marks=pytest.mark.slow), pytest.param(3, 64, marks=pytest.mark.slow)])
def test_efficientnet_output_identical_after_porting(phi, size):
    shape = (size, size, 3)
    ka = getattr(keras.applications, f"EfficientNetB{phi}")(
        input_shape=shape, weights=None, classifier_activation=None
    )
    ours = kl.EfficientNet(phi, input_shape=shape, include_preprocessing=False, classifier_activation=None)
    x = np.random.default_rng(2).normal(0, 1, (2,) + shape).astype("float32")
    # With weights=None keras.applications' preprocessing is x / 255: raw images 255 * N(0, 1) put the
    # BN statistics at the scale of the N(0, 1) tensors fed past it.
    calibration = 255 * np.random.default_rng(3).normal(0, 1, (32,) + shape).astype("float32")
    assert_ported(ka, ours, x, reference_input_layer="stem_conv_pad", calibration=calibration, seed=3)


@pytest.mark.parametrize("size", [131, 150])
def test_xception_output_identical_after_porting(size):
    shape = (size, size, 3)
    ka = keras.applications.Xception(input_shape=shape, weights=None, classifier_activation=None)
    ours = kl.Xception(input_shape=shape, include_preprocessing=False, classifier_activation=None)
    assert_ported(ka, ours, images((2,) + shape, low=-1, high=1), seed=3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "ka_builder, ours_builder, shape, ka_input_layer",
    [
        (keras.applications.MobileNet, kl.MobileNetV1, (224, 224, 3), None),
        (keras.applications.MobileNetV2, kl.MobileNetV2, (224, 224, 3), None),
        (keras.applications.Xception, kl.Xception, (299, 299, 3), None),
        (keras.applications.EfficientNetB0, lambda **kw: kl.EfficientNet(0, **kw), (224, 224, 3), "stem_conv_pad"),
    ],
)
def test_full_size_output_identical_after_porting(ka_builder, ours_builder, shape, ka_input_layer):
    ka = ka_builder(input_shape=shape, weights=None, classifier_activation=None)
    ours = ours_builder(input_shape=shape, include_preprocessing=False, classifier_activation=None)
    assert_ported(ka, ours, images((2,) + shape, low=-1, high=1), reference_input_layer=ka_input_layer, seed=3)


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
