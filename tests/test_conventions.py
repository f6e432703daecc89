"""The block-spec language refuses unknown values where they are written, never falling through to a default."""

import dataclasses

import pytest

from keras_lightnets import validation
from keras_lightnets.errors import LightnetsError
from keras_lightnets.layers.inverted_residual import expanded_channels, reduced_channels
from keras_lightnets.models import spec
from keras_lightnets.models.families import efficientnet, mobilenet_v3, mobilenet_v4
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage

STEM = ConvLayer(32, ("stem_conv", "stem_bn", "stem_act"), kernel=3, stride=2)
HIDDEN = ConvLayer(1280, ("conv_head", "norm_head", "act_head"))


def _conventions(**changes):
    return Conventions(**{"names": lambda *a: {}, "stem": (STEM,), **changes})


# Every field of Conventions with a value it must refuse (a typo, a wrong type, out of range).
BAD_CONVENTIONS = {
    "names": "block_names",
    "stem": [STEM],
    "head": (STEM, "top_conv"),
    "default_size": 0,
    "min_size": -1,
    "preprocessing": "imagenet_normalized",
    "classifier": "dense_head",
    "classifier_hidden": HIDDEN,  # with classifier="dense": a hidden layer nothing builds
    "activation": None,
    "bn_epsilon": 0.0,
    "bn_momentum": 1.0,
    "conv_initializer": None,
    "dense_initializer": None,
    "rounding": "divisable",
    "downsample": "torch",
    "expansion_rounding": "round",
    "se_base": "output",
    "se_rounding": "ceil",
    "se_activation": 6,
    "se_gate": "hardsigmoid",
    "depthwise_bn": "yes",
    "drop_connect_total": "blocks",
    "atrous": "timm",
}


def test_every_conventions_field_has_a_bad_value_row():
    assert set(BAD_CONVENTIONS) == {field.name for field in dataclasses.fields(Conventions)}


@pytest.mark.parametrize("field", sorted(BAD_CONVENTIONS))
def test_conventions_refuse_a_bad_value_naming_the_field(field):
    with pytest.raises(LightnetsError, match=rf"Conventions\.{field}"):
        _conventions(**{field: BAD_CONVENTIONS[field]})


@pytest.mark.parametrize("classifier", ["conv_mlp", "conv_bn_dense"])
def test_a_classifier_with_a_hidden_layer_needs_one(classifier):
    with pytest.raises(LightnetsError, match=r"Conventions\.classifier_hidden.*ConvLayer"):
        _conventions(classifier=classifier)
    assert _conventions(classifier=classifier, classifier_hidden=HIDDEN).classifier == classifier


@pytest.mark.parametrize("field, allowed", [
    ("preprocessing", spec.PREPROCESSINGS), ("classifier", spec.CLASSIFIERS), ("rounding", spec.ROUNDINGS),
    ("downsample", spec.DOWNSAMPLE_PADDINGS), ("se_base", spec.SE_BASES), ("se_gate", spec.SE_GATES),
])
def test_the_message_lists_the_allowed_set(field, allowed):
    with pytest.raises(LightnetsError) as error:
        _conventions(**{field: BAD_CONVENTIONS[field]})
    assert all(repr(value) in str(error.value) for value in allowed)


BAD_CONV_LAYERS = {
    "filters": 0,
    "names": ("conv", "bn"),
    "kernel": 2,
    "stride": 3,
    "padding": "causal",
    "width": "double",
    "rounding": "floor",
    "pad_name": None,  # with padding="correct": the padding layer needs a name
}


def test_every_conv_layer_field_has_a_bad_value_row():
    assert set(BAD_CONV_LAYERS) == {field.name for field in dataclasses.fields(ConvLayer)}


@pytest.mark.parametrize("field", sorted(BAD_CONV_LAYERS))
def test_conv_layers_refuse_a_bad_value_naming_the_field(field):
    fields = {"filters": 32, "names": ("c", "b", "a"), "padding": "correct", "pad_name": "pad", field: BAD_CONV_LAYERS[field]}
    with pytest.raises(LightnetsError, match=rf"ConvLayer\.{field}"):
        ConvLayer(**fields)


def test_a_stage_refuses_an_unknown_block_kind_where_it_is_written():
    with pytest.raises(LightnetsError, match=r"Stage\.block.*'inverted_residual'"):
        Stage("inverted_residuals", 16)
    with pytest.raises(LightnetsError, match=r"Stage\.activation"):
        Stage("inverted_residual", 16, activation=6)
    with pytest.raises(LightnetsError, match=r"stages\[1\]\.block"):
        spec.parse_stages([{"filters": 16}, {"block": "mbconv", "filters": 24}])


def test_every_published_family_passes_its_own_checks():
    """The families' conventions are built through the same checks (a module that imports is proof)."""
    assert efficientnet.CONVENTIONS.rounding == "divisible"
    assert mobilenet_v4.CONVENTIONS.downsample == "symmetric"
    assert mobilenet_v3.conventions("large", False).classifier == "conv_mlp"


@pytest.mark.parametrize("call, argument", [
    (lambda: spec.round_filters(32, 1.0, "divisable"), "rounding"),
    (lambda: expanded_channels(16, 6, "round"), "expansion_rounding"),
    (lambda: reduced_channels(96, 0.25, "ceil"), "se_rounding"),
])
def test_string_keyed_rules_are_lookups_that_raise(call, argument):
    with pytest.raises(LightnetsError, match=argument):
        call()


def test_the_rules_give_what_each_name_says():
    # 18 -> 16 is below 90%: "divisible" adds 8, "divisible_no_floor" does not
    assert [spec.round_filters(36, 0.5, rule) for rule in spec.ROUNDINGS] == [18, 24, 24, 16, 36]
    assert expanded_channels(20, 4.5, "exact") == 90 and expanded_channels(20, 4.5, "divisible") == 88
    assert reduced_channels(20, 0.25, "int") == 5 and reduced_channels(20, 0.25, "divisible") == 8


def test_lookup_names_the_argument_and_the_keys():
    with pytest.raises(LightnetsError, match=r"`style`.*'a', 'b'"):
        validation.lookup("style", "c", {"a": 1, "b": 2})
    assert validation.lookup("style", "b", {"a": 1, "b": 2}) == 2
