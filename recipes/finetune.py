"""Fine-tuning from pretrained weights: a new head on the frozen backbone, then the backbone itself.

Defaults (the `digits_finetune` preset; `--preset fashion_mnist_finetune` for Fashion-MNIST) start
from EfficientNet-Lite0's real ImageNet weights, installed offline by the setup. The backbone's batch
norms stay in inference mode in both phases (`--bn adapt` lets the unfrozen ones train); phase 1 trains
the new classifier for `--head-epochs` at `--head-learning-rate`, phase 2 trains what `--unfreeze`
names (`all`, or the last N blocks) at `--learning-rate` for `--epochs`. The result is
<output-dir>/model.keras, named by the final report, with labels.txt beside it.

    python recipes/finetune.py                                  # digits -> runs/efficientnet_lite0_digits_finetune/
    python recipes/finetune.py --preset fashion_mnist_finetune
    python recipes/finetune.py --dataset folder:~/photos         # -> runs/efficientnet_lite0_photos_finetune/
    python recipes/finetune.py --backbone runs/fm/model.keras --model mobilenet_v1 --alpha 0.5 --channels 1 \\
        --image-size 32 --dataset digits
"""

import argparse

from keras_lightnets.train.finetune import BN_MODES, FineTuneOptions, fine_tune
from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset

DEFAULTS = FineTuneOptions()


def unfreeze(text):
    """``--unfreeze``: "all" or a number of blocks."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'all' nor a number of blocks") from None


def fine_tune_flags(parser):
    """Adds the fine-tuning options (read by :func:`run`)."""
    parser.add_argument("--backbone", default=DEFAULTS.backbone,
                        help='"imagenet" (the model\'s published weights) or a .keras model of the same architecture '
                             f"(default {DEFAULTS.backbone})")
    parser.add_argument("--head-epochs", type=int, default=DEFAULTS.head_epochs,
                        help=f"epochs of the new classifier on the frozen backbone (default {DEFAULTS.head_epochs})")
    parser.add_argument("--head-learning-rate", type=float, default=DEFAULTS.head_learning_rate,
                        help=f"learning rate of that phase (default {DEFAULTS.head_learning_rate}); "
                             "--learning-rate sets the second phase's")
    parser.add_argument("--unfreeze", type=unfreeze, default=DEFAULTS.unfreeze, metavar="all|N",
                        help="what the second phase trains: all, or the last N blocks (default all)")
    parser.add_argument("--bn", choices=BN_MODES, default=DEFAULTS.bn,
                        help="frozen: batch norms keep the pretrained statistics (default); adapt: the unfrozen ones train")


def run(config, args):
    """Both phases; returns the fine-tune's summary."""
    options = FineTuneOptions(backbone=args.backbone, head_epochs=args.head_epochs,
                              head_learning_rate=args.head_learning_rate, unfreeze=args.unfreeze, bn=args.bn)
    return fine_tune(config, options, overwrite=args.overwrite)


if __name__ == "__main__":
    run_training_recipe(
        {name: preset(name) for name in ("digits_finetune", "fashion_mnist_finetune")},
        __doc__, extra_flags=fine_tune_flags, runner=run,
    )
