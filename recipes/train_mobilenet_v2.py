"""Train MobileNetV2 from scratch.

Default: Fashion-MNIST (60,000 real images; Debian's dataset-fashion-mnist) with the measured
small-data recipe. ``--preset digits`` is the quick offline run; ``--preset
mobilenet_v2_imagenet`` the paper's ImageNet recipe.

    python recipes/train_mobilenet_v2.py
    python recipes/train_mobilenet_v2.py --preset digits
    python recipes/train_mobilenet_v2.py --preset mobilenet_v2_imagenet --data-dir ~/tensorflow_datasets
"""

from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset

if __name__ == "__main__":
    run_training_recipe(
        {
            "fashion_mnist": preset("fashion_mnist", output_dir="runs/mobilenet_v2_fashion_mnist"),
            "digits": preset("digits", model="mobilenet_v2", output_dir="runs/mobilenet_v2_digits"),
            "mobilenet_v2_imagenet": preset("mobilenet_v2_imagenet", output_dir="runs/mobilenet_v2_imagenet"),
        },
        __doc__,
    )
