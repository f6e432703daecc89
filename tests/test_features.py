"""Multi-scale feature endpoints."""

import pytest

import keras_lightnets as kl
from helpers import images


@pytest.mark.parametrize(
    "build, size",
    [
        pytest.param(lambda: kl.MobileNetV1(alpha=0.25, include_top=False), 128, marks=pytest.mark.zoo),
        pytest.param(lambda: kl.MobileNetV2(alpha=0.35, include_top=False), 128, marks=pytest.mark.zoo),
        (lambda: kl.EfficientNet(0, include_top=False), 128),
        (lambda: kl.Xception(include_top=False), 128),
        pytest.param(lambda: kl.MobileNetV3Small(alpha=0.75, include_top=False), 128, marks=pytest.mark.zoo),
        (lambda: kl.MobileNetV3Large(minimalistic=True, include_top=False), 96),
        (lambda: kl.EfficientNetV2("b0", include_top=False), 128),
        (lambda: kl.EfficientNetLite(0, include_top=False), 128),
        (lambda: kl.MobileNetV4("small", include_top=False), 128),
        (lambda: kl.MobileNetV4("medium", include_top=False), 97),
    ],
)
def test_feature_maps_at_strides_4_to_32(build, size):
    extractor = kl.feature_extractor(build())
    outputs = extractor(images((1, size, size, 3)))
    assert sorted(outputs) == ["stride_16", "stride_32", "stride_4", "stride_8"]
    for stride in (4, 8, 16, 32):
        height = outputs[f"stride_{stride}"].shape[1]
        assert abs(height - size / stride) <= 1


def test_known_endpoint_layers():
    names = kl.endpoint_names(kl.MobileNetV2(alpha=0.35, include_top=False))
    assert names == {4: "block_3_expand_relu", 8: "block_6_expand_relu", 16: "block_13_expand_relu", 32: "out_relu"}
    names = kl.endpoint_names(kl.MobileNetV3Small(include_top=False))
    assert names == {4: "expanded_conv_1_expand_activation", 8: "expanded_conv_3_expand_activation",
                     16: "expanded_conv_8_expand_activation", 32: "conv_1_activation"}


@pytest.mark.zoo
def test_extractor_shares_weights_with_the_model():
    model = kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3))
    extractor = kl.feature_extractor(model, strides=(32,))
    layer = model.get_layer("conv_pw_13")
    assert any(weight is layer.kernel for weight in extractor.weights)
    assert tuple(extractor(images((1, 128, 128, 3)))["stride_32"].shape) == (1, 4, 4, 256)


@pytest.mark.parametrize("strides", [(3,), (64,), ("8",)])
def test_bad_strides(strides):
    with pytest.raises(ValueError, match="`strides`"):
        kl.endpoint_names(kl.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3)), strides=strides)
