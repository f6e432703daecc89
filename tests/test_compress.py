"""Compression through tfmot: the Keras 3 <-> tf_keras bridge, pruning, QAT to int8 TFLite, per family."""

import gzip

import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import compress
from keras_lightnets.compress import backend
from keras_lightnets.export.tflite import float_ops
from helpers import (
    SHORT_EFFICIENTNET_LITE, SHORT_EFFICIENTNET_V2, SHORT_MOBILENET_V3, SHORT_MOBILENET_V4, assert_depends_on_input, images,
    randomize, small_models,
)

FAMILIES = {
    "mobilenet_v1": lambda: kl.MobileNetV1(input_shape=(32, 32, 1), alpha=0.25, classes=10),
    "mobilenet_v2": lambda: kl.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=10),
    "efficientnet": lambda: kl.EfficientNet(phi=0, input_shape=(32, 32, 3), classes=10),
    "xception": lambda: kl.Xception(input_shape=(71, 71, 3), classes=10),
    "mobilenet_v3": lambda: kl.MobileNetV3Small(input_shape=(32, 32, 3), alpha=0.75, classes=10),
    "efficientnet_v2": lambda: kl.EfficientNetV2("b0", input_shape=(32, 32, 3), classes=10, stages=SHORT_EFFICIENTNET_V2),
    "mobilenet_v4": lambda: kl.MobileNetV4("small", input_shape=(32, 32, 3), classes=10, stages=SHORT_MOBILENET_V4),
    "efficientnet_lite": lambda: kl.EfficientNetLite(0, input_shape=(32, 32, 3), classes=10, stages=SHORT_EFFICIENTNET_LITE),
}
FAMILY_NAMES = sorted(FAMILIES)
# tfmot wrapping and int8 conversion cost grows with the layer count (B0: 4 minutes on 2 cores).
QAT_FAMILIES = {
    "efficientnet": small_models()["efficientnet"],
    "mobilenet_v3": lambda: kl.MobileNetV3Small(input_shape=(32, 32, 3), alpha=0.75, classes=10, stages=SHORT_MOBILENET_V3),
}


# Keras 3 and tf_keras compute the same network with different float32 rounding (tf_keras runs the fused
# batch-norm kernel, Keras 3 its composition): measured 1e-6 relative per layer, 2.4e-5 to 3e-4 on
# EfficientNet's probabilities and 3.8e-5 on MobileNetV2's depending on what ran before in the process;
# a wrong layer moves them by > 1e-2.
BRIDGE_TOLERANCE = {"rtol": 5e-4, "atol": 1e-5}


def _model(family):
    return randomize(FAMILIES[family](), seed=3)


def _train_batch(model, count=16):
    x = images((count, *model.input_shape[1:]), seed=5)
    y = np.eye(model.output_shape[-1], dtype="float32")[np.arange(count) % model.output_shape[-1]]
    return x, y


# EfficientNet's, MobileNetV2's and Xception's layers are all in the short EfficientNetV2, MobileNetV3 and
# MobileNetV1 (15-21 s each): `-m slow`.
@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in ("efficientnet", "mobilenet_v2", "xception")
                                    else f for f in FAMILY_NAMES])
def test_bridge_round_trip_keeps_outputs(family):
    model = _model(family)
    legacy = compress.to_tf_keras(model)
    back = compress.to_keras(legacy)
    assert type(legacy).__module__.startswith("tf_keras")
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    assert legacy.count_params() == back.count_params() == model.count_params()
    x = images((2, *model.input_shape[1:]))
    expected = model.predict(x, verbose=0)
    assert_depends_on_input(expected)
    np.testing.assert_allclose(legacy.predict(x, verbose=0), expected, **BRIDGE_TOLERANCE)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, **BRIDGE_TOLERANCE)


@pytest.mark.parametrize("family", [f if f == "mobilenet_v1" else pytest.param(f, marks=pytest.mark.slow) for f in FAMILY_NAMES])
def test_prune_then_strip_gives_sparse_keras3_model(family):
    model = _model(family)
    pruned = compress.prune(model, 0.5, schedule="constant", frequency=1)
    assert compress.is_pruned(pruned)
    x, y = _train_batch(model)
    pruned.compile("sgd", "categorical_crossentropy")
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=compress.pruning_callbacks())
    sparse = compress.strip(pruned)
    assert type(sparse).__module__.startswith("keras.")
    report = compress.sparsity_report(sparse)
    by_kind = report.by_kind()
    for kind in ("Conv2D", "Dense"):
        if kind in by_kind:
            size, zeros = by_kind[kind]
            assert zeros / size == pytest.approx(0.5, abs=0.01)
    # tfmot never prunes depthwise kernels: the report must say so.
    assert by_kind["DepthwiseConv2D"][1] == 0
    assert 0.3 < report.kernel_sparsity < 0.5
    assert report.model_sparsity < report.kernel_sparsity + 0.05
    # The stripped Keras 3 model computes what the pruned tf_keras model computes.
    expected = pruned.predict(x, verbose=0)
    assert_depends_on_input(expected)
    np.testing.assert_allclose(sparse.predict(x, verbose=0), expected, **BRIDGE_TOLERANCE)
    # The tolerance tells networks apart: the one before pruning and its training step is far outside it.
    assert np.abs(model.predict(x, verbose=0) - expected).max() > 100 * BRIDGE_TOLERANCE["atol"]


@pytest.mark.slow
def test_exclude_keeps_a_layer_dense():
    model = _model("mobilenet_v1")
    pruned = compress.prune(model, 0.5, schedule="constant", frequency=1, exclude=["conv_preds"])
    x, y = _train_batch(model)
    pruned.compile("sgd", "categorical_crossentropy")
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=compress.pruning_callbacks())
    layers = {layer.name: layer for layer in compress.sparsity_report(compress.strip(pruned)).layers}
    assert layers["conv_preds"].zeros == 0
    assert layers["conv_pw_13"].sparsity == pytest.approx(0.5, abs=0.02)


def _closeness(got, reference):
    """Mean L1 distance of each output to the reference output of its own input, over that to other inputs'.

    0: ``got`` reproduces ``reference``; about 1: ``got`` does not tell its inputs apart as ``reference`` does.
    """
    distances = np.abs(got[:, None, :] - reference[None, :, :]).sum(-1)
    own = np.diag(distances).mean()
    others = (distances.sum() - np.trace(distances)) / (distances.size - len(distances))
    return float(own / others)


# MobileNetV1's int8 path is the trained digits classifier's test below; MobileNetV2 and Xception add only
# layers the others cover (2 minutes each on 2 cores).
# The short EfficientNetV2 has every rewrite EfficientNet needs (Rescaling and constant Normalization as depthwise,
# the SE Multiply config, the split swish) in a third of the time; MobileNetV3's short table brings hard-swish and the
# hard-sigmoid gate (the whole Small is `-m slow`, with EfficientNet, MobileNetV2 and Xception). MobileNetV4 (its
# short table and its whole conv-small) and EfficientNet-Lite are stock convolutions, depthwise, BN, ReLU/ReLU6 and
# adds, which the others cover: `-m slow` (measured: both convert with no float op).
@pytest.mark.parametrize("family", ["efficientnet_v2", "mobilenet_v3"] + [
    pytest.param(f, marks=pytest.mark.slow)
    for f in ("efficientnet", "mobilenet_v2", "xception", "mobilenet_v3_small", "efficientnet_lite", "mobilenet_v4",
              "mobilenet_v4_small")])
def test_quantize_aware_converts_to_fully_integer_tflite(family, tmp_path):
    """Every family's QAT graph converts with no float op left, and the int8 file computes the QAT network.

    Random weights make a network sensitive to rounding: int8 moved the probabilities by 0.2-0.6
    and kept 62-81% of the QAT model's top-1 answers (measured), so the check here is that each
    image's int8 output lies much nearer the QAT output of that image than of the others. How
    well int8 keeps a trained classifier is the digits tests' below.
    """
    from keras_lightnets.export import litert

    whole = {"mobilenet_v3_small": FAMILIES["mobilenet_v3"],
             "mobilenet_v4_small": lambda: kl.MobileNetV4("small", input_shape=(64, 64, 3), classes=10)}
    build = whole.get(family) or QAT_FAMILIES.get(family, FAMILIES[family])
    model = randomize(build(), seed=3)
    qat = compress.quantize_aware(model)
    assert compress.is_quantize_aware(qat)
    x, y = _train_batch(model)
    qat.compile("sgd", "categorical_crossentropy")
    qat.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = compress.to_int8_tflite(qat, str(tmp_path / f"{family}.tflite"))
    assert float_ops(path) == []
    got = litert.load(path)(x)["probabilities"]
    expected = qat.predict(x, verbose=0)
    assert got.shape == (len(x), 10)
    assert_depends_on_input(expected)
    closeness = _closeness(got, expected)
    print(f"{family}: int8 distance to its own image's QAT output / to the other images' = {closeness:.2f}")
    assert closeness < 0.85


def _qat_int8_on_digits(model, digits, tmp_path, epochs=1):
    """QAT fine-tuning of a trained digits classifier, its int8 file: (QAT accuracy, int8 accuracy, agreement)."""
    from keras_lightnets.export import litert

    x_train, y_train, x_test, y_test = digits
    qat = compress.quantize_aware(model)
    qat.compile(backend.tf_keras().optimizers.Adam(1e-4), "sparse_categorical_crossentropy")  # a tf_keras model
    qat.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    path = compress.to_int8_tflite(qat, str(tmp_path / "digits_int8.tflite"))
    assert float_ops(path) == []
    got = litert.load(path)(x_test)["probabilities"].argmax(1)
    simulated = qat.predict(x_test, verbose=0).argmax(1)
    return float(np.mean(simulated == y_test)), float(np.mean(got == y_test)), float(np.mean(got == simulated))


@pytest.mark.xdist_group("digits_model")  # one worker trains the shared digits model once
def test_quantize_aware_int8_keeps_a_trained_classifier(digits_model, tmp_path):
    """MobileNetV1 digits classifier: the int8 file gives the QAT model's answers, and the float accuracy."""
    d = digits_model
    _, accuracy, agreement = _qat_int8_on_digits(d.model, (d.x_train, d.y_train, d.x_test, d.y_test), tmp_path)
    print(f"QAT int8 on digits: accuracy {d.accuracy:.3f} (float) -> {accuracy:.3f}, agreement {agreement:.3f}")
    assert agreement >= 0.95
    assert accuracy >= d.accuracy - 0.03


@pytest.mark.slow
@pytest.mark.very_slow  # a training run of several minutes: by hand, not in CI (see pyproject.toml)
def test_quantize_aware_int8_keeps_a_trained_efficientnet(tmp_path):
    """EfficientNet's own QAT code (SE Multiply config, split swish, Normalization as depthwise) on a trained net."""
    import keras

    from keras_lightnets.data import load_digits

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=32, channels=3)
    model = kl.EfficientNet(phi=0, input_shape=(32, 32, 3), classes=10, dropout=0.0, drop_connect_rate=0.0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # 184 steps: at 0.99 the moving statistics stay far from the batches' (chance in inference)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=64, epochs=8, verbose=0)
    float_accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    assert float_accuracy >= 0.8, f"the float network did not learn (test accuracy {float_accuracy:.3f}): QAT would prove nothing"
    qat_accuracy, accuracy, agreement = _qat_int8_on_digits(model, (x_train, y_train, x_test, y_test), tmp_path)
    print(f"EfficientNet-B0 QAT int8 on digits: float {float_accuracy:.3f}, QAT {qat_accuracy:.3f} -> int8 {accuracy:.3f}, "
          f"agreement {agreement:.3f}")
    assert agreement >= 0.95
    assert accuracy >= qat_accuracy - 0.03


def test_float_ops_sees_a_float_file(tmp_path):
    from keras_lightnets.export import to_tflite

    path = to_tflite(kl.MobileNetV1(input_shape=(32, 32, 1), alpha=0.25, classes=10), str(tmp_path / "fp32.tflite"))
    assert "CONV_2D" in float_ops(path)


@pytest.mark.slow
@pytest.mark.very_slow  # a training run of several minutes: by hand, not in CI (see pyproject.toml)
def test_pruned_file_compresses(tmp_path):
    from keras_lightnets.export import to_tflite

    model = _model("mobilenet_v1")
    pruned = compress.prune(model, 0.75, schedule="constant", frequency=1)
    x, y = _train_batch(model)
    pruned.compile("sgd", "categorical_crossentropy")
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=compress.pruning_callbacks())
    sizes = {}
    for name, keras_model in (("dense", model), ("sparse", compress.strip(pruned))):
        path = to_tflite(keras_model, str(tmp_path / f"{name}.tflite"))
        sizes[name] = len(gzip.compress(open(path, "rb").read()))
    assert sizes["sparse"] < 0.6 * sizes["dense"]


def test_bad_input_names_the_argument():
    model = _model("mobilenet_v1")
    with pytest.raises(ValueError, match="target_sparsity"):
        compress.prune(model, 1.5)
    with pytest.raises(ValueError, match="schedule"):
        compress.prune(model, 0.5, schedule="cubic")
    with pytest.raises(ValueError, match="end_step"):
        compress.prune(model, 0.5, begin_step=10, end_step=5)
    with pytest.raises(ValueError, match="exclude"):
        compress.prune(model, 0.5, exclude=["no_such_layer"])
    with pytest.raises(ValueError, match="model"):
        compress.strip(compress.to_tf_keras(model))
    with pytest.raises(ValueError, match="qat_model"):
        compress.to_int8_tflite(compress.to_tf_keras(model), "x.tflite")


def test_custom_layers_cannot_cross_the_bridge():
    import keras

    inputs = keras.Input((16, 16, 3))
    outputs = kl.SeparableConv(8)(inputs)
    with pytest.raises(ValueError, match="SeparableConv"):
        compress.to_tf_keras(keras.Model(inputs, outputs))
    with pytest.raises(ValueError, match="functional"):
        compress.to_tf_keras(kl.SeparableConv(8))


def test_missing_extra_says_what_to_install():
    with pytest.raises(backend.CompressionUnavailableError, match=r"keras_lightnets\[compress\]"):
        backend._load("tensorflow_model_optimization_missing", "tensorflow-model-optimization")


def test_importing_tfmot_leaves_the_legacy_keras_switch_as_it_was():
    import os
    import subprocess
    import sys

    script = (
        "import os\n"
        "from keras_lightnets.compress import backend\n"
        "backend.tfmot()\n"
        "print(repr(os.environ.get('TF_USE_LEGACY_KERAS')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "None"


def _recipe(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "recipes" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["prune", "qat"])
def test_recipe_rejects_a_missing_model_with_exit_code_2(name, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _recipe(name).main(["--model", str(tmp_path / "missing.keras"), "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "model" in capsys.readouterr().err


@pytest.mark.slow
def test_recipes_on_digits_write_measured_reports(tmp_path):
    import json

    model = kl.MobileNetV1(input_shape=(32, 32, 1), alpha=0.25, classes=10, dropout=0.0)
    model.compile("adam", "categorical_crossentropy")
    model_path = str(tmp_path / "digits.keras")
    model.save(model_path)
    common = ["--model", model_path, "--epochs", "1", "--batch-size", "64"]
    pruned = _recipe("prune").main(common + ["--output-dir", str(tmp_path / "prune"), "--learning-rate", "0.05"])
    assert pruned["kernel_sparsity"] == pytest.approx(0.5 * (1 - pruned["sparsity_by_layer_class"]["DepthwiseConv2D"][0]
                                                            / sum(s for s, _ in pruned["sparsity_by_layer_class"].values())), abs=0.01)
    names = [a["name"] for a in pruned["artifacts"]]
    assert names == ["baseline_fp32", "pruned_fp32", "pruned.keras"]
    keras_acc, tflite_acc = pruned["artifacts"][2]["accuracy"], pruned["artifacts"][1]["accuracy"]
    assert abs(keras_acc - tflite_acc) < 0.01
    assert pruned["artifacts"][1]["gzip_kb"] < pruned["artifacts"][0]["gzip_kb"]
    qat = _recipe("qat").main(common + ["--output-dir", str(tmp_path / "qat"), "--learning-rate", "0.001"])
    assert qat["float_ops"] == []
    assert qat["artifacts"][1]["size_kb"] < qat["artifacts"][0]["size_kb"] / 2
    for directory in ("prune", "qat"):
        report = json.loads((tmp_path / directory / "report.json").read_text())
        assert report["artifacts"] and (tmp_path / directory / "report.md").exists()
        assert not list((tmp_path / directory).glob("*.partial*"))


@pytest.mark.parametrize("changes, argument", [(dict(seed=-1), "seed"), (dict(max_steps_per_epoch=0), "max_steps_per_epoch"),
                                               (dict(max_steps_per_epoch=2.5), "max_steps_per_epoch")])
def test_recipe_session_refuses_bad_seed_and_step_limit_before_loading(changes, argument, tmp_path):
    from keras_lightnets.compress.recipe import open_session

    with pytest.raises(kl.LightnetsError, match=f"`{argument}`"):
        open_session(str(tmp_path / "missing.keras"), "digits", None, str(tmp_path / "out"), 16, **changes)
    assert not (tmp_path / "out").exists()


def test_recipe_step_limit_caps_the_epoch():
    from types import SimpleNamespace

    from keras_lightnets.compress.recipe import Session

    data = SimpleNamespace(train_size=1000)
    assert Session(None, data, 32, "out", 64, print).steps_per_epoch() == 15
    assert Session(None, data, 32, "out", 64, print, max_steps_per_epoch=4).steps_per_epoch() == 4
    assert Session(None, data, 32, "out", 64, print, max_steps_per_epoch=40).steps_per_epoch() == 15


def _mean_batch_range(outputs, batch_size):
    """Mean over batches of (min(batch min, 0), max(batch max, 0)): where a 0.999 moving average of batch ranges settles."""
    batches = [outputs[start:start + batch_size] for start in range(0, len(outputs), batch_size)]
    return (float(np.mean([min(b.min(), 0.0) for b in batches])), float(np.mean([max(b.max(), 0.0) for b in batches])))


def test_calibrated_ranges_are_the_float_networks_mean_batch_ranges():
    """Every activation range starts where tfmot's moving average would settle, measured here on the Keras 3 network."""
    import keras

    from keras_lightnets.compress import ranges

    model = randomize(kl.EfficientNetLite(0, input_shape=(32, 32, 3), classes=10, stages=SHORT_EFFICIENTNET_LITE), seed=3)
    x = images((32, 32, 32, 3), seed=7)
    qat = compress.quantize_aware(model, calibration=x, batch_size=8)
    variables = ranges._range_variables(qat)
    checked = 0
    for (name, role), (low, high) in variables.items():
        if role != "output" or name not in {layer.name for layer in model.layers}:
            continue  # layers the int8 rewrite added (a hard sigmoid's ReLU6, a split swish) have no Keras 3 twin
        expected = _mean_batch_range(keras.Model(model.input, model.get_layer(name).output).predict(x, verbose=0), 8)
        assert (float(low.numpy()), float(high.numpy())) == pytest.approx(expected, rel=1e-4, abs=1e-5), name
        checked += 1
    assert checked >= 0.8 * len(variables) and checked >= 10
    # The classifier's softmax input: the logits' range.
    logits = keras.Model(model.input, model.get_layer("top_dropout").output).predict(x, verbose=0)
    kernel, bias = model.get_layer("predictions").get_weights()
    low, high = variables[("predictions", "pre_activation")]
    assert (float(low.numpy()), float(high.numpy())) == pytest.approx(_mean_batch_range(logits @ kernel + bias, 8), rel=1e-4)
    linear = [name for name, _ in variables if name.endswith("project_bn")]
    assert linear and any(abs(float(variables[(name, "output")][0].numpy())) > 0.1 for name in linear)


def test_tfmot_ranges_start_at_six_and_move_by_a_thousandth_per_step():
    """What calibration replaces, pinned: tfmot's [-6, 6] start and its 0.999 moving average (fails if tfmot changes them)."""
    from keras_lightnets.compress import ranges

    model = randomize(kl.MobileNetV1(input_shape=(32, 32, 3), alpha=0.25, classes=10, dropout=0.0), seed=3)
    x = images((8, 32, 32, 3), seed=7)
    qat = compress.quantize_aware(model)
    variables = ranges._range_variables(qat)
    assert len(variables) >= 20, "tfmot's range variables were not found by name (output_min/output_max)"
    # The preprocessing's scale and offset (a 1x1 depthwise in the int8 graph) are constants, not weights.
    assert qat.get_layer("quant_rescaling").trainable_weights == []
    assert len(qat.trainable_weights) == len(model.trainable_weights)
    # The first block's ReLU6: its input (the image's fixed range, the first kernel) is the same in every pass.
    low, high = variables[("conv1_relu", "output")]
    assert (float(low.numpy()), float(high.numpy())) == (-6.0, 6.0)
    qat(x, training=True)
    first = np.array([float(low.numpy()), float(high.numpy())])
    target = (first - 0.999 * np.array([-6.0, 6.0])) / 0.001  # the batch range the step moved toward
    assert abs(target[0]) < 1e-3 and 1.0 < target[1] <= 6.0 + 1e-3  # a ReLU6's batch range
    qat(x, training=True)  # the same batch again: a 0.999 average moves another thousandth of the way
    second = np.array([float(low.numpy()), float(high.numpy())])
    np.testing.assert_allclose(second, 0.999 * first + 0.001 * target, rtol=1e-6)
    assert np.abs(second - first).max() > 1e-3


@pytest.mark.parametrize("images, batch_size, argument", [(np.zeros((0, 8, 8, 3)), 8, "images"), (np.zeros((8, 8, 3)), 8, "images"),
                                                          (np.zeros((2, 8, 8, 3)), 0, "batch_size")])
def test_calibration_refuses_what_it_cannot_measure(images, batch_size, argument):
    from keras_lightnets.compress import ranges

    with pytest.raises(kl.LightnetsError, match=f"`{argument}`"):
        ranges.calibrate_ranges(None, None, images, batch_size)
