"""Magnitude pruning of a trained model (tfmot), measured: accuracy, sparsity, gzip size, LiteRT latency.

Fine-tunes the model while a polynomial schedule raises the sparsity of every Conv2D/Dense
kernel to --target-sparsity (depthwise kernels are never pruned by tfmot; the sparsity table
shows it), strips the wrappers, saves pruned.keras and fp32 TFLite files of the model before
and after, and writes report.md / report.json.

    python recipes/prune.py     # runs/mobilenet_v1_digits/model.keras (trained first if missing) -> .../pruned/
    python recipes/prune.py --model runs/mobilenet_v1_fashion_mnist/model.keras --dataset fashion_mnist \\
        --target-sparsity 0.75 --epochs 3
"""

from keras_lightnets.compress.recipe import recipe_parser, run_pruning, session_from_flags
from keras_lightnets.train.flags import run_quietly


def main(argv=None):
    """Parses flags and runs the pruning recipe."""
    parser = recipe_parser(__doc__, "pruned", epochs=10, learning_rate=0.01)
    parser.add_argument("--target-sparsity", type=float, default=0.5, help="final zeros per pruned kernel, [0, 1) (default 0.5)")
    parser.add_argument("--exclude", nargs="*", default=(), help="layer names to leave dense")
    args = parser.parse_args(argv)
    return run_quietly(
        "prune", args, argv,
        lambda: run_pruning(session_from_flags(args), args.target_sparsity, args.epochs, args.learning_rate, args.exclude),
    )


if __name__ == "__main__":
    main()
