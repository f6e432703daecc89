"""Evaluate a saved .keras classifier on a dataset's test split (accuracy, top-5, per class).

    python recipes/evaluate.py runs/mobilenet_v1_digits/model.keras --dataset digits
    python recipes/evaluate.py runs/mobilenet_v2_fashion_mnist/model.keras --dataset fashion_mnist --json
"""

import sys

from keras_lightnets import cli

if __name__ == "__main__":
    cli.console(["evaluate", *sys.argv[1:]])
