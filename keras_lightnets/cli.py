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
  export    write a SavedModel for TF Serving and TFLite files for LiteRT, then
            measure each (size, parity with Keras, CPU and GPU-accelerator latency)
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
    exp = commands.add_parser(
        "export",
        help="export a model for TF Serving and LiteRT",
        description="Export a .keras model (or a registered architecture with random or given weights) as a "
        "versioned SavedModel (<base-dir>/<name>/<version>/) and TFLite files, and report size, parity with "
        "Keras and latency of each. Exits with status 1, naming the artifact, when one is outside its parity "
        "tolerance (SavedModel and fp32 max |diff| <= 1e-4, fp16 <= 1e-2, dynamic/int8 top-1 agreement >= 0.9) "
        "or does not run fully on the LiteRT GPU accelerator.",
    )
    exp.add_argument("model", help="a .keras file, or a name from `lightnets list`")
    exp.add_argument("--weights", default=None, help="with a registered name: a .keras/.weights.h5 file to load")
    exp.add_argument("--input-size", type=int, default=None, metavar="N",
                     help="square input size for a registered name or a model built with None dims")
    exp.add_argument("--classes", type=int, default=1000, metavar="N", help="with a registered name: classifier outputs")
    exp.add_argument("--base-dir", default="saved_models", help="TF Serving model repository root (default saved_models)")
    exp.add_argument("--tflite-dir", default=None, help="where .tflite files go (default: <base-dir>/tflite)")
    exp.add_argument(
        "--quantization", nargs="+", default=["fp32", "fp16"], choices=["fp32", "fp16", "dynamic", "int8"],
        help="TFLite variants to write (default: fp32 fp16); int8 needs --calibration-dir",
    )
    exp.add_argument("--calibration-dir", default=None,
                     help="folder of real JPEG/PNG images for int8 calibration and parity checks (up to 200 used)")
    exp.add_argument("--no-gpu", action="store_true", help="skip the LiteRT GPU-accelerator run")
    from keras_lightnets.train.flags import add_config_flags
    from keras_lightnets.train.presets import PRESETS, preset
    from keras_lightnets.train.test_time_augmentation import POLICIES as TTA_POLICIES

    train = commands.add_parser(
        "train", help="train a model (the engine every recipe uses)",
        description="Train, evaluate and save a model. Rerunning the same command resumes an interrupted run.",
    )
    train.add_argument("--preset", choices=sorted(PRESETS), default="digits", help="starting configuration (default: digits)")
    add_config_flags(train, preset("digits"))
    evaluate = commands.add_parser("evaluate", help="measure a saved .keras classifier on a dataset's test split")
    evaluate.add_argument("model", help="a .keras file, e.g. runs/digits/model.keras")
    evaluate.add_argument("--dataset", required=True, help="digits | fashion_mnist | folder:PATH | tfds name")
    evaluate.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX directory or tfds data_dir")
    evaluate.add_argument("--batch-size", type=int, default=256)
    evaluate.add_argument(
        "--tta", choices=TTA_POLICIES, default="none",
        help="test-time augmentation: average each image's prediction with its mirror's (flip), and with "
             "those moved 1 pixel up, down, left and right too (flip_shift); only for data whose mirror "
             "images keep their class (default: none)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _train(args):
    from keras_lightnets.train.engine import fit, result_line
    from keras_lightnets.train.flags import config_from_args
    from keras_lightnets.train.presets import preset

    result = fit(config_from_args(args, preset(args.preset)), overwrite=args.overwrite)
    print(result_line(result))


def _evaluate(args):
    import json

    from keras_lightnets.train.evaluate import evaluate_saved_model

    result = evaluate_saved_model(args.model, args.dataset, args.data_dir, args.batch_size, tta=args.tta)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    top5 = f", top-5 {result['top5_accuracy']:.4f}" if result["top5_accuracy"] is not None else ""
    views = f", {args.tta} test-time augmentation" if args.tta != "none" else ""
    print(f"{args.model} on {args.dataset}: accuracy {result['accuracy']:.4f}{top5} ({result['images']} test images{views})")
    for name, accuracy in result["per_class_accuracy"].items():
        print(f"  {name:>16}: {accuracy:.4f}")


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


def _load_images(folder, height, width, channels, limit=200):
    import numpy as np
    import keras

    if not os.path.isdir(folder):
        raise ValueError(f"Invalid `--calibration-dir`: received {folder!r}; allowed: an existing folder of images.")
    files = sorted(
        os.path.join(root, f) for root, _, names in os.walk(folder) for f in names
        if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))
    )[:limit]
    if not files:
        raise ValueError(f"Invalid `--calibration-dir`: received {folder!r}; allowed: a folder with JPEG/PNG images.")
    mode = "grayscale" if channels == 1 else "rgb"
    return np.stack([
        keras.utils.img_to_array(keras.utils.load_img(f, color_mode=mode, target_size=(height, width))) for f in files
    ]).astype("float32")


def _export(args):
    import keras

    import keras_lightnets as kl
    from keras_lightnets.export import signatures
    from keras_lightnets.export.report import export_and_measure, failures, format_rows

    if args.model.endswith(".keras"):
        if not os.path.isfile(args.model):
            raise ValueError(f"Invalid `model`: received {args.model!r}; allowed: an existing .keras file or a registered name.")
        model = keras.saving.load_model(args.model)
    else:
        from keras_lightnets.registry import default_resolution

        size = args.input_size or default_resolution(args.model)
        model = kl.create_model(args.model, classes=args.classes, input_shape=(size, size, 3), weights=args.weights)
    quantizations = [None if q == "fp32" else q for q in args.quantization]
    image_size = args.input_size if model.inputs[0].shape[1] is None else None
    height, width, channels = signatures.input_size(model, image_size)
    images = None
    if args.calibration_dir:
        images = _load_images(args.calibration_dir, height, width, channels)
    elif "int8" in quantizations:
        raise ValueError("Invalid `--quantization`: received int8 without --calibration-dir; allowed: int8 with "
                         "--calibration-dir pointing at real images (they calibrate the int8 ranges).")
    rows = export_and_measure(
        model, args.base_dir, args.tflite_dir or os.path.join(args.base_dir, "tflite"), quantizations,
        sample_images=images[:32] if images is not None else None, representative_data=images,
        image_size=image_size, gpu=not args.no_gpu, log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(format_rows(rows))
    failed = failures(rows)
    for failure in failed:
        print(f"lightnets: export check failed: {failure}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None):
    """Entry point of the ``lightnets`` console script.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        Process exit status: 0 on success, 1 when an exported artifact fails its check, 2 on invalid arguments.
    """
    from keras_lightnets.train.flags import user_errors

    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            from keras_lightnets.registry import list_models

            print("\n".join(list_models()))
        elif args.command == "profile":
            if args.top is not None and args.top < 1:
                raise ValueError(f"Invalid `--top`: received {args.top}; allowed: an integer >= 1.")
            _profile(args)
        elif args.command == "export":
            return _export(args)
        elif args.command == "train":
            _train(args)
        elif args.command == "evaluate":
            _evaluate(args)
    except user_errors() as error:  # ValueError, missing dataset/weights/strategy/extra
        print(f"lightnets: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
