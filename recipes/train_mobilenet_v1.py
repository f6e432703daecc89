"""Train MobileNetV1 from scratch.

Default: the embedded digits (offline, a few minutes on a CPU). ``--preset fashion_mnist``
trains on Fashion-MNIST (Debian's dataset-fashion-mnist); ``--preset mobilenet_v1_imagenet``
is the paper's ImageNet recipe (RMSprop, staircase decay).

    python recipes/train_mobilenet_v1.py
    python recipes/train_mobilenet_v1.py --preset fashion_mnist
    python recipes/train_mobilenet_v1.py --preset mobilenet_v1_imagenet --data-dir ~/tensorflow_datasets
"""

from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset

if __name__ == "__main__":
    run_training_recipe(
        {
            "digits": preset("digits"),  # runs/mobilenet_v1_digits
            "fashion_mnist": preset("fashion_mnist"),  # runs/mobilenet_v1_fashion_mnist
            "mobilenet_v1_imagenet": preset("mobilenet_v1_imagenet"),  # runs/mobilenet_v1_imagenet2012
        },
        __doc__,
    )
