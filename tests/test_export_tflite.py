"""TFLite export run by LiteRT: CPU parity per quantization, the real GPU accelerator, int8 on real digits."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import assert_depends_on_input, images, randomize, run, small_models
from keras_lightnets.export import litert, to_tflite, to_tflite_variants

pytest.importorskip("ai_edge_litert", reason="needs the `lite` extra (ai-edge-litert)")
FAMILIES = small_models()
needs_vulkan = pytest.mark.skipif(
    not litert.vulkan_driver_present(),
    reason="no Vulkan driver for LiteRT's GPU accelerator: run tools/install-software-vulkan.sh (Mesa lavapipe)",
)


def _top1_agreement(a, b):
    return float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """{family: (fp32 file, fp16 file, batch, Keras output)}, converted once per family."""
    made = {}

    def convert(family):
        if family not in made:
            model = randomize(FAMILIES[family](), seed=5)
            height, width = model.input.shape[1:3]
            batch = images((4, height, width, 3), seed=6)
            folder = tmp_path_factory.mktemp(family)
            files = to_tflite_variants(model, {None: str(folder / "fp32.tflite"), "fp16": str(folder / "fp16.tflite")})
            made[family] = files[None], files["fp16"], batch, run(model, batch)
        return made[family]

    return convert


# Each family's two tests share its converted files: one worker converts them once.
# EfficientNet-Lite's layers are MobileNetV2's (its real Lite0 runs in int8 on the accelerator under -m slow);
# Xception's are plain convolutions, separable pairs and max pooling (30-40 s); EfficientNet's (squeeze-excite,
# swish, stochastic depth) are all in the short EfficientNetV2, MobileNetV2's in MobileNetV1 and MobileNetV4:
# the four are `-m slow`.
SLOW_FAMILIES = ("efficientnet_lite", "xception", "efficientnet", "mobilenet_v2")
FAMILY_PARAMS = [pytest.param(f, marks=[pytest.mark.xdist_group(f"tflite_{f}")] + ([pytest.mark.slow] if f in SLOW_FAMILIES else []))
                 for f in sorted(FAMILIES)]


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_fp32_and_fp16_parity_on_litert_cpu(family, converted):
    fp32, fp16, batch, expected = converted(family)
    assert_depends_on_input(expected)
    got = litert.load(fp32)(batch)["probabilities"]
    assert np.abs(got - expected).max() < 1e-4
    half = litert.load(fp16)(batch)["probabilities"]
    # fp16 weights on random-weight networks: up to 0.016 on a probability measured (EfficientNet, in a full run;
    # 0.008 alone); a wrong layer moves the probabilities by > 0.1.
    assert np.abs(half - expected).max() < 3e-2
    assert _top1_agreement(half, expected) == 1.0


@needs_vulkan
@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_fp16_runs_fully_on_the_gpu_accelerator(family, converted):
    _, fp16, batch, expected = converted(family)
    check = litert.gpu_check(fp16, images=batch, runs=1)
    assert check.ran, check.error
    assert check.fully_accelerated, f"{family}: some ops fell back to the CPU"
    # The accelerator computes in fp16: on these random-weight networks it moved probabilities by up to
    # 0.046 and flipped 1 of 4 near-tied answers (measured); a trained model's agreement is the int8 test's.
    assert np.abs(check.outputs["probabilities"] - expected).max() < 0.1
    assert _top1_agreement(check.outputs["probabilities"], expected) >= 0.75


@needs_vulkan
def test_gpu_check_discriminates_an_unsupported_graph(tmp_path):
    """REVERSE_SEQUENCE has no GPU kernel: the same check must report partial acceleration."""
    inputs = keras.Input((8, 8, 4), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Lambda(lambda t: tf.reverse_sequence(t, tf.constant([3]), seq_axis=1, batch_axis=0))(x)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(x))
    path = to_tflite(model, str(tmp_path / "reverse.tflite"))
    check = litert.gpu_check(path, runs=1)
    assert check.ran, check.error
    assert not check.fully_accelerated
    if not litert.gpu_device_present():
        assert "llvmpipe" in check.adapter, check.adapter  # no GPU: Mesa's lavapipe is the only Vulkan device
    else:
        assert check.adapter, "LiteRT named no GPU adapter"


@pytest.mark.xdist_group("digits_model")
@pytest.mark.parametrize("quantization", [pytest.param("dynamic", marks=pytest.mark.slow), "int8"])
def test_quantized_models_agree_with_float_on_real_digits(digits_model, quantization, tmp_path):
    model, x_train, x_test, y_test = digits_model.model, digits_model.x_train, digits_model.x_test, digits_model.y_test
    expected = run(model, x_test)
    float_accuracy = digits_model.accuracy
    assert float_accuracy > 0.8  # a real classifier, not a constant
    files = to_tflite_variants(model, {quantization: str(tmp_path / "q.tflite"), None: str(tmp_path / "fp32.tflite")},
                               representative_data=x_train[:200])
    got = litert.load(files[quantization])(x_test)["probabilities"]
    quantized_accuracy, agreement = np.mean(got.argmax(1) == y_test), _top1_agreement(got, expected)
    print(f"{quantization}: accuracy {float_accuracy:.3f} -> {quantized_accuracy:.3f}, agreement {agreement:.3f}")
    assert agreement >= 0.95
    assert quantized_accuracy >= float_accuracy - 0.03
    assert (tmp_path / "q.tflite").stat().st_size < 0.4 * (tmp_path / "fp32.tflite").stat().st_size


@needs_vulkan
@pytest.mark.xdist_group("digits_model")
def test_int8_model_runs_fully_on_the_gpu_accelerator(digits_model, tmp_path):
    model, x_train, x_test = digits_model.model, digits_model.x_train, digits_model.x_test
    path = to_tflite(model, str(tmp_path / "int8.tflite"), quantization="int8", representative_data=x_train[:100])
    check = litert.gpu_check(path, images=x_test, runs=1)
    assert check.ran, check.error
    assert check.fully_accelerated
    # The accelerator computes the int8 graph in floating point: measured 97.8% agreement on these digits.
    assert _top1_agreement(check.outputs["probabilities"], run(model, x_test)) >= 0.9


@needs_vulkan
@pytest.mark.slow
@pytest.mark.parametrize("family", ["mobilenet_v3", "efficientnet_v2", "mobilenet_v4", "efficientnet_lite"])
def test_int8_youngest_families_run_fully_on_the_gpu_accelerator(family, tmp_path):
    """Hard-swish, the hard-sigmoid gate and fused blocks in int8: no float op, every op on the accelerator."""
    from keras_lightnets.export.tflite import float_ops

    model = randomize(FAMILIES[family](), seed=5)
    height, width = model.input.shape[1:3]
    path = to_tflite(model, str(tmp_path / "int8.tflite"), quantization="int8",
                     representative_data=images((32, height, width, 3), seed=7))
    assert float_ops(path) == []
    check = litert.gpu_check(path, images=images((4, height, width, 3), seed=6), runs=1)
    assert check.ran, check.error
    assert check.fully_accelerated, f"{family}: some int8 ops fell back to the CPU"


def test_larger_static_batch(tmp_path):
    model = randomize(FAMILIES["mobilenet_v1"]())
    path = to_tflite(model, str(tmp_path / "b4.tflite"), batch_size=4)
    runtime = litert.load(path)
    assert runtime.input_shape == (4, 96, 96, 3)
    batch = images((8, 96, 96, 3))
    expected = run(model, batch)
    assert_depends_on_input(expected[:4])  # within each invocation of the batch-4 file, images differ
    assert_depends_on_input(expected[4:])
    got = runtime(batch)["probabilities"]
    assert np.abs(got - expected).max() < 1e-4


def test_int8_file_with_a_larger_static_batch_calibrates_in_batches(tmp_path):
    """The calibrator runs the batch-4 graph: it must be fed batches of 4, also from fewer images."""
    model = randomize(FAMILIES["mobilenet_v1"]())
    calibration = images((6, 96, 96, 3), seed=2)  # one full batch of 4, then 2 images that make no batch
    path = to_tflite(model, str(tmp_path / "int8_b4.tflite"), quantization="int8", representative_data=calibration,
                     batch_size=4)
    runtime = litert.load(path)
    assert runtime.input_shape == (4, 96, 96, 3)
    got = runtime(images((4, 96, 96, 3), seed=3))["probabilities"]
    assert got.shape == (4, 10)
    assert_depends_on_input(got)
    few = to_tflite(model, str(tmp_path / "int8_b4_few.tflite"), quantization="int8",
                    representative_data=calibration[:3], batch_size=4)
    assert litert.load(few).input_shape == (4, 96, 96, 3)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"quantization": "int4"}, "quantization"),
        ({"quantization": "int8"}, "representative_data"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_tflite_arguments(kwargs, argument, tmp_path):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        to_tflite(FAMILIES["mobilenet_v1"](), str(tmp_path / "m.tflite"), **kwargs)
    with pytest.raises(ValueError, match="`path`"):
        to_tflite(FAMILIES["mobilenet_v1"](), str(tmp_path / "m.bin"))
    assert not list(tmp_path.iterdir())
