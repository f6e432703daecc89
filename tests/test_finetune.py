"""Fine-tuning from pretrained weights: batch norms kept in inference mode, the last N blocks, one result."""

import json
import os

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.models import blocks
from keras_lightnets.train.config import TrainConfig
from keras_lightnets.train.finetune import FineTuneOptions, fine_tune, set_trainable, transfer_model

LITE0_64 = dict(model="efficientnet_lite0", image_size=64, channels=3, dataset="digits", batch_size=16, verbose=0)


def _digits_at_64(count):
    from keras_lightnets import data as data_lib

    data = data_lib.load_dataset("digits", None, 64, 3, seed=0)
    images, labels = next(iter(data_lib.make_batches(data.train, 64, count, data.num_classes, training=False, cache=False)))
    return np.asarray(images, np.float32), np.asarray(labels, np.float32)


def _batch_norm_state(model):
    return {layer.name: [w.copy() for w in layer.get_weights()]
            for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}


@pytest.mark.parametrize("bn", ["frozen", "adapt"])
def test_phase_two_keeps_every_imagenet_batch_norm_statistic_exactly(bn):
    """A few real training steps of phase 2 from EfficientNet-Lite0's ImageNet weights.

    frozen (the default): every backbone batch norm's moving mean and variance, scale and offset
    equal the checkpoint's bit for bit while the convolutions train. adapt: the same steps move them
    (what every fine-tune did before, when ``backbone(x, training=False)`` did not keep them still),
    which shows the comparison can fail.
    """
    config = TrainConfig(**LITE0_64)
    reference = _batch_norm_state(kl.EfficientNetLite(0, weights="imagenet", include_top=False, input_shape=(64, 64, 3)))
    model = transfer_model(config, 10, 3, "imagenet", trainable=False)
    backbone = model.layers[1]
    set_trainable(backbone, "all", bn)
    kernel_before = backbone.get_layer("block4a_project_conv").get_weights()[0].copy()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    images, labels = _digits_at_64(32)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    after = _batch_norm_state(backbone)
    assert len(after) == 49 and set(after) == set(reference)
    changed = [name for name in after if any(not np.array_equal(a, b) for a, b in zip(after[name], reference[name]))]
    assert not np.array_equal(backbone.get_layer("block4a_project_conv").get_weights()[0], kernel_before)
    if bn == "frozen":
        assert not changed and all(not layer.trainable for layer in backbone.layers
                                   if isinstance(layer, keras.layers.BatchNormalization))
    else:
        assert len(changed) == 49  # the statistics of every batch norm moved after two batches


def test_unfreeze_n_trains_the_last_n_blocks_and_the_head_only():
    backbone = kl.EfficientNetLite(0, include_top=False, input_shape=(64, 64, 3))
    ends = blocks.block_ends(backbone)
    assert len(ends) == 16 and ends[-1] == "block7a_project_bn" and ends[-2] == "block6d_add"
    set_trainable(backbone, 2, "frozen")
    trained = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert trained == {f"{p}_{r}" for p in ("block6d", "block7a") for r in ("expand_conv", "dwconv", "project_conv")} | {"top_conv"}
    set_trainable(backbone, 2, "adapt")
    assert backbone.get_layer("block7a_bn").trainable and not backbone.get_layer("block6c_bn").trainable
    set_trainable(backbone, 0, "adapt")
    assert not backbone.trainable_weights
    expected = (r"Invalid `unfreeze`: received unfreeze=17; allowed: 'all' or a number of blocks from 1 to 16 "
                r"\(efficientnet_lite0 has 16 blocks\)")
    with pytest.raises(kl.LightnetsError, match=expected):
        set_trainable(backbone, 17, "frozen")
    for family in (kl.MobileNetV1(alpha=0.25, input_shape=(64, 64, 3), include_top=False),
                   kl.MobileNetV4("small", input_shape=(64, 64, 3), include_top=False)):
        assert len(blocks.block_ends(family)) == {"mobilenet_0.25_64": 13}.get(family.name, 17)
        assert blocks.trailing_layers(family, 1)[0].name in ("conv_dw_13", "blocks_4_0_conv")


@pytest.mark.parametrize("options, message", [
    (dict(unfreeze=20), r"`unfreeze`: received unfreeze=20; allowed: 'all' or a number of blocks from 1 to 16"),
    (dict(unfreeze="some"), r"`unfreeze`: received unfreeze='some'; allowed: 'all' or a number of blocks >= 1"),
    (dict(bn="train"), r"`bn`: received bn='train'"),
    (dict(head_epochs=0), r"`head_epochs`"), (dict(head_learning_rate=-1.0), r"`head_learning_rate`"),
    (dict(backbone="missing.keras"), r"`backbone`: received backbone='missing.keras'"),
])
def test_bad_options_fail_before_any_training_or_writing(tmp_path, options, message):
    config = TrainConfig(**LITE0_64, epochs=1, output_dir=str(tmp_path / "ft"))
    with pytest.raises(kl.LightnetsError, match=message):
        fine_tune(config, FineTuneOptions(**options))
    assert not (tmp_path / "ft").exists()


@pytest.mark.slow
def test_a_fine_tune_ends_in_one_named_result_that_beats_its_head(tmp_path, capsys):
    config = TrainConfig(**{**LITE0_64, "batch_size": 64, "verbose": 1}, epochs=2, optimizer="adamw", learning_rate=3e-4,
                         base_batch_size=64, schedule="cosine", warmup_epochs=0.0, epsilon=1e-7, weight_decay=0.01,
                         augment="translate", output_dir=str(tmp_path / "ft"))
    summary = fine_tune(config, FineTuneOptions(head_epochs=1))
    report = capsys.readouterr().out
    assert f"the result is {tmp_path / 'ft' / 'model.keras'}" in report
    assert json.loads((tmp_path / "ft" / "summary.json").read_text())["test_accuracy"] == summary["test_accuracy"]
    assert (tmp_path / "ft" / "labels.txt").read_text().split() == [str(i) for i in range(10)]
    assert summary["test_accuracy"] > summary["head"]["test_accuracy"] and summary["test_accuracy"] > 0.8
    model = keras.saving.load_model(tmp_path / "ft" / "model.keras")
    assert os.path.isdir(tmp_path / "ft" / "1-head") and model.output_shape == (None, 10)
