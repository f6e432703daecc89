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
    from conftest import randomize

    path = str(tmp_path / "mobilenet_0.25_64.keras")
    randomize(kl.MobileNetV1(alpha=0.25, input_shape=(64, 64, 3), classes=4)).save(path)
    return ["export", path, "--quantization", "fp16", "--no-gpu", "--base-dir", str(tmp_path)]


def test_export_command_writes_and_checks_every_artifact(tmp_path, capsys):
    assert main(_export_args(tmp_path)) == 0
    captured = capsys.readouterr()
    assert "saved_model" in captured.out and "fp16" in captured.out
    assert "export check failed" not in captured.err
    assert (tmp_path / "mobilenet_0.25_64" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "tflite" / "mobilenet_0.25_64_fp16.tflite").exists()


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


def test_export_int8_needs_calibration_images(tmp_path, capsys):
    assert main(["export", "mobilenet_v1_0.25_128", "--base-dir", str(tmp_path), "--quantization", "int8"]) == 2
    assert "--calibration-dir" in capsys.readouterr().err
