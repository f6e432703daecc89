"""Compression through tfmot: the Keras 3 <-> tf_keras bridge, pruning, QAT to int8 TFLite, per family."""

import gzip

import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import compress
from keras_lightnets.compress import backend
from keras_lightnets.export.tflite import float_ops
from tests.conftest import images, randomize

FAMILIES = {
    "mobilenet_v1": lambda: kl.MobileNetV1(input_shape=(32, 32, 1), alpha=0.25, classes=10),
    "mobilenet_v2": lambda: kl.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=10),
    "efficientnet": lambda: kl.EfficientNet(phi=0, input_shape=(32, 32, 3), classes=10),
    "xception": lambda: kl.Xception(input_shape=(71, 71, 3), classes=10),
}
# Bridge round trips take 5-20 s per family; tfmot wrapping, fine-tuning and
# int8 conversion take 1-4 minutes per family on 2 cores, so the default run does MobileNetV1
# and `pytest -m slow` the others.
ROUND_TRIP = ["mobilenet_v1", "mobilenet_v2"] + [pytest.param(f, marks=pytest.mark.slow) for f in ("efficientnet", "xception")]
TFMOT = ["mobilenet_v1"] + [pytest.param(f, marks=pytest.mark.slow) for f in ("mobilenet_v2", "efficientnet", "xception")]


def _model(family):
    return randomize(FAMILIES[family](), seed=3)


def _train_batch(model, count=16):
    x = images((count, *model.input_shape[1:]), seed=5)
    y = np.eye(model.output_shape[-1], dtype="float32")[np.arange(count) % model.output_shape[-1]]
    return x, y


@pytest.mark.parametrize("family", ROUND_TRIP)
def test_bridge_round_trip_keeps_outputs(family):
    model = _model(family)
    legacy = compress.to_tf_keras(model)
    back = compress.to_keras(legacy)
    assert type(legacy).__module__.startswith("tf_keras")
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    assert legacy.count_params() == back.count_params() == model.count_params()
    x = images((2, *model.input_shape[1:]))
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(legacy.predict(x, verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("family", TFMOT)
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
    np.testing.assert_allclose(sparse.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-5)


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


@pytest.mark.parametrize("family", TFMOT)
def test_quantize_aware_converts_to_fully_integer_tflite(family, tmp_path):
    from keras_lightnets.export import litert

    model = _model(family)
    qat = compress.quantize_aware(model)
    assert compress.is_quantize_aware(qat)
    x, y = _train_batch(model)
    qat.compile("sgd", "categorical_crossentropy")
    qat.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = compress.to_int8_tflite(qat, str(tmp_path / f"{family}.tflite"))
    assert float_ops(path) == []
    runtime = litert.load(path)
    got = runtime(x[:4])["probabilities"]
    expected = qat.predict(x[:4], verbose=0)
    assert np.abs(got - expected).max() < 0.1
    assert got.shape == (4, 10)


def test_float_ops_sees_a_float_file(tmp_path):
    from keras_lightnets.export import to_tflite

    path = to_tflite(kl.MobileNetV1(input_shape=(32, 32, 1), alpha=0.25, classes=10), str(tmp_path / "fp32.tflite"))
    assert "CONV_2D" in float_ops(path)


@pytest.mark.slow
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
