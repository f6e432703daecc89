"""The README's commands, as written, in order, on the digits: train -> evaluate -> prune -> qat -> export.

Each command is taken from README.md's code blocks (so the test fails when the README changes
a command that no longer works), run in a fresh working directory in a subprocess, and each
reuses what the one before wrote (``runs/mobilenet_v1_digits/model.keras``). The default run
shortens the three training commands to one epoch; ``-m slow`` runs them exactly as written,
plus the fine-tuning pair.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = "runs/mobilenet_v1_digits"
CHAIN = (
    ".venv/bin/python recipes/train_mobilenet_v1.py",
    "lightnets evaluate runs/mobilenet_v1_digits/model.keras --dataset digits",
    "python recipes/prune.py",
    "python recipes/qat.py",
    "lightnets export runs/mobilenet_v1_digits/model.keras",
)
FINE_TUNE = ("python recipes/train_mobilenet_v1.py --dataset fashion_mnist", "python recipes/finetune.py --backbone runs/fm")
PHONE = ("python recipes/finetune.py --dataset folder:photos", "lightnets export runs/efficientnet_lite0_photos_finetune")
TRAINING = ("recipes/train_mobilenet_v1.py", "recipes/prune.py", "recipes/qat.py", "recipes/finetune.py")
SEGMENT = ("python recipes/segment_scenes.py", "lightnets export runs/lraspp_efficientnet_lite0_scenes")
DETECT = ("python recipes/detect_scenes.py", "lightnets export runs/ssdlite_efficientnet_lite0_scenes")
# What a test can afford (about 2 minutes), enough for the int8 file's per-pixel agreement check (>= 0.9).
SHORT_SEGMENTATION = ["--epochs", "2", "--train-scenes", "1024", "--test-scenes", "64"]
SHORT_DETECTION = ["--epochs", "3", "--train-scenes", "2048", "--test-scenes", "64"]


def readme_commands():
    """Every command line inside README.md's bash blocks, comments dropped, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if line:
                commands.extend(part.strip() for part in line.split("&&"))
    return commands


def find(prefix):
    matches = [command for command in readme_commands() if command.startswith(prefix)]
    assert len(matches) == 1, f"README.md should hold exactly one command starting {prefix!r}; found {matches}"
    return matches[0]


def argv(command, shorten):
    """The command as a subprocess argument list: this interpreter, our package, the repository's recipes."""
    words = shlex.split(command)
    program, rest = words[0], words[1:]
    if program in ("python", ".venv/bin/python"):
        head = [sys.executable, str(ROOT / rest[0])]
        rest = rest[1:]
        scenes = {"recipes/segment_scenes.py": SHORT_SEGMENTATION, "recipes/detect_scenes.py": SHORT_DETECTION}
        if shorten and any(command.find(script) >= 0 for script in TRAINING + tuple(scenes)):
            rest = rest + next((short for script, short in scenes.items() if script in command), ["--epochs", "1"])
    elif program in ("lightnets", ".venv/bin/lightnets"):
        head = [sys.executable, "-m", "keras_lightnets.cli"]
    else:
        raise AssertionError(f"unexpected program in {command!r}")
    return head + rest


def run(command, cwd, shorten, timeout=900):
    done = subprocess.run(argv(command, shorten), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KERAS_LIGHTNETS_LOG_DIR": str(cwd / "logs")})
    assert done.returncode == 0, f"{command}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    return done


def check_quiet(done):
    """Our output only: no TensorFlow/absl/LiteRT native log line on the terminal."""
    for stream in (done.stdout, done.stderr):
        for line in stream.splitlines():
            assert not re.match(r"^([IWE]\d{4} |INFO: |WARNING: All log messages|WARNING: \[)", line), line


def _chain(tmp_path, shorten):
    train, evaluate, prune, qat, export = (find(prefix) for prefix in CHAIN)
    done = run(train, tmp_path, shorten)
    check_quiet(done)
    run_dir = tmp_path / RUN
    for name in ("model.keras", "checkpoints/best.keras", "summary.json", "history.csv", "config.json"):
        assert (run_dir / name).exists(), name
    assert done.stdout.count("test accuracy") == 2  # the final report, once: model.keras and best.keras
    assert "val_" not in done.stdout and "test_accuracy" in done.stdout

    done = run(evaluate, tmp_path, shorten)
    check_quiet(done)
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert f"accuracy {summary['test_accuracy']:.4f}" in done.stdout  # evaluates the model just trained

    done = run(prune, tmp_path, shorten)
    check_quiet(done)
    assert "not found: training it first" not in done.stdout + done.stderr  # reused, not retrained
    assert (run_dir / "pruned" / "pruned.keras").exists() and (run_dir / "pruned" / "report.md").exists()
    pruned = json.loads((run_dir / "pruned" / "report.json").read_text())
    assert [a["name"] for a in pruned["artifacts"]] == ["baseline_fp32", "pruned_fp32", "pruned.keras"]
    assert pruned["kernel_sparsity"] > 0.3  # half of every Conv2D/Dense kernel, none of the depthwise ones

    done = run(qat, tmp_path, shorten)
    check_quiet(done)
    assert (run_dir / "qat" / "qat_int8.tflite").exists()
    assert json.loads((run_dir / "qat" / "report.json").read_text())["float_ops"] == []

    done = run(export, tmp_path, shorten)
    check_quiet(done)
    table = done.stdout.splitlines()
    assert table[0].startswith("artifact") and [row.split()[0] for row in table[1:]] == ["saved_model", "fp32", "int8"]
    assert (tmp_path / "saved_models" / "mobilenet_0.50_32" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "saved_models" / "tflite" / "mobilenet_0.50_32_int8.tflite").exists()
    logs = list((tmp_path / "logs").glob("lightnets-export-*.log"))
    assert len(logs) == 1 and str(logs[0]) in done.stderr  # LiteRT's logs, GPU subprocess included, went there
    assert "--- LiteRT GPU accelerator check of" in logs[0].read_text()  # the subprocess's logs too
    return tmp_path


@pytest.mark.xdist_group("readme")
def test_the_readme_commands_run_in_order_on_the_digits(tmp_path):
    _chain(tmp_path, shorten=True)


@pytest.mark.slow
@pytest.mark.very_slow  # a training run of several minutes: by hand, not in CI (see pyproject.toml)
def test_the_readme_commands_run_as_written(tmp_path):
    _chain(tmp_path, shorten=False)
    for prefix in FINE_TUNE:
        run(find(prefix), tmp_path, shorten=False, timeout=3600)
    assert (tmp_path / "runs" / "finetune" / "summary.json").exists() or any((tmp_path / "runs" / "finetune").rglob("summary.json"))


def readme_python(heading):
    """The first python block under a README heading."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _photo_folder(root, per_class=48):
    """Real photos as JPEG files in <root>/cat/ and <root>/coffee/: crops of scikit-image's chelsea and coffee."""
    import numpy as np
    import tensorflow as tf
    from skimage import data as skimage_data

    rng = np.random.default_rng(0)
    for label, name in (("cat", "chelsea"), ("coffee", "coffee")):
        image = getattr(skimage_data, name)()
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            side = int(rng.integers(200, min(image.shape[:2])))
            top, left = (int(rng.integers(0, image.shape[axis] - side + 1)) for axis in (0, 1))
            crop = image[top:top + side, left:left + side]
            (root / label / f"{index}.jpg").write_bytes(tf.io.encode_jpeg(tf.constant(crop), quality=90).numpy())


@pytest.mark.xdist_group("readme")
def test_the_readme_fine_tunes_on_a_folder_and_mediapipe_classifies_with_the_export(tmp_path):
    pytest.importorskip("mediapipe", reason="MediaPipe Tasks is not installed (pip install -e '.[mediapipe]')")
    _photo_folder(tmp_path / "photos")
    finetune, export = (find(prefix) for prefix in PHONE)
    done = run(finetune, tmp_path, shorten=True)
    check_quiet(done)
    result = tmp_path / "runs" / "efficientnet_lite0_photos_finetune"
    assert f"the result is {os.path.join('runs', 'efficientnet_lite0_photos_finetune', 'model.keras')}" in done.stdout
    assert (result / "labels.txt").read_text().split() == ["cat", "coffee"]
    done = run(export, tmp_path, shorten=True)
    check_quiet(done)
    assert "export check failed" not in done.stderr and "adding MediaPipe Tasks metadata" in done.stderr
    script = tmp_path / "classify.py"
    script.write_text(readme_python("## Fine-tune on your images and ship to a phone"))
    classified = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert classified.returncode == 0, classified.stderr[-2000:]
    name, score = classified.stdout.split()[-2:]
    assert name in ("cat", "coffee") and 0.0 <= float(score) <= 1.0


def train_then_export(tmp_path, commands, run_name, printed, first_labels, metadata_line):
    """A README scene recipe (shortened) then its `lightnets export`, with the checks both tasks share."""
    train, export = (find(prefix) for prefix in commands)
    done = run(train, tmp_path, shorten=True)
    check_quiet(done)
    result = tmp_path / "runs" / run_name
    assert printed in done.stdout and (result / "model.keras").exists()
    assert (result / "labels.txt").read_text().splitlines()[:2] == first_labels
    done = run(export, tmp_path, shorten=True)
    check_quiet(done)
    table = done.stdout.splitlines()
    assert [row.split()[0] for row in table[1:]] == ["saved_model", "fp32", "int8"]
    assert metadata_line in done.stderr
    # Every op on the GPU accelerator (a detector: its network without the CPU post-processing op).
    assert all(row.split()[5] == "yes" for row in table[2:]), table


@pytest.mark.slow
def test_the_readme_segments_scenes_and_exports_for_mediapipe(tmp_path):
    train_then_export(tmp_path, SEGMENT, "lraspp_efficientnet_lite0_scenes", "test mean IoU",
                      ["background", "t-shirt/top"], "adding MediaPipe Tasks metadata")


@pytest.mark.slow
def test_the_readme_detects_scenes_and_exports_for_mediapipe(tmp_path):
    train_then_export(tmp_path, DETECT, "ssdlite_efficientnet_lite0_scenes", "test AP", ["t-shirt/top", "trouser"],
                      "adding MediaPipe ObjectDetector metadata")


def test_every_readme_command_names_a_real_recipe_or_command():
    """Cheap guard over all README commands: recipes exist, `lightnets` subcommands exist."""
    from keras_lightnets.cli import COMMANDS

    for command in readme_commands():
        words = shlex.split(command)
        if words[0] in ("python", ".venv/bin/python") and words[1].startswith("recipes/"):
            assert (ROOT / words[1]).is_file(), command
        elif words[0] in ("lightnets", ".venv/bin/lightnets"):
            assert words[1] in dict(COMMANDS), command
