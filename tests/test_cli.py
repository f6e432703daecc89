"""The `lightnets` command line."""

import json
import subprocess
import sys

from keras_lightnets.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.split()
    assert "efficientnet_b1" in lines and "mobilenet_v1_0.5_160" in lines


def test_profile_prints_the_cost_table(capsys):
    assert main(["profile", "mobilenet_v1_0.25_128", "--layers", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_0.25_128" in out and "standard convolutions" in out and "separable / standard" in out
    assert "conv_pw_" in out


def test_profile_json_and_options(capsys):
    assert main(["profile", "mobilenet_v2", "--input-size", "96", "--no-top", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["input_shape"] == [96, 96, 3] and result["separable_pairs"] == 17


def test_profile_of_a_segmenter(capsys):
    assert main(["profile", "lraspp_mobilenet_v3_large", "--input-size", "64", "--classes", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "lraspp_mobilenet_v3_large" and result["input_shape"] == [64, 64, 3]
    assert {tuple(row["output_shape"]) for row in result["layers"] if row["name"] == "upsample"} == {(64, 64, 5)}
    assert main(["profile", "lraspp_mobilenet_v3_large", "--no-top"]) == 2
    assert "`no_top`" in capsys.readouterr().err


def test_bad_input_exits_2_with_one_line(capsys):
    assert main(["profile", "resnet50"]) == 2
    assert "`name`" in capsys.readouterr().err
    assert main(["profile", "xception", "--input-size", "50"]) == 2
    assert "`input_shape`" in capsys.readouterr().err


def test_help_explains_every_flag():
    out = subprocess.run(
        [sys.executable, "-m", "keras_lightnets.cli", "profile", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--input-size", "--classes", "--no-top", "--layers", "--top", "--json"):
        assert flag in out


def _export_args(tmp_path):
    """``lightnets export`` of a saved MobileNetV1-0.25 (64 px, 4 classes) whose outputs depend on the input."""
    import keras_lightnets as kl
    from helpers import randomize

    path = str(tmp_path / "mobilenet_0.25_64.keras")
    randomize(kl.MobileNetV1(alpha=0.25, input_shape=(64, 64, 3), classes=4)).save(path)
    return ["export", path, "--quantization", "fp16", "--no-gpu", "--base-dir", str(tmp_path)]


def test_export_fails_naming_an_artifact_outside_its_tolerance(tmp_path, capsys, monkeypatch):
    """A real but wrong fp16 file (classifier outputs in reverse order) must fail the export with status 1."""
    import keras

    from keras_lightnets.export import report

    convert = report.to_tflite_variants

    def convert_a_broken_model(model, paths, **kwargs):
        broken = keras.models.clone_model(model)
        broken.set_weights(model.get_weights())
        classifier = broken.get_layer("conv_preds")
        kernel, bias = classifier.get_weights()
        classifier.set_weights([kernel[..., ::-1], bias[::-1]])
        return convert(broken, paths, **kwargs)

    monkeypatch.setattr(report, "to_tflite_variants", convert_a_broken_model)
    assert main(_export_args(tmp_path)) == 1
    captured = capsys.readouterr()
    failed = [line for line in captured.err.splitlines() if "export check failed" in line]
    assert len(failed) == 1 and "fp16 (" in failed[0] and "mobilenet_0.25_64_fp16.tflite" in failed[0]
    assert "allowed <= 1e-02" in failed[0]


def test_a_quantized_classifier_fails_only_when_far_and_disagreeing():
    """Near-ties (an undertrained model's nearly equal probabilities) may flip top-1 within a tiny difference."""
    from keras_lightnets.export.report import ExportRow

    def row(agreement, diff):
        return ExportRow("int8", "m_int8.tflite", 1.0, diff, agreement).problems()

    assert row(0.95, 0.2) == [] and row(0.0, 2e-3) == []
    (problem,) = row(0.5, 0.2)
    assert "top-1 agreement 0.500" in problem and "max |diff| 2.00e-01" in problem


def test_export_int8_needs_calibration_images(tmp_path, capsys):
    assert main(["export", "mobilenet_v1_0.25_128", "--base-dir", str(tmp_path), "--quantization", "int8"]) == 2
    err = capsys.readouterr().err
    assert "--calibration-dir" in err and "--calibration-dataset digits" in err


def _fresh(code, timeout=300, env=None):
    """Runs ``code`` in a fresh interpreter; returns the completed process (asserting success)."""
    import os

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


HEAVY = ("tensorflow", "keras", "tf_keras", "tensorflow_model_optimization", "ai_edge_litert", "tensorflow_datasets")


def test_help_and_list_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from keras_lightnets.cli import COMMANDS, main\n"
        "assert main(['list']) == 0\n"
        "for argv in [['--help']] + [[name, '--help'] for name, _ in COMMANDS if name != 'list']:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, argv\n"
        f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = _fresh(code).stdout
    assert "LOADED []" in out
    for name in ("list", "profile", "train", "evaluate", "export"):  # the top-level help names every command
        assert f"    {name} " in out.split("usage: lightnets [-h]")[1].split("usage:")[0]
    top = " ".join(out.split("usage: lightnets [-h]")[1].split("usage:")[0].split())  # unwrapped
    from keras_lightnets import registry

    builders = sorted(registry.exports())
    assert len(builders) >= 9 and all(builder in top for builder in builders), top  # every family, from the registry


def test_import_is_lazy_and_subpackages_are_attributes():
    code = (
        "import sys\n"
        "import keras_lightnets as kl\n"
        f"print('AFTER_IMPORT', [m for m in {HEAVY!r} if m in sys.modules])\n"
        "assert all(callable(f) for f in (kl.compress.prune, kl.export.to_tflite, kl.train.fit, kl.data.load_dataset))\n"
        "print('AFTER_ATTRIBUTES', [m for m in ('tensorflow_model_optimization', 'tf_keras', 'ai_edge_litert') if m in sys.modules])\n"
        "assert {'EfficientNet', 'compress', 'LightnetsError'} <= set(dir(kl)) and 'EfficientNet' in kl.__all__\n"
        "assert callable(kl.profile) and kl.profile is kl.profiling.profile\n"
    )
    out = _fresh(code).stdout
    assert "AFTER_IMPORT []" in out and "AFTER_ATTRIBUTES []" in out


def test_saved_layers_load_after_importing_the_library_first(tmp_path):
    """`import keras_lightnets` before `import keras` still registers our layers (tests/test_train.py checks the
    trained model's WarmupDecay schedule the same way)."""
    import keras

    import keras_lightnets as kl

    path = tmp_path / "separable.keras"
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, kl.SeparableConv(4)(inputs)).save(path)
    out = _fresh(f"import keras_lightnets, keras\nprint(type(keras.saving.load_model({str(path)!r}).layers[1]).__name__)").stdout
    assert out.split() == ["SeparableConv"]


def test_unknown_names_suggest_the_closest(capsys):
    assert main(["profile", "mobilenet_v2_035"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'mobilenet_v2_0.35_96'" in err and "`lightnets list`" in err
    assert len(err.strip().splitlines()) == 1


def test_usage_errors_are_one_paragraph():
    import os

    done = subprocess.run([sys.executable, "-m", "keras_lightnets.cli", "train", "--preset", "nope"],
                          capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'nope'" in done.stderr and "--help" in done.stderr and "usage:" not in done.stderr


def test_only_our_errors_exit_2_a_bug_keeps_its_traceback(monkeypatch):
    import pytest

    import keras_lightnets as kl
    from keras_lightnets import cli

    assert issubclass(kl.LightnetsError, ValueError)
    monkeypatch.setattr(cli, "_profile", lambda args: (_ for _ in ()).throw(KeyError("internal")))
    with pytest.raises(KeyError, match="internal"):
        main(["profile", "mobilenet_v1"])
    monkeypatch.setattr(cli, "_profile", lambda args: (_ for _ in ()).throw(ValueError("not ours")))
    with pytest.raises(ValueError, match="not ours"):
        main(["profile", "mobilenet_v1"])


def test_commands_are_quiet_unless_verbose(tmp_path):
    """TensorFlow's native logs (banners, absl's pre-init warning) go to a named log file; --verbose brings them back."""
    import os

    env = {**os.environ, "KERAS_LIGHTNETS_LOG_DIR": str(tmp_path)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    command = [sys.executable, "-m", "keras_lightnets.cli", "profile", "mobilenet_v1_0.25_128"]
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stdout.startswith("mobilenet_0.25_128")
    logs = list(tmp_path.glob("lightnets-profile-*.log"))
    assert len(logs) == 1 and quiet.stderr.strip().splitlines() == [f"(TensorFlow and LiteRT logs: {logs[0]})"]
    assert "absl::InitializeLog" in logs[0].read_text()
    loud = subprocess.run(command + ["--verbose"], capture_output=True, text=True, env=env, timeout=300)
    assert loud.returncode == 0 and "absl::InitializeLog" in loud.stderr
