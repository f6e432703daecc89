"""Train EfficientNet-B{phi} from scratch.

``--phi`` picks B0..B7 (the official width/depth/resolution table). Default: the embedded
digits at 32 px (offline); ``--preset efficientnet_imagenet`` is the paper's recipe at the
phi's own resolution (RMSprop, EMA 0.9999, stochastic depth 0.2, RandAugment).

    python recipes/train_efficientnet.py --phi 0
    python recipes/train_efficientnet.py --preset efficientnet_imagenet --phi 1 --data-dir ~/tensorflow_datasets
"""

from keras_lightnets import registry, validation
from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset


def phi_flag(parser):
    """Adds ``--phi``; returns the function that applies it to a config."""
    parser.add_argument("--phi", type=int, default=0, help="compound coefficient 0..7 (B0..B7; default 0)")

    def apply(args, config):
        validation.check_choice("phi", args.phi, range(8))
        name = f"efficientnet_b{args.phi}"
        changes = {"model": name}
        if not hasattr(args, "output_dir"):
            changes["output_dir"] = config.output_dir.replace("efficientnet", name)
        if config.dataset == "imagenet2012" and not hasattr(args, "image_size"):
            changes["image_size"] = registry.default_resolution(name)
        return config.replace(**changes)

    return apply


if __name__ == "__main__":
    run_training_recipe(
        {
            "digits": preset("digits", model="efficientnet_b0", alpha=None, dropout=None, output_dir="runs/efficientnet_digits"),
            "efficientnet_imagenet": preset("efficientnet_imagenet", output_dir="runs/efficientnet_imagenet"),
        },
        __doc__,
        extra_flags=phi_flag,
    )
