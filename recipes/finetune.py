"""Transfer learning: a new head on a frozen pretrained backbone, then the whole network at a lower rate.

The backbone comes from ``--backbone``: "imagenet" (keras.applications' published file from
the Keras cache) or a ``.keras`` model of the same architecture, e.g. one trained by
train_mobilenet_v1.py on another dataset.

    python recipes/train_mobilenet_v1.py --dataset fashion_mnist --epochs 3 --output-dir runs/fm
    python recipes/finetune.py --backbone runs/fm/model.keras --dataset digits
    python recipes/finetune.py --backbone imagenet --model mobilenet_v2 --image-size 160 --channels 3 \\
        --dataset folder:~/photos --output-dir runs/photos
"""

from keras_lightnets.train.finetune import fine_tune
from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset


def fine_tune_flags(parser):
    """Adds --backbone, --head-epochs and --lr-factor (read by :func:`run`)."""
    parser.add_argument("--backbone", required=True, help='"imagenet" or a .keras model of the same architecture')
    parser.add_argument("--head-epochs", type=int, default=3, help="epochs with the backbone frozen (default 3)")
    parser.add_argument("--lr-factor", type=float, default=0.1, help="learning rate of phase 2 / phase 1 (default 0.1)")


def run(config, args):
    """Both phases; returns the phase-2 result."""
    return fine_tune(config, args.backbone, args.head_epochs, args.lr_factor, overwrite=args.overwrite)[1]


if __name__ == "__main__":
    run_training_recipe(
        {"digits": preset("digits", epochs=10, warmup_epochs=1.0, output_dir="runs/finetune")},
        __doc__, extra_flags=fine_tune_flags, runner=run,
    )
