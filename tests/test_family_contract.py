"""The contract every family keeps, one parametrized suite over every registered builder.

A new family joins by registering itself (its data file) and adding one small case to
``CASES`` below; the first test fails until it does. What is specific to a family (its
parameter counts against keras.applications / timm / the Lite reference, ported weights
against its reference implementation) stays in that family's own test file.
"""

import inspect

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import (
    SHORT_EFFICIENTNET_LITE, SHORT_EFFICIENTNET_V2, SHORT_MOBILENET_V4, assert_depends_on_input, images, randomize, run,
)
from keras_lightnets import registry
from keras_lightnets.model_files import load_keras_model

# builder -> (small call of it, input size): one small network per family, every block kind of the family in it.
CASES = {
    "MobileNetV1": (dict(alpha=0.25), 64),
    "MobileNetV2": (dict(alpha=0.35), 64),
    "MobileNetV3Small": (dict(alpha=0.75), 64),
    "MobileNetV3Large": (dict(alpha=0.75, minimalistic=True), 64),
    "MobileNetV4": (dict(variant="small", stages=SHORT_MOBILENET_V4), 64),
    "EfficientNet": (dict(phi=1, scaling="compound", compound_coefficients=(0.5, 0.5, 1.0)), 64),
    "EfficientNetLite": (dict(phi=0, stages=SHORT_EFFICIENTNET_LITE), 64),
    "EfficientNetV2": (dict(variant="b0", stages=SHORT_EFFICIENTNET_V2), 64),
    "Xception": (dict(stages=[kl.Stage("xception_down", 32, preactivate=False), kl.Stage("xception_down", 48),
                              kl.Stage("xception_down", 64), kl.Stage("xception_middle", 64),
                              kl.Stage("xception_down", 96, inner_filters=64), kl.Stage("separable", 128)]), 71),
}
ENTRIES = {entry.exports[0]: entry for entry in registry.families()}
BUILDERS = sorted(ENTRIES)
# The argument each builder calls its classifier dropout (keras.applications' names).
DROPOUT_ARGUMENT = {"MobileNetV3Small": "dropout_rate", "MobileNetV3Large": "dropout_rate"}


def _builder(name):
    return getattr(kl, name)


def _small(name, **changes):
    arguments, size = CASES[name]
    return _builder(name)(**{"input_shape": (size, size, 3), "classes": 10, **arguments, **changes})


def test_every_registered_family_has_a_case():
    assert sorted(CASES) == BUILDERS


@pytest.mark.zoo
@pytest.mark.parametrize("name", BUILDERS)
def test_the_registry_entry_matches_the_builder(name):
    """Each registered name fixes arguments the builder has, at a resolution it accepts; the builder is exported."""
    entry = ENTRIES[name]
    builder = _builder(name)
    assert entry.load_builder() is builder
    parameters = inspect.signature(builder).parameters
    for model_name in entry.names:
        fixed = entry.fixed(model_name)
        assert set(fixed) <= set(parameters), (model_name, fixed)
        assert isinstance(registry.default_resolution(model_name), int) and registry.default_resolution(model_name) >= 32
    assert set(entry.options) <= set(parameters)
    assert list(parameters)[-1] == "stages" and parameters["weights"].default is None


@pytest.mark.zoo
@pytest.mark.parametrize("name", BUILDERS)
def test_a_registered_name_builds_through_create_model(name):
    entry = ENTRIES[name]
    model_name = min(entry.names, key=len)  # the bare name: the published variant
    arguments, size = CASES[name]
    model = registry.create_model(model_name, classes=7, input_shape=(size, size, 3),
                                  **{key: value for key, value in arguments.items() if key == "stages"})
    assert model.output_shape == (None, 7)


@pytest.mark.zoo
@pytest.mark.parametrize("name", BUILDERS)
def test_outputs_depend_on_the_input_and_sum_to_one(name):
    model = randomize(_small(name))
    outputs = run(model, images((2, *model.input_shape[1:])))
    assert_depends_on_input(outputs)
    np.testing.assert_allclose(outputs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", BUILDERS)
def test_keras_file_round_trip_in_safe_mode(name, tmp_path):
    model = randomize(_small(name))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = load_keras_model(path, "model")
    x = images((2, *model.input_shape[1:]))
    expected = run(model, x)
    assert_depends_on_input(expected)
    np.testing.assert_allclose(run(loaded, x), expected, atol=1e-6)


@pytest.mark.zoo
@pytest.mark.parametrize("name", BUILDERS)
def test_feature_endpoints_at_strides_4_to_32(name):
    model = _small(name, include_top=False, input_shape=(None, None, 3), stages=None)  # the published table's strides
    size = 128
    outputs = kl.feature_extractor(model)(images((1, size, size, 3)))
    assert sorted(outputs) == ["stride_16", "stride_32", "stride_4", "stride_8"]
    for stride in (4, 8, 16, 32):
        assert abs(outputs[f"stride_{stride}"].shape[1] - size / stride) <= 1, (stride, outputs[f"stride_{stride}"].shape)


@pytest.mark.parametrize("name", BUILDERS)
def test_the_inference_model_computes_the_same(name):
    model = randomize(_small(name))
    x = images((2, *model.input_shape[1:]))
    expected = run(model, x)
    assert_depends_on_input(expected)
    folded = kl.inference_model(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert np.abs(run(folded, x) - expected).max() < 1e-4


def _bad_rows(name):
    dropout = DROPOUT_ARGUMENT.get(name, "dropout")
    size = CASES[name][1]
    return [
        (dict(classes=0), "classes"),
        (dict(include_top=False, pooling="mean"), "pooling"),
        (dict(weights="imagenet"), "classes"),  # 10 classes with the ImageNet classifier
        (dict(weights="weights.bin"), "weights"),
        (dict(input_shape=(size, 16, 3)), "input_shape"),
        (dict(input_shape=(size, size)), "input_shape"),
        (dict(include_preprocessing="yes"), "include_preprocessing"),
        ({dropout: 1.0}, dropout),
        (dict(stages=[]), "stages"),
        (dict(stages=[kl.Stage("separable", 0)]), r"stages\[0\]\.filters"),
    ]


BAD_ROWS = [pytest.param(name, changes, argument, id=f"{name}-{argument}-{index}")
            for name in BUILDERS for index, (changes, argument) in enumerate(_bad_rows(name))]


@pytest.mark.zoo
@pytest.mark.parametrize("name, changes, argument", BAD_ROWS)
def test_bad_arguments_are_named_before_any_layer_is_made(name, changes, argument, monkeypatch):
    def no_layer(*args, **kwargs):
        raise AssertionError("a layer was made before the arguments were checked")

    monkeypatch.setattr(keras.layers.Layer, "__init__", no_layer)
    with pytest.raises(kl.LightnetsError, match=rf"`{argument}"):
        _small(name, **changes)


# Our builder -> its keras.applications twin (EfficientNet(phi) and EfficientNetV2(variant) stand for B0's / V2-B0's).
TWINS = {"MobileNetV1": "MobileNet", "MobileNetV2": "MobileNetV2", "MobileNetV3Small": "MobileNetV3Small",
         "MobileNetV3Large": "MobileNetV3Large", "EfficientNet": "EfficientNetB0", "EfficientNetV2": "EfficientNetV2B0",
         "Xception": "Xception"}
# Defaults that differ on purpose: nothing is downloaded unless asked; a name of None means the variant's own name.
DIFFERENT_DEFAULTS = {"weights": None, "name": None}


@pytest.mark.zoo
@pytest.mark.parametrize("name", sorted(TWINS))
def test_drop_in_signature_of_the_keras_applications_twin(name):
    """Every keras.applications argument, with its default, in the same order (extras only after them)."""
    ours = inspect.signature(_builder(name)).parameters
    theirs = inspect.signature(getattr(keras.applications, TWINS[name])).parameters
    for argument, parameter in theirs.items():
        assert argument in ours, argument
        expected = DIFFERENT_DEFAULTS.get(argument, parameter.default)
        if argument == "name" and ours[argument].default == parameter.default:
            expected = parameter.default  # Xception's fixed name
        assert ours[argument].default == expected, (argument, ours[argument].default, parameter.default)
    if name == "EfficientNet":  # EfficientNet(phi, input_shape, ...) is one builder for B0-B7: keywords only
        return
    order = [argument for argument in ours if argument != "variant"]  # EfficientNetV2's selector comes first
    assert order[:len(theirs)] == list(theirs)
