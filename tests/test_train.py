"""The training engine: config, schedules, weight decay, XLA policy, strategies, a real run, fine-tuning, CLI errors."""

import json
import pathlib
import runpy
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.train import TrainConfig, fit, load_config
from keras_lightnets.train.evaluate import evaluate_saved_model
from keras_lightnets.train.flags import add_config_flags, config_from_args
from keras_lightnets.train.optimizer import make_optimizer
from keras_lightnets.train.schedule import WarmupDecay
from keras_lightnets.train.strategy import StrategyUnavailableError, is_chief, make_strategy
from keras_lightnets.train.xla import resolve_jit_compile

TINY = dict(
    model="mobilenet_v1", alpha=0.25, dataset="digits", image_size=32, epochs=2, batch_size=64,
    optimizer="sgd", learning_rate=0.1, schedule="cosine", warmup_epochs=0.5, weight_decay=5e-4,
    bn_momentum=0.9, augment="translate", verbose=0,
)


def test_warmup_then_staircase_exponential_and_cosine():
    schedule = WarmupDecay(1.0, warmup_steps=10, total_steps=110, kind="exponential", decay_rate=0.5, decay_steps=20)
    values = [float(schedule(step)) for step in (0, 4, 9, 10, 29, 30, 50)]
    assert values == pytest.approx([0.1, 0.5, 1.0, 1.0, 1.0, 0.5, 0.25])
    cosine = WarmupDecay(2.0, warmup_steps=0, total_steps=100, kind="cosine")
    assert [float(cosine(s)) for s in (0, 50, 100, 150)] == pytest.approx([2.0, 1.0, 0.0, 0.0], abs=1e-6)
    restored = WarmupDecay.from_config(schedule.get_config())
    assert float(restored(30)) == pytest.approx(0.5)


def test_linear_scaling_of_the_learning_rate_with_batch_size():
    from keras_lightnets.train.schedule import make_schedule

    config = TrainConfig(learning_rate=0.008, base_batch_size=128, batch_size=512, warmup_epochs=1, epochs=3).validate()
    schedule = make_schedule(config, steps_per_epoch=10)
    assert schedule.peak == pytest.approx(0.032) and schedule.warmup_steps == 10 and schedule.total_steps == 30


@pytest.mark.parametrize("field, value", [
    ("optimizer", "lamb"), ("epochs", 0), ("learning_rate", -1.0), ("xla", "maybe"), ("strategy", "horovod"),
    ("precision", "float8"), ("schedule", "step"), ("ema_momentum", 1.5), ("augment", "mixup"), ("image_size", 16),
    ("translate", 0.0), ("translate", 0.6), ("random_erasing", -0.1), ("random_erasing", 1.5), ("tta", "crops"),
])
def test_every_bad_config_field_is_named(field, value):
    with pytest.raises(ValueError, match=f"Invalid `{field}`"):
        TrainConfig(**{field: value}).validate()
    with pytest.raises(ValueError, match="Invalid `learnig_rate`.*a field of TrainConfig"):
        TrainConfig().replace(learnig_rate=0.1)


def test_preset_then_config_file_then_flags(tmp_path):
    import argparse

    from keras_lightnets.train.presets import preset

    (tmp_path / "c.json").write_text(json.dumps({"epochs": 7, "batch_size": 32, "ema_momentum": 0.99}))
    parser = argparse.ArgumentParser()
    add_config_flags(parser, preset("digits"))
    args = parser.parse_args(["--config", str(tmp_path / "c.json"), "--batch-size", "16", "--ema-momentum", "none"])
    config = config_from_args(args, preset("digits"))
    assert (config.epochs, config.batch_size, config.ema_momentum, config.alpha) == (7, 16, None, 0.5)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="Invalid `config`"):
        load_config(tmp_path / "bad.json")


def test_weight_decay_skips_batch_norm_biases_and_depthwise_kernels():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(4, 1, name="pw")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="fc")(keras.layers.Flatten()(x)))
    config = TrainConfig(optimizer="sgd", momentum=0.0, weight_decay=0.1).validate()
    optimizer = make_optimizer(config, 1.0, model)
    before = {w.path: w.numpy().copy() for w in model.trainable_weights}
    optimizer.apply_gradients([(keras.ops.zeros_like(w), w) for w in model.trainable_weights])
    for weight in model.trainable_weights:
        decayed = np.allclose(weight.numpy(), before[weight.path] * 0.9, atol=1e-7)
        unchanged = np.array_equal(weight.numpy(), before[weight.path])
        if weight.path in ("pw/kernel", "fc/kernel"):
            assert decayed and not unchanged, weight.path
        else:  # dw/kernel, bn/gamma, bn/beta, pw/bias, fc/bias
            assert unchanged, weight.path


def _has_accelerator():
    """Whether TensorFlow sees a physical GPU or TPU here (asked independently of the policy's own query)."""
    import tensorflow as tf

    return any(tf.config.list_physical_devices(kind) for kind in ("GPU", "TPU"))


def test_xla_policy_never_compiles_on_cpu_unless_forced():
    assert resolve_jit_compile("auto", set()) is False
    assert resolve_jit_compile("auto", {"GPU"}) is True and resolve_jit_compile("auto", {"TPU"}) is True
    assert resolve_jit_compile("off", {"GPU"}) is False
    with pytest.warns(UserWarning, match="10-25x slower"):
        assert resolve_jit_compile("on", set()) is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_jit_compile("on", {"GPU"}) is True
    assert resolve_jit_compile("auto") is _has_accelerator()  # whatever this machine has
    with pytest.raises(ValueError, match="Invalid `xla`"):
        resolve_jit_compile("yes")


def test_strategies_by_name(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert make_strategy("default") is tf.distribute.get_strategy() and make_strategy("auto") is tf.distribute.get_strategy()
    assert is_chief(make_strategy("default"))
    with pytest.raises(StrategyUnavailableError, match="needs TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(StrategyUnavailableError, match="not valid JSON"):
        make_strategy("multiworker")
    with pytest.raises(ValueError, match="Invalid `strategy`"):
        make_strategy("parameter_server")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A real two-epoch run on digits with EMA and flip test-time augmentation (shared by the tests below)."""
    directory = tmp_path_factory.mktemp("runs") / "tiny"
    result = fit(TrainConfig(**TINY, ema_momentum=0.9, tta="flip", output_dir=str(directory)))
    return result


def test_a_real_run_writes_everything_and_its_model_evaluates_the_same(digits_run):
    run_dir = digits_run.run_dir
    names = {"config.json", "history.csv", "curves.png", "model.keras", "summary.json", "checkpoints", "logs"}
    import os

    assert names <= set(os.listdir(run_dir)) and "backup" not in os.listdir(run_dir)
    assert [row["epoch"] for row in digits_run.history] == [0, 1]
    assert {"loss", "accuracy", "test_loss", "test_accuracy", "learning_rate"} <= set(digits_run.history[0])
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["test_images"] == 359 and summary["xla"] is _has_accelerator()  # TINY keeps xla="auto"
    assert summary["params"] == digits_run.model.count_params()
    measured = evaluate_saved_model(os.path.join(run_dir, "model.keras"), "digits")
    assert measured["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert measured["accuracy"] > 0.2  # two epochs already beat chance (0.1) by far
    with open(os.path.join(run_dir, "curves.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_flip_tta_averages_the_image_and_its_mirror_in_evaluation_and_in_the_run_summary(digits_run):
    import os

    from keras_lightnets import data as data_lib

    path = os.path.join(digits_run.run_dir, "model.keras")
    images, labels = data_lib.load_digits(image_size=32)[1]
    model = keras.saving.load_model(path)
    single = model.predict(images, verbose=0)
    mirrored = model.predict(images[:, :, ::-1], verbose=0)
    expected_single = np.mean(single.argmax(-1) == labels)
    expected_tta = np.mean((single + mirrored).argmax(-1) == labels)
    assert expected_tta != expected_single  # mirrored digits change the votes
    assert evaluate_saved_model(path, "digits")["accuracy"] == pytest.approx(expected_single, abs=1e-6)
    assert evaluate_saved_model(path, "digits", tta="flip")["accuracy"] == pytest.approx(expected_tta, abs=1e-6)
    summary = digits_run.summary
    assert summary["tta"] == "flip"
    assert summary["test_accuracy"] == pytest.approx(expected_single, abs=1e-6)
    assert summary["test_accuracy_tta"] == pytest.approx(expected_tta, abs=1e-6)
    with pytest.raises(ValueError, match="Invalid `tta`.*flip_shift"):
        evaluate_saved_model(path, "digits", tta=True)


def test_a_trained_model_loads_in_a_fresh_process_after_importing_the_library(digits_run):
    import os

    code = (
        "import keras_lightnets, keras; "  # the library first: its classes register once Keras loads
        f"model = keras.saving.load_model({os.path.join(digits_run.run_dir, 'model.keras')!r}); "
        "print(type(model.optimizer._learning_rate).__name__, model.count_params())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["WarmupDecay", str(digits_run.model.count_params())]


def test_a_finished_or_different_run_is_not_overwritten(digits_run):
    with pytest.raises(ValueError, match="Invalid `output_dir`.*summary.json"):
        fit(TrainConfig(**TINY, ema_momentum=0.9, tta="flip", output_dir=digits_run.run_dir))
    summary = pathlib.Path(digits_run.run_dir) / "summary.json"
    finished = summary.read_bytes()
    summary.unlink()
    try:
        with pytest.raises(ValueError, match="changed: epochs"):
            fit(TrainConfig(**{**TINY, "epochs": 3}, ema_momentum=0.9, tta="flip", output_dir=digits_run.run_dir))
    finally:
        summary.write_bytes(finished)  # the shared run stays finished for the other tests


def test_a_run_saved_before_a_field_existed_resumes_when_the_field_keeps_its_default(tmp_path):
    from keras_lightnets.train.engine import _check_run_dir

    older = TrainConfig().to_dict()
    del older["translate"]
    (tmp_path / "config.json").write_text(json.dumps(older))
    _check_run_dir(str(tmp_path), TrainConfig(), overwrite=False)
    with pytest.raises(ValueError, match="changed: translate"):
        _check_run_dir(str(tmp_path), TrainConfig(translate=0.05), overwrite=False)


@pytest.mark.slow
def test_fine_tuning_freezes_then_unfreezes_the_backbone(digits_run, tmp_path):
    from keras_lightnets.train.finetune import FineTuneOptions, fine_tune

    import os

    # The head at the from-scratch rate, phase 2 at a tenth of it.
    config = TrainConfig(**{**TINY, "epochs": 1, "dropout": 0.1, "learning_rate": 0.01}, output_dir=str(tmp_path / "ft"))
    summary = fine_tune(config, FineTuneOptions(backbone=os.path.join(digits_run.run_dir, "model.keras"), head_epochs=1,
                                                head_learning_rate=0.1))
    trained = keras.saving.load_model(os.path.join(digits_run.run_dir, "model.keras"))
    phase1 = keras.saving.load_model(str(tmp_path / "ft" / "1-head" / "model.keras"))
    backbone1 = phase1.layers[1]
    reference = trained.get_layer("conv_pw_13").get_weights()[0]
    assert np.array_equal(backbone1.get_layer("conv_pw_13").get_weights()[0], reference)  # frozen in phase 1
    assert not backbone1.trainable
    result = keras.saving.load_model(str(tmp_path / "ft" / "model.keras"))
    assert not np.array_equal(result.layers[1].get_layer("conv_pw_13").get_weights()[0], reference)  # trained in phase 2
    assert np.array_equal(result.layers[1].get_layer("conv_pw_13_bn").get_weights()[2],
                          trained.get_layer("conv_pw_13_bn").get_weights()[2])  # batch norms kept their statistics
    assert summary["head"]["test_accuracy"] > 0.2 and summary["test_accuracy"] > 0.2
    assert summary["full"]["epochs"] == 1


def test_cli_train_bad_input_exits_2_with_one_paragraph(tmp_path, capsys):
    from keras_lightnets import cli

    cases = [
        (["--dataset", "fashion_mnist", "--data-dir", str(tmp_path)], "apt-get install dataset-fashion-mnist"),
        (["--batch-size", "4096"],
         "Invalid `batch_size`: received batch_size=4096; allowed: at most the training set's size (1438 images)"),
        (["--strategy", "multiworker"], "needs TF_CONFIG"),
        (["--dataset", f"folder:{tmp_path}"], "0 class folder(s)"),
    ]
    for flags, message in cases:
        assert cli.main(["train", *flags, "--output-dir", str(tmp_path / "run")]) == 2
        error = capsys.readouterr().err
        assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    unknown = subprocess.run(
        [sys.executable, "-m", "keras_lightnets.cli", "train", "--learnig-rate", "0.1"], capture_output=True, text=True, timeout=300,
    )
    assert unknown.returncode == 2 and "unrecognized arguments: --learnig-rate" in unknown.stderr


def test_finetune_recipe_without_the_imagenet_file_exits_2_naming_file_and_url(keras_home, tmp_path, capsys, monkeypatch):
    recipe = str(pathlib.Path(__file__).resolve().parents[1] / "recipes" / "finetune.py")
    monkeypatch.setattr(sys, "argv", [
        recipe, "--backbone", "imagenet", "--model", "mobilenet_v1", "--alpha", "1.0", "--channels", "3",
        "--image-size", "56", "--output-dir", str(tmp_path / "ft"),
    ])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(recipe, run_name="__main__")
    error = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "mobilenet_1_0_224_tf_no_top.h5" in error and "https://storage.googleapis.com/" in error
    # One paragraph; where TensorFlow first starts in this process its native logs went to a file, named after it.
    lines = [line for line in error.strip().splitlines() if not line.startswith("(TensorFlow and LiteRT logs: ")]
    assert "Traceback" not in error and len(lines) == 1
    assert not (tmp_path / "ft" / "1-head").exists()  # no run that never started: the same directory takes another config


def test_standard_twin_of_mobilenet_matches_the_papers_conv_mobilenet():
    # MobileNetV1 paper, Table 4: "Conv MobileNet" 29.3M parameters, 4866M mult-adds at 224.
    standard = kl.MobileNetV1(input_shape=(224, 224, 3), convolutions="standard")
    assert standard.count_params() == 29_306_056
    cost = kl.profile(standard)
    assert cost.macs == pytest.approx(4866e6, rel=1e-3) and cost.separable_pairs == 0
    with pytest.raises(ValueError, match="Invalid `convolutions`"):
        kl.MobileNetV1(convolutions="standard", weights="imagenet")


def test_the_final_report_says_what_each_saved_model_is(digits_run):
    """model.keras is the last epoch, checkpoints/best.keras the best test epoch: both in summary.json and the report."""
    import json
    import os

    from keras_lightnets.train.engine import report_lines

    with open(os.path.join(digits_run.run_dir, "summary.json")) as handle:
        summary = json.load(handle)
    best = summary["best_checkpoint"]
    accuracies = [row["test_accuracy"] for row in digits_run.history]
    assert best["test_accuracy"] == pytest.approx(max(accuracies)) and best["epoch"] == accuracies.index(max(accuracies)) + 1
    assert summary["test_accuracy"] == pytest.approx(digits_run.summary["test_accuracy"])
    measured = evaluate_saved_model(os.path.join(digits_run.run_dir, best["path"]), "digits")["accuracy"]
    assert measured == pytest.approx(best["test_accuracy"], abs=1e-6)  # the file is the epoch it claims to be
    text = "\n".join(report_lines(digits_run))
    assert f"test accuracy {summary['test_accuracy']:.4f}" in text and f"{best['test_accuracy']:.4f}" in text
    assert "model.keras" in text and "checkpoints/best.keras" in text and "last epoch" in text


# The engine takes any registry name (the families' own paths are tested in test_family_contract); these run under -m slow.
@pytest.mark.slow
@pytest.mark.parametrize("name, epochs, size, minimum", [
    ("mobilenet_v3_small", 1, 32, 0.2), ("efficientnet_v2_b0", 3, 32, 0.2),
    ("mobilenet_v4_conv_small", 3, 64, 0.3), ("efficientnet_lite0", 3, 64, 0.15),
])
def test_the_newest_families_train_by_name(name, epochs, size, minimum, tmp_path):
    """A registry name is all the engine needs (MobileNetV3's dropout_rate is reached through --dropout)."""
    changes = {"model": name, "alpha": None, "epochs": epochs, "optimizer": "adam", "learning_rate": 3e-3,
               "weight_decay": 0.0, "image_size": size}
    result = fit(TrainConfig(**{**TINY, **changes}, dropout=0.1, output_dir=str(tmp_path / "run")))
    assert result.model.count_params() == kl.create_model(name, input_shape=(size, size, 1), classes=10).count_params()
    # It learns (ten classes: chance is 0.1). Measured training accuracy of the last epoch: MobileNetV3-Small 0.28
    # after one epoch; MobileNetV4 conv-small 0.18 / 0.33 / 0.44 over three epochs at 64 px (0.23 at 32 px);
    # EfficientNet-Lite0, deep and with stochastic depth, 0.10 / 0.17 / 0.19. Its test accuracy after so short a
    # run is chance: the inference-mode statistics are not there yet (keras.applications' MobileNetV3 twin with
    # these weights gives the same outputs, to 7e-9), so the test set is not what this checks.
    assert result.history[-1]["accuracy"] > minimum
    assert any(isinstance(layer, keras.layers.Dropout) and layer.rate == 0.1 for layer in result.model.layers)
