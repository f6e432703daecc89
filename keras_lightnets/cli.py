"""The ``lightnets`` command line."""

import argparse
import json
import os
import sys

DESCRIPTION = """Lightweight convolutional networks (MobileNetV1/V2, EfficientNet, Xception).

commands:
  list      print every registered model name
  profile   build a model and print its parameters and multiply-adds per layer
            kind, and the cost of the same network with standard convolutions
"""


def _parser():
    parser = argparse.ArgumentParser(
        prog="lightnets", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    commands.add_parser("list", help="print every registered model name, one per line")
    prof = commands.add_parser(
        "profile",
        help="print the cost table of a model",
        description="Build a model (random weights, nothing downloaded) and print its cost analysis.",
    )
    prof.add_argument("model", help="a name from `lightnets list`, e.g. efficientnet_b1 or mobilenet_v1_0.5_160")
    prof.add_argument(
        "--input-size", type=int, default=None, metavar="N",
        help="square input resolution in pixels (>= the model's minimum: 32, or 71 for xception); "
        "default: the model's own resolution",
    )
    prof.add_argument("--classes", type=int, default=1000, metavar="N", help="classifier outputs (>= 1, default 1000)")
    prof.add_argument("--no-top", action="store_true", help="profile the feature extractor without the classifier")
    prof.add_argument("--layers", action="store_true", help="also print one row per layer that has parameters or MACs")
    prof.add_argument(
        "--top", type=int, default=None, metavar="K",
        help="with --layers: only the K layers with the most MACs (>= 1)",
    )
    prof.add_argument("--json", action="store_true", help="print the full result as JSON instead of tables")
    return parser


def _profile(args):
    import keras_lightnets as kl
    from keras_lightnets.registry import default_resolution

    size = args.input_size or default_resolution(args.model)
    model = kl.create_model(args.model, classes=args.classes, include_top=not args.no_top, input_shape=(size, size, 3))
    result = kl.profile(model)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return
    print("\n".join(result.summary_lines()))
    if args.layers:
        print()
        print("\n".join(result.layer_lines(top=args.top)))


def main(argv=None):
    """Entry point of the ``lightnets`` console script.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        Process exit status: 0 on success, 2 on invalid arguments.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            from keras_lightnets.registry import list_models

            print("\n".join(list_models()))
        elif args.command == "profile":
            if args.top is not None and args.top < 1:
                raise ValueError(f"Invalid `--top`: received {args.top}; allowed: an integer >= 1.")
            _profile(args)
    except ValueError as error:
        print(f"lightnets: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
