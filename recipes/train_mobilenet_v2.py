"""Train MobileNetV2 from scratch.

Default: the embedded digits (offline, minutes). ``--preset fashion_mnist`` trains on
Fashion-MNIST (Debian's dataset-fashion-mnist); ``--preset mobilenet_v2_imagenet`` is the
paper's ImageNet recipe (RMSprop, staircase decay).

    python recipes/train_mobilenet_v2.py
    python recipes/train_mobilenet_v2.py --preset fashion_mnist
    python recipes/train_mobilenet_v2.py --preset mobilenet_v2_imagenet --data-dir ~/tensorflow_datasets
"""

from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset

if __name__ == "__main__":
    run_training_recipe(
        {
            "digits": preset("digits", model="mobilenet_v2", output_dir="runs/mobilenet_v2_digits"),
            # MobileNetV2-1.0 at 48 px for 20 epochs: the measured configuration (README).
            "fashion_mnist": preset(
                "fashion_mnist", model="mobilenet_v2", alpha=1.0, image_size=48, epochs=20,
                output_dir="runs/mobilenet_v2_fashion_mnist",
            ),
            "mobilenet_v2_imagenet": preset("mobilenet_v2_imagenet", output_dir="runs/mobilenet_v2_imagenet"),
        },
        __doc__,
    )
