"""The contract every family keeps, one parametrized suite over every registered builder.

A new family joins by registering itself (its data file), adding one small case to ``CASES``
and its bad-argument rows below, and its reference counts and outputs to ``family_references.py``
(keras.applications' twin, timm or the Lite reference implementation); the first tests fail until
it does. What is specific to a family (its weight files, its planted-bug checks, its block
layers) stays in that family's own test file.
"""

import inspect

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from family_references import COUNTS, PARITY
from helpers import (
    SHORT_EFFICIENTNET_LITE, SHORT_EFFICIENTNET_V2, SHORT_MOBILENET_V4, assert_depends_on_input, images, randomize, run,
    trainable_count,
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
    "TorchvisionMobileNetV3Large": (dict(alpha=0.5), 64),
    "Xception": (dict(stages=[kl.Stage("xception_down", 32, preactivate=False), kl.Stage("xception_down", 48),
                              kl.Stage("xception_down", 64), kl.Stage("xception_middle", 64),
                              kl.Stage("xception_down", 96, inner_filters=64), kl.Stage("separable", 128)]), 71),
}
ENTRIES = {entry.exports[0]: entry for entry in registry.families() if entry.task == "classification"}
BUILDERS = sorted(ENTRIES)
# The argument each builder calls its classifier dropout (keras.applications' names).
DROPOUT_ARGUMENT = {"MobileNetV3Small": "dropout_rate", "MobileNetV3Large": "dropout_rate",
                    "TorchvisionMobileNetV3Large": "dropout_rate"}
# Our builder -> its keras.applications twin (EfficientNet(phi) and EfficientNetV2(variant) stand for B0's / V2-B0's).
TWINS = {"MobileNetV1": "MobileNet", "MobileNetV2": "MobileNetV2", "MobileNetV3Small": "MobileNetV3Small",
         "MobileNetV3Large": "MobileNetV3Large", "EfficientNet": "EfficientNetB0", "EfficientNetV2": "EfficientNetV2B0",
         "Xception": "Xception"}
# Defaults that differ on purpose: nothing is downloaded unless asked; a name of None means the variant's own name.
DIFFERENT_DEFAULTS = {"weights": None, "name": None}


def _builder(name):
    return getattr(kl, name)


def _small(name, **changes):
    arguments, size = CASES[name]
    return _builder(name)(**{"input_shape": (size, size, 3), "classes": 10, **arguments, **changes})


def test_every_registered_family_has_a_case_reference_counts_outputs_and_bad_arguments():
    assert sorted(CASES) == BUILDERS
    assert {row.builder for row in COUNTS} == set(BUILDERS)
    assert {row.builder for row in PARITY} == set(BUILDERS)
    assert set(BAD_ARGUMENTS) == set(BUILDERS)


@pytest.mark.parametrize("row", [pytest.param(row, marks=row.marks, id=row.id) for row in COUNTS])
def test_parameter_counts_and_multiply_adds_equal_the_reference(row):
    model = _builder(row.builder)(**row.arguments)
    if row.resolution is not None:
        assert model.input_shape[1:3] == (row.resolution, row.resolution)
    if row.total is not None:
        assert model.count_params() == row.total
    if row.trainable is not None:
        assert trainable_count(model) == row.trainable
    if row.published_total is not None:
        assert abs(model.count_params() / row.published_total - 1) < 0.015
    if row.macs is not None:
        macs = kl.profile(model).macs
        assert abs(macs / row.macs - 1) < row.macs_tolerance, macs
        if row.published_macs is not None:  # where the published figure differs, it does by more than the tolerance
            assert abs(macs / row.published_macs - 1) > row.macs_tolerance


def _twin_arguments(row):
    """keras.applications' builder and arguments for a COUNTS row of a twin family."""
    arguments = dict(row.arguments)
    if row.builder == "EfficientNet":
        return f"EfficientNetB{arguments.pop('phi')}", arguments
    if row.builder == "EfficientNetV2":
        return f"EfficientNetV2{arguments.pop('variant').upper()}", arguments
    return TWINS[row.builder], arguments


@pytest.mark.parametrize("name", sorted(TWINS))
def test_the_stored_counts_are_the_twins_own(name):
    """The first stored row of each keras.applications twin, rebuilt by keras.applications itself."""
    row = next(row for row in COUNTS if row.builder == name)
    twin, arguments = _twin_arguments(row)
    assert getattr(keras.applications, twin)(weights=None, **arguments).count_params() == row.total


@pytest.mark.parametrize("row", [pytest.param(row, marks=row.marks, id=row.id) for row in PARITY])
def test_ported_weights_reproduce_the_reference_outputs(row):
    row.check()


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
    assert list(parameters)[-1] in ("stages", "output_stride") and "stages" in list(parameters)[-2:]
    assert parameters["weights"].default is None


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


def _common_bad_rows(name):
    dropout = DROPOUT_ARGUMENT.get(name, "dropout")
    arguments, size = CASES[name]
    small = {"input_shape": (size, size, 3), "classes": 10, **arguments}
    return [
        ({**small, "classes": 0}, "`classes"),
        ({**small, "include_top": False, "pooling": "mean"}, "`pooling"),
        ({**small, "weights": "imagenet"}, "`classes"),  # 10 classes with the ImageNet classifier
        ({**small, "weights": "weights.bin"}, "`weights"),
        ({**small, "input_shape": (size, 16, 3)}, "`input_shape"),
        ({**small, "input_shape": (size, size)}, "`input_shape"),
        ({**small, "include_preprocessing": "yes"}, "`include_preprocessing"),
        ({**small, dropout: 1.0}, f"`{dropout}"),
        ({**small, "stages": []}, "`stages"),
        ({**small, "stages": [kl.Stage("separable", 0)]}, r"`stages\[0\]\.filters"),
    ]


# builder -> the family's own bad calls: (the call's arguments, what the message must match).
BAD_ARGUMENTS = {
    "MobileNetV1": [
        (dict(alpha=0), "`alpha`"), (dict(input_shape=(16, 16, 3)), "`input_shape`"), (dict(classes=0), "`classes`"),
        (dict(weights="no/such/file.keras"), "`weights`"), (dict(weights="imagenet", alpha=0.3), "`alpha`"),
        (dict(weights="imagenet", input_shape=(200, 200, 3)), "`input_shape`"),
        (dict(weights="imagenet", depth_multiplier=2), "`depth_multiplier`"),
        (dict(stages=[kl.Stage("separable", 64, se_ratio=0.25)]), r"`stages\[0\].se_ratio`"),
    ],
    "MobileNetV2": [
        (dict(alpha=-1.0), "`alpha`"), (dict(input_shape=(96, 96)), "`input_shape`"), (dict(input_shape=(96, 96, 0)), "`input_shape`"),
        (dict(include_top=False, pooling="mean"), "`pooling`"), (dict(weights="imagenet", alpha=0.6), "`alpha`"),
        (dict(weights="imagenet", input_shape=(96, 96, 1)), "`input_shape`"), (dict(dropout=1.0), "`dropout`"),
        (dict(stages=[kl.Stage("inverted_residual", 16), kl.Stage("inverted_residual", 0)]), r"`stages\[1\].filters`"),
        (dict(stages=[{"filters": 16, "kernel_size": 4}]), r"`stages\[0\].kernel"),
        (dict(stages=[{"filters": 16, "colour": "red"}]), r"`stages\[0\].colour`"),
    ],
    "EfficientNet": [
        (dict(phi=8), "`phi`"), (dict(phi=-1), "`phi`"), (dict(phi="b1"), "`phi`"), (dict(phi=1.5), "`phi`"),
        (dict(phi=1, scaling="linear"), "`scaling`"), (dict(phi=1, scaling="compound", weights="imagenet"), "`scaling`"),
        (dict(phi=0, drop_connect_rate=-0.1), "`drop_connect_rate`"), (dict(phi=0, stages=[], weights=None), "`stages`"),
        (dict(phi=0, stages=[kl.Stage("inverted_residual", 16)], weights="imagenet"), "`stages`"),
    ],
    "Xception": [
        (dict(input_shape=(64, 64, 3)), "`input_shape`"), (dict(classes=2.5), "`classes`"),
        (dict(weights="imagenet", classes=10), "`classes`"),
        (dict(weights="imagenet", classifier_activation="sigmoid"), "`classifier_activation`"),
    ],
    "MobileNetV3Small": [
        (dict(alpha=0.5, weights="imagenet"), "`alpha`"), (dict(minimalistic="yes"), "`minimalistic`"),
        (dict(dropout_rate=1.0), "`dropout_rate`"),
    ],
    "MobileNetV3Large": [
        (dict(alpha=0.75, minimalistic=True, weights="imagenet"), "`alpha`"), (dict(alpha=0), "`alpha`"),
    ],
    "EfficientNetV2": [
        (dict(variant="xl"), "`variant`"), (dict(variant="b0", dropout=-0.1), "`dropout`"),
        (dict(variant="s", stages=[{"conv_type": 2, "output_filters": 24}]), r"`stages\[0\].conv_type`"),
        (dict(variant="s", stages=[kl.Stage("fused_inverted_residual", 24, stride=3)]), r"`stages\[0\].stride`"),
    ],
    "MobileNetV4": [
        (dict(variant="tiny"), "`variant`"), (dict(weights="imagenet"), "no MobileNetV4 ImageNet file"), (dict(alpha=0), "`alpha`"),
        (dict(stages=[kl.Stage("universal_inverted_residual", 16, kernel=0, stride=2)]), r"`stages\[0\]\.kernel"),
        (dict(stages=[kl.Stage("inverted_residual", 16, kernel=0)]), r"`stages\[0\]\.kernel"),
        (dict(stages=[kl.Stage("inverted_residual", 16, start_kernel=3)]), r"`stages\[0\]\.start_kernel"),
        (dict(stages=[kl.Stage("universal_inverted_residual", 16, start_kernel=4)]), r"`stages\[0\]\.start_kernel"),
    ],
    "TorchvisionMobileNetV3Large": [
        (dict(weights="imagenet"), "torchvision publishes its ImageNet file outside PyPI"), (dict(alpha=0), "`alpha`"),
        (dict(output_stride=4), "`output_stride`"), (dict(output_stride=64), "`output_stride`"),
        (dict(stages=[kl.Stage("inverted_residual", 16, stride=2, dilation=2)]), r"`stages\[0\]\.dilation"),
        (dict(reduced_tail="yes"), "`reduced_tail`"),
    ],
    "EfficientNetLite": [
        (dict(phi=3, weights="imagenet"), "no offline ImageNet file exists for Lite3 and Lite4"), (dict(phi=5), "`phi`"),
        (dict(phi=0, weights="imagenet", classes=10), "`classes`"), (dict(phi=0, weights="imagenet", activation="swish"), "`activation`"),
    ],
}
BAD_ROWS = [pytest.param(name, arguments, match, id=f"{name}-{kind}-{index}")
            for name in BUILDERS
            for kind, rows in (("common", _common_bad_rows(name)), ("own", BAD_ARGUMENTS[name]))
            for index, (arguments, match) in enumerate(rows)]


@pytest.mark.zoo
@pytest.mark.parametrize("name, arguments, match", BAD_ROWS)
def test_bad_arguments_are_named_before_any_layer_is_made(name, arguments, match, monkeypatch):
    """A LightnetsError naming the argument, what it received and what is allowed; no layer made before it."""
    def no_layer(self, *args, **kwargs):
        raise AssertionError(f"a {type(self).__name__} was made before the arguments were checked")

    monkeypatch.setattr(keras.layers.Layer, "__init__", no_layer)
    with pytest.raises(kl.LightnetsError, match=match) as raised:
        _builder(name)(**arguments)
    message = str(raised.value)
    assert "received" in message and "allowed" in message, message


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
