"""The seeds' claim, measured: the same MobileNetV1 trained with depthwise separable and with standard convolutions.

Writes <output-dir>/comparison.md (params, MACs, test accuracy, train time, CPU latency, ratios),
comparison.json and comparison.png. Default: the embedded digits (offline, minutes);
``--preset fashion_mnist`` runs it on Fashion-MNIST.

    python recipes/compare_dsc_vs_standard.py
    python recipes/compare_dsc_vs_standard.py --preset fashion_mnist --epochs 5
"""

from keras_lightnets.train.compare import compare, format_table
from keras_lightnets.train.flags import run_training_recipe
from keras_lightnets.train.presets import preset


def run(config, args):
    """Both runs, then the table (printed) and the report files."""
    rows = compare(config, overwrite=args.overwrite)
    print(format_table(rows))
    print(f"report: {config.output_dir}/comparison.md, comparison.png")


if __name__ == "__main__":
    run_training_recipe(
        {
            "digits": preset("digits", output_dir="runs/compare_digits"),
            "fashion_mnist": preset(
                "fashion_mnist", model="mobilenet_v1", alpha=0.5, image_size=48, epochs=20, output_dir="runs/compare_fashion_mnist",
            ),
        },
        __doc__, runner=run,
    )
