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


def test_export_command_writes_and_checks_every_artifact(tmp_path, capsys):
    status = main(["export", "mobilenet_v1_0.25_128", "--input-size", "64", "--classes", "4",
                   "--base-dir", str(tmp_path), "--quantization", "fp16", "--no-gpu"])
    assert status == 0
    out = capsys.readouterr().out
    assert "saved_model" in out and "fp16" in out
    assert (tmp_path / "mobilenet_0.25_64" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "tflite" / "mobilenet_0.25_64_fp16.tflite").exists()


def test_export_int8_needs_calibration_images(tmp_path, capsys):
    assert main(["export", "mobilenet_v1_0.25_128", "--base-dir", str(tmp_path), "--quantization", "int8"]) == 2
    assert "--calibration-dir" in capsys.readouterr().err
