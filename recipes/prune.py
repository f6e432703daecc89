"""Magnitude pruning of a trained model (tfmot), measured: accuracy, sparsity, gzip size, LiteRT latency.

Fine-tunes the model while a polynomial schedule raises the sparsity of every Conv2D/Dense
kernel to --target-sparsity (depthwise kernels are never pruned by tfmot; the sparsity table
shows it), strips the wrappers, saves pruned.keras and fp32 TFLite files of the model before
and after, and writes report.md / report.json.

    python recipes/prune.py                     # the digits model (trained first if missing)
    python recipes/prune.py --model runs/fashion_mnist/model.keras --dataset fashion_mnist \\
        --target-sparsity 0.75 --epochs 3 --output-dir runs/prune_fashion
"""

import argparse

from keras_lightnets.compress.recipe import DEFAULT_MODEL, open_session, run_pruning
from keras_lightnets.train.flags import exit_on_user_error


def main(argv=None):
    """Parses flags and runs the pruning recipe."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"trained .keras model (default {DEFAULT_MODEL})")
    parser.add_argument("--dataset", default="digits", help="dataset the model was trained on (default digits)")
    parser.add_argument("--data-dir", default=None, help="dataset directory (Fashion-MNIST IDX or tfds data_dir)")
    parser.add_argument("--target-sparsity", type=float, default=0.5, help="final zeros per pruned kernel, [0, 1) (default 0.5)")
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs (default 10)")
    parser.add_argument("--learning-rate", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--exclude", nargs="*", default=(), help="layer names to leave dense")
    parser.add_argument("--output-dir", default="runs/prune", help="where results go (default runs/prune)")
    args = parser.parse_args(argv)

    def run():
        session = open_session(args.model, args.dataset, args.data_dir, args.output_dir, args.batch_size)
        return run_pruning(session, args.target_sparsity, args.epochs, args.learning_rate, args.exclude)

    return exit_on_user_error(run)


if __name__ == "__main__":
    main()
