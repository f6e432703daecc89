"""Quantization-aware training of a trained model (tfmot), ending in a full-integer TFLite file.

Fine-tunes the model at a low learning rate with fake-quantized int8 weights and activations,
converts it to an int8 TFLite file (no float op left: checked), and measures it against the
fp32 TFLite file of the model before QAT: LiteRT accuracy on the test set, size, CPU latency.
Writes report.md / report.json.

    python recipes/qat.py                       # the digits model (trained first if missing)
    python recipes/qat.py --model runs/fashion_mnist/model.keras --dataset fashion_mnist \\
        --epochs 1 --output-dir runs/qat_fashion
"""

import argparse

from keras_lightnets.compress.recipe import DEFAULT_MODEL, open_session, run_qat
from keras_lightnets.train.flags import exit_on_user_error


def main(argv=None):
    """Parses flags and runs the QAT recipe."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"trained .keras model (default {DEFAULT_MODEL})")
    parser.add_argument("--dataset", default="digits", help="dataset the model was trained on (default digits)")
    parser.add_argument("--data-dir", default=None, help="dataset directory (Fashion-MNIST IDX or tfds data_dir)")
    parser.add_argument("--epochs", type=int, default=3, help="QAT epochs (default 3)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="SGD learning rate (default 1e-4; 1e-3 diverged on digits)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--output-dir", default="runs/qat", help="where results go (default runs/qat)")
    args = parser.parse_args(argv)

    def run():
        session = open_session(args.model, args.dataset, args.data_dir, args.output_dir, args.batch_size)
        return run_qat(session, args.epochs, args.learning_rate)

    return exit_on_user_error(run)


if __name__ == "__main__":
    main()
