"""MobileNetV4 conv-small/medium/large: timm's architecture, its state dicts, the universal inverted bottleneck."""

import dataclasses

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.models import timm_weights
from keras_lightnets.models.families import mobilenet_v4
from keras_lightnets.pth import CheckpointError
from tests import checkpoint_writers
from family_references import timm_state_dict, timm_tool
from helpers import SHORT_MOBILENET_V4, assert_depends_on_input, assert_same_outputs, images, randomize, run

# Parameters, multiply-adds and logits against timm: the family-contract suite (family_references.py).


@pytest.mark.zoo
def test_tf_same_padding_would_be_caught(monkeypatch):
    """A planted TF "same" stride-2 padding (instead of PyTorch's symmetric one) moves the logits far."""
    state, expected = timm_state_dict("small_96")
    same = dataclasses.replace(
        mobilenet_v4.CONVENTIONS, downsample="same",
        stem=(dataclasses.replace(mobilenet_v4.CONVENTIONS.stem[0], padding="same"),),
    )
    monkeypatch.setattr(mobilenet_v4, "CONVENTIONS", same)
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3), classifier_activation=None)
    assert not any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in model.layers)
    timm_weights.load_timm_state_dict(model, state)
    got = model.predict(timm_tool.reference_inputs(96).astype("float32"), verbose=0)
    assert np.abs(got - expected).max() > 1e-2


def test_a_safetensors_file_loads_and_a_truncated_one_is_refused(tmp_path):
    state, expected = timm_state_dict("small_96")
    path = tmp_path / "model.safetensors"
    path.write_bytes(checkpoint_writers.safetensors(*checkpoint_writers.safetensors_of(
        {key: np.asarray(value, "<f4") for key, value in state.items()})))
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3), classifier_activation=None)
    timm_weights.load_timm_state_dict(model, str(path))
    got = model.predict(timm_tool.reference_inputs(96).astype("float32"), verbose=0)
    assert np.abs(got - expected).max() < 1e-4
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        timm_weights.load_timm_state_dict(model, str(truncated))


def test_bad_state_dicts_are_refused_before_any_weight_is_written():
    state, _ = timm_state_dict("small_96")
    model = kl.MobileNetV4("small", input_shape=(96, 96, 3))
    before = [w.copy() for w in model.get_weights()]
    missing = {key: value for key, value in state.items() if key != "blocks.2.0.dw_start.conv.weight"}
    with pytest.raises(CheckpointError, match="blocks_2_0_dw_start_conv"):
        timm_weights.load_timm_state_dict(model, missing)
    with pytest.raises(CheckpointError, match="'blocks.9.0.conv.weight'.*no home"):
        timm_weights.load_timm_state_dict(model, {**state, "blocks.9.0.conv.weight": np.zeros((8, 8, 1, 1), "float32")})
    medium, _ = timm_state_dict("medium_64")
    with pytest.raises(CheckpointError, match="no home|another variant"):
        timm_weights.load_timm_state_dict(model, medium)
    ten = kl.MobileNetV4("small", input_shape=(96, 96, 3), classes=10)
    with pytest.raises(CheckpointError, match="predictions.*class count"):
        timm_weights.load_timm_state_dict(ten, state)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_feature_extractor_skips_the_head_and_loads_the_backbone():
    state, _ = timm_state_dict("small_96")
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
    state, _ = timm_state_dict("small_96")
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


@pytest.mark.parametrize("variant,size,output_stride", [("small", 64, 16), ("small", 65, 8), ("medium", 65, 8)])
def test_output_stride_dilates_like_timm(variant, size, output_stride):
    """timm's ``output_stride`` feature maps (stored) = ours: strides removed, later kernels dilated as timm's builder."""
    state, expected = timm_state_dict(f"{variant}_{size}_os{output_stride}", "features")
    assert_depends_on_input(expected)
    model = kl.MobileNetV4(variant, input_shape=(size, size, 3), include_top=False, output_stride=output_stride)
    timm_weights.load_timm_state_dict(model, state)
    got = model.predict(timm_tool.reference_inputs(size).astype("float32"), verbose=0)
    got = np.transpose(got[..., :expected.shape[1]], (0, 3, 1, 2))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    # The same weights without dilation (every kernel at rate 1, strides kept at 1) are far off.
    undilated = kl.MobileNetV4(variant, input_shape=(size, size, 3), include_top=False, output_stride=output_stride)
    timm_weights.load_timm_state_dict(undilated, state)
    dilated = [layer for layer in undilated.layers if getattr(layer, "dilation_rate", (1, 1)) != (1, 1)]
    assert dilated
    rebuilt = keras.Model.from_config(_undilated_config(undilated))
    rebuilt.set_weights(undilated.get_weights())
    plain = np.transpose(rebuilt.predict(timm_tool.reference_inputs(size).astype("float32"), verbose=0)
                         [..., :expected.shape[1]], (0, 3, 1, 2))
    assert np.abs(plain - expected).max() > 100 * 1e-4


def _undilated_config(model):
    config = model.get_config()
    for layer in config["layers"]:
        if "dilation_rate" in layer["config"]:
            layer["config"]["dilation_rate"] = (1, 1)
    return config
