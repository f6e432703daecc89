"""MobileNetV4 conv-small/medium/large: timm's architecture, its state dicts, the universal inverted bottleneck."""

import dataclasses
import importlib.util

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.models import timm_weights
from keras_lightnets.models.families import mobilenet_v4
from keras_lightnets.pth import CheckpointError
from tests import checkpoint_writers
from helpers import SHORT_MOBILENET_V4, assert_depends_on_input, assert_same_outputs, images, randomize, run, trainable_count

REFERENCE = "tests/data/mobilenet_v4_reference.npz"  # tools/make_mobilenet_v4_reference.py, torch side environment
# timm 1.0.31 (torch 2.13 CPU, measured once): sum(p.numel() for p in model.parameters()) at 1000 classes, and
# multiply-adds at timm's default resolution (FlopCounterMode / 2).
TIMM_PARAMETERS = {"small": 3_774_024, "medium": 9_715_512, "large": 32_590_864}
TIMM_MACS = {"small": 186.0e6, "medium": 1.08e9, "large": 6.38e9}


def _spec():
    spec = importlib.util.spec_from_file_location("mobilenet_v4_reference", "tools/make_mobilenet_v4_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_tool = _spec()  # synthetic_tensor and reference_inputs: numpy only, no torch


def _stored(case):
    data = np.load(REFERENCE)
    keys = [str(key) for key in data[f"{case}_keys"]]
    shapes = [tuple(int(d) for d in shape.split(",")) for shape in data[f"{case}_shapes"]]
    state = {key: reference_tool.synthetic_tensor(key, shape) for key, shape in zip(keys, shapes)}
    return state, data[f"{case}_logits"]




# The default run (and the zoo subset, run again on JAX by CI) takes conv-small; medium and large are `-m slow`,
# conv-medium's parity case stays in the default run.
@pytest.mark.parametrize("variant", [pytest.param("small", marks=pytest.mark.zoo), pytest.param("medium", marks=pytest.mark.slow),
                                     pytest.param("large", marks=pytest.mark.slow)])
def test_parameters_and_multiply_adds_equal_timms(variant):
    model = kl.MobileNetV4(variant)
    assert model.input_shape[1:] == (mobilenet_v4.DEFAULT_SIZES[variant],) * 2 + (3,)
    assert trainable_count(model) == TIMM_PARAMETERS[variant]
    assert kl.profile(model).macs == pytest.approx(TIMM_MACS[variant], rel=5e-3)


@pytest.mark.parametrize("case", [pytest.param("small_96", marks=pytest.mark.zoo), pytest.param("small_97", marks=pytest.mark.zoo),
                                  "medium_64", pytest.param("large_64", marks=pytest.mark.slow)])
def test_timm_state_dict_reproduces_timms_logits(case):
    """timm's model with name-derived weights (stored logits) = ours after the state dict is converted."""
    variant, size = case.split("_")
    state, expected = _stored(case)
    assert_depends_on_input(expected)
    model = kl.MobileNetV4(variant, input_shape=(int(size), int(size), 3), classifier_activation=None)
    timm_weights.load_timm_state_dict(model, state)
    got = model.predict(reference_tool.reference_inputs(int(size)).astype("float32"), verbose=0)
    assert np.abs(got - expected).max() < 1e-4


@pytest.mark.zoo
def test_tf_same_padding_would_be_caught(monkeypatch):
    """A planted TF "same" stride-2 padding (instead of PyTorch's symmetric one) moves the logits far."""
    state, expected = _stored("small_96")
    same = dataclasses.replace(
        mobilenet_v4.CONVENTIONS, downsample="same",
        stem=(dataclasses.replace(mobilenet_v4.CONVENTIONS.stem[0], padding="same"),),
    )
    monkeypatch.setattr(mobilenet_v4, "CONVENTIONS", same)
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3), classifier_activation=None)
    assert not any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in model.layers)
    timm_weights.load_timm_state_dict(model, state)
    got = model.predict(reference_tool.reference_inputs(96).astype("float32"), verbose=0)
    assert np.abs(got - expected).max() > 1e-2


def test_a_safetensors_file_loads_and_a_truncated_one_is_refused(tmp_path):
    state, expected = _stored("small_96")
    path = tmp_path / "model.safetensors"
    path.write_bytes(checkpoint_writers.safetensors(*checkpoint_writers.safetensors_of(
        {key: np.asarray(value, "<f4") for key, value in state.items()})))
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3), classifier_activation=None)
    timm_weights.load_timm_state_dict(model, str(path))
    got = model.predict(reference_tool.reference_inputs(96).astype("float32"), verbose=0)
    assert np.abs(got - expected).max() < 1e-4
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        timm_weights.load_timm_state_dict(model, str(truncated))


def test_bad_state_dicts_are_refused_before_any_weight_is_written():
    state, _ = _stored("small_96")
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3))
    before = [w.copy() for w in model.get_weights()]
    missing = {key: value for key, value in state.items() if key != "blocks.2.0.dw_start.conv.weight"}
    with pytest.raises(CheckpointError, match="blocks_2_0_dw_start_conv"):
        timm_weights.load_timm_state_dict(model, missing)
    with pytest.raises(CheckpointError, match="'blocks.9.0.conv.weight'.*no home"):
        timm_weights.load_timm_state_dict(model, {**state, "blocks.9.0.conv.weight": np.zeros((8, 8, 1, 1), "float32")})
    medium, _ = _stored("medium_64")
    with pytest.raises(CheckpointError, match="no home|another variant"):
        timm_weights.load_timm_state_dict(model, medium)
    ten = kl.MobileNetV4("small", input_shape=(96, 96, 3), classes=10)
    with pytest.raises(CheckpointError, match="predictions.*class count"):
        timm_weights.load_timm_state_dict(ten, state)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_feature_extractor_skips_the_head_and_loads_the_backbone():
    state, _ = _stored("small_96")
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3), include_top=False, pooling="avg")
    assert model.output_shape == (None, 960)
    timm_weights.load_timm_state_dict(model, state)
    features = kl.feature_extractor(kl.MobileNetV4("small", input_shape=(128, 128, 3), include_top=False))
    shapes = {name: tuple(output.shape[1:]) for name, output in features.output.items()}
    # The last layer at each stride: stage 0's output, then the expanded maps of the strided blocks (as
    # the other families' endpoints), then the 960-channel conv.
    assert shapes == {"stride_4": (32, 32, 32), "stride_8": (16, 16, 192), "stride_16": (8, 8, 576),
                      "stride_32": (4, 4, 960)}


def test_registry_names_and_width_multiplier():
    assert {n for n in kl.list_models() if n.startswith("mobilenet_v4")} == {
        "mobilenet_v4_conv_small", "mobilenet_v4_conv_medium", "mobilenet_v4_conv_large"}
    model = kl.create_model("mobilenet_v4_conv_small", input_shape=(64, 64, 3), classes=10)
    assert model.name == "mobilenet_v4_conv_small" and model.output_shape == (None, 10)
    wide = kl.MobileNetV4("small", alpha=1.5, input_shape=(64, 64, 3), include_top=False)
    assert wide.get_layer("conv_stem").filters == 48  # scaled above 1 (timm's fix_stem below 1)
    assert wide.output_shape[-1] == 1440
    narrow = kl.MobileNetV4("small", alpha=0.5, input_shape=(64, 64, 3))
    assert narrow.get_layer("conv_stem").filters == 32
    assert narrow.get_layer("conv_head").filters == 1280


@pytest.mark.parametrize("call, match", [
    (lambda: kl.MobileNetV4("tiny"), "`variant`"),
    (lambda: kl.MobileNetV4(weights="imagenet"), "no MobileNetV4 ImageNet file"),
    (lambda: kl.MobileNetV4(alpha=0), "`alpha`"),
    (lambda: kl.MobileNetV4(stages=[kl.Stage("universal_inverted_residual", 16, kernel=0, stride=2)]), r"stages\[0\]\.kernel"),
    (lambda: kl.MobileNetV4(stages=[kl.Stage("inverted_residual", 16, kernel=0)]), r"stages\[0\]\.kernel"),
    (lambda: kl.MobileNetV4(stages=[kl.Stage("inverted_residual", 16, start_kernel=3)]), r"stages\[0\]\.start_kernel"),
    (lambda: kl.MobileNetV4(stages=[kl.Stage("universal_inverted_residual", 16, start_kernel=4)]), r"stages\[0\]\.start_kernel"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.zoo
@pytest.mark.parametrize("start, middle, stride", [(5, 5, 2), (0, 3, 1), (3, 0, 1), (0, 0, 1), (3, 0, 2)])
def test_the_layer_equals_the_builders_block_and_round_trips(start, middle, stride, tmp_path):
    """UniversalInvertedResidual (ExtraDW, IB, ConvNeXt-like, FFN; strided) = the block a table builds."""
    stage = kl.Stage("universal_inverted_residual", 24 if stride == 2 else 32, kernel=middle, stride=stride,
                     expansion=3, start_kernel=start)
    table = kl.MobileNetV4(stages=[stage], input_shape=(33, 33, 32), include_top=False, include_preprocessing=False)
    randomize(table, seed=4)
    block = keras.Model(table.get_layer("bn1_act").output, table.output)  # the stem gives 17 x 17 x 32
    inputs = keras.Input(block.input.shape[1:])
    layer = kl.UniversalInvertedResidual(stage.filters, expand_ratio=3, start_kernel_size=start, kernel_size=middle,
                                         strides=stride)
    model = keras.Model(inputs, layer(inputs))
    model.set_weights(block.get_weights())
    x = images((2, *block.input.shape[1:]), seed=3, low=-1.0, high=1.0)
    expected = run(block, x)
    assert_depends_on_input(expected)
    assert_same_outputs(expected, model, x, atol=1e-5)
    path = str(tmp_path / "uib.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert np.abs(run(loaded, x) - expected).max() < 1e-5
    assert ("add" in layer.sublayers) == (stride == 1)


@pytest.mark.zoo
def test_profile_counts_every_depthwise_pair():
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3), stages=SHORT_MOBILENET_V4)
    report = kl.profile(model)
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert report.separable_pairs == len(depthwise) > 0
    assert report.macs_ratio < 1.0


@pytest.mark.slow
def test_whole_conv_small_runs_fully_on_the_gpu_accelerator_in_fp32_and_int8(tmp_path):
    """conv-small at timm's 224 px with the reference weights: every op on LiteRT's GPU accelerator, fp32 and int8."""
    from keras_lightnets.export import litert
    from keras_lightnets.export.tflite import float_ops, to_tflite

    if not litert.vulkan_driver_present():
        pytest.skip("no Vulkan driver for LiteRT's GPU accelerator: run tools/install-software-vulkan.sh (Mesa lavapipe)")
    state, _ = _stored("small_96")
    model = timm_weights.load_timm_state_dict(kl.MobileNetV4("small", classifier_activation=None), state)
    batch = images((4, 224, 224, 3), seed=6)
    expected = model.predict(batch, verbose=0)
    assert_depends_on_input(expected)
    fp32 = to_tflite(model, str(tmp_path / "fp32.tflite"))
    int8 = to_tflite(model, str(tmp_path / "int8.tflite"), quantization="int8",
                     representative_data=images((16, 224, 224, 3), seed=7))
    assert float_ops(int8) == []
    got = {}
    for label, path in (("fp32", fp32), ("int8", int8)):
        check = litert.gpu_check(path, images=batch, runs=1)
        assert check.ran, check.error
        assert check.fully_accelerated, f"{label}: some ops fell back to the CPU"
        got[label] = check.outputs["probabilities"]
    # The export adds softmax to a logit model; compared as log-probabilities (logits up to a constant), which
    # the near-uniform probabilities of these weights would hide.
    log_expected = expected - np.log(np.exp(expected).sum(-1, keepdims=True))
    errors = {label: float(np.abs(np.log(values) - log_expected).max()) for label, values in got.items()}
    print(f"max |log-probability diff| on the accelerator: fp32 {errors['fp32']:.2e}, int8 {errors['int8']:.2e} "
          f"(logits spread over {np.ptp(expected, axis=-1).max():.2f})")
    assert errors["fp32"] < 0.05 * np.ptp(expected, axis=-1).max()  # the accelerator computes in fp16
