"""list_models / create_model."""

import pytest

import keras_lightnets as kl
from keras_lightnets.registry import default_resolution


@pytest.mark.zoo
def test_list_models_names_every_family():
    names = kl.list_models()
    assert names == sorted(names) and len(names) == len(set(names))
    for expected in ("mobilenet_v1", "mobilenet_v1_0.5_160", "mobilenet_v1_0.25_128", "mobilenet_v2_1.4_224",
                     "mobilenet_v2_0.35_96", "efficientnet_b0", "efficientnet_b7", "xception"):
        assert expected in names


@pytest.mark.parametrize(
    "name, params, input_shape",
    [
        ("mobilenet_v1_0.5_160", 1_342_536, (None, 160, 160, 3)),
        ("mobilenet_v2", 3_538_984, (None, 224, 224, 3)),
        ("efficientnet_b1", 7_856_239, (None, 240, 240, 3)),
        ("xception", 22_910_480, (None, 299, 299, 3)),
    ],
)
def test_create_model_builds_the_named_variant(name, params, input_shape):
    model = kl.create_model(name)
    assert model.count_params() == params
    assert tuple(model.input.shape) == input_shape
    assert default_resolution(name) == input_shape[1]


@pytest.mark.zoo
def test_create_model_passes_builder_arguments():
    model = kl.create_model("mobilenet_v1_0.25_128", classes=3, input_shape=(128, 128, 1))
    assert model.output.shape == (None, 3) and model.input.shape[-1] == 1


@pytest.mark.zoo
@pytest.mark.parametrize(
    "name, kwargs, argument",
    [
        ("resnet50", {}, "name"),
        ("efficientnet_b8", {}, "name"),
        (None, {}, "name"),
        ("mobilenet_v1_0.5_160", {"alpha": 1.0}, "alpha"),
        ("efficientnet_b2", {"phi": 3}, "phi"),
    ],
)
def test_create_model_rejects_bad_names(name, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        kl.create_model(name, **kwargs)
