"""The ``lightnets`` command line.

``--help``, ``list`` and every ``<command> --help`` answer from static metadata
without importing TensorFlow. Commands that load TensorFlow or LiteRT send
their native logs to a file (named at the end) unless ``--verbose``.
"""

import argparse
import json
import os
import sys

from keras_lightnets.errors import LightnetsError
from keras_lightnets.train.flags import add_logs_flag

COMMANDS = (
    ("list", "print every registered model name, one per line"),
    ("profile", "parameters and multiply-adds per layer kind, and the same network with standard convolutions"),
    ("train", "train a model on a dataset (the engine every recipe uses); rerun to resume"),
    ("evaluate", "accuracy of a saved .keras classifier on a dataset's test split"),
    ("export", "SavedModel for TF Serving and TFLite files for LiteRT, each checked against Keras"),
)


def _description():
    """The program's description, naming every registered family's builder (the registry imports no Keras)."""
    from keras_lightnets import registry

    builders = ", ".join(sorted(registry.exports()))
    return f"Lightweight convolutional networks ({builders}): build, profile, train, evaluate and export them."


EPILOG = "Run `lightnets COMMAND --help` for a command's arguments."


class _Parser(argparse.ArgumentParser):
    """argparse with one-paragraph usage errors (exit code 2), not the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}. `{self.prog} --help` lists the arguments.\n")


def _parser():
    parser = _Parser(prog="lightnets", description=_description(), epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=_Parser)
    commands.required = True
    helps = dict(COMMANDS)
    commands.add_parser("list", help=helps["list"], description=helps["list"])
    _add_profile(commands, helps["profile"])
    _add_export(commands, helps["export"])
    _add_train(commands, helps["train"])
    _add_evaluate(commands, helps["evaluate"])
    return parser


def _add_profile(commands, help_text):
    prof = commands.add_parser(
        "profile",
        help=help_text,
        description="Build a model (random weights, nothing downloaded) and print its cost analysis.",
    )
    add_logs_flag(prof)
    prof.add_argument("model", help="a name from `lightnets list`, e.g. efficientnet_b1 or mobilenet_v1_0.5_160")
    prof.add_argument(
        "--input-size", type=int, default=None, metavar="N",
        help="square input resolution in pixels (>= the model's minimum: 32, or 71 for xception); "
        "default: the model's own resolution",
    )
    prof.add_argument("--classes", type=int, default=None, metavar="N",
                      help="classifier outputs (>= 1, default 1000); a segmenter's classes per pixel (default 21)")
    prof.add_argument("--no-top", action="store_true", help="profile the feature extractor without the classifier")
    prof.add_argument("--layers", action="store_true", help="also print one row per layer that has parameters or MACs")
    prof.add_argument(
        "--top", type=int, default=None, metavar="K",
        help="with --layers: only the K layers with the most MACs (>= 1)",
    )
    prof.add_argument("--json", action="store_true", help="print the full result as JSON instead of tables")


def _add_export(commands, help_text):
    exp = commands.add_parser(
        "export",
        help=help_text,
        description="Export a .keras model (or a registered architecture with random or given weights) as a "
        "versioned SavedModel (<base-dir>/<name>/<version>/) and TFLite files, and report size, parity with "
        "Keras and latency of each. Exits with status 1, naming the artifact, when one is outside its parity "
        "tolerance (SavedModel and fp32 max |diff| <= 1e-4, fp16 <= 1e-2, dynamic/int8 top-1 agreement >= 0.9) "
        "or does not run fully on the LiteRT GPU accelerator.",
    )
    add_logs_flag(exp)
    exp.add_argument("model", help="a .keras file (e.g. runs/mobilenet_v1_digits/model.keras), or a name from `lightnets list`")
    exp.add_argument("--weights", default=None, help="with a registered name: a .keras/.weights.h5 file to load")
    exp.add_argument("--input-size", type=int, default=None, metavar="N",
                     help="square input size for a registered name or a model built with None dims")
    exp.add_argument("--classes", type=int, default=1000, metavar="N", help="with a registered name: classifier outputs")
    exp.add_argument("--base-dir", default="saved_models", help="TF Serving model repository root (default saved_models)")
    exp.add_argument("--tflite-dir", default=None, help="where .tflite files go (default: <base-dir>/tflite)")
    exp.add_argument(
        "--quantization", nargs="+", default=["fp32", "fp16"], choices=["fp32", "fp16", "dynamic", "int8"],
        help="TFLite variants to write (default: fp32 fp16); int8 needs --calibration-dataset or --calibration-dir",
    )
    calibration = exp.add_mutually_exclusive_group()
    calibration.add_argument(
        "--calibration-dataset", default=None, metavar="NAME",
        help="real images for int8 calibration and the parity checks, from a dataset's training split: "
             "digits | fashion_mnist | scenes (the segmentation scenes) | folder:PATH | a prepared tfds name (up to 200 images)",
    )
    calibration.add_argument("--calibration-dir", default=None,
                             help="folder of real JPEG/PNG images for int8 calibration and parity checks (up to 200 used)")
    exp.add_argument("--data-dir", default=None, help="with --calibration-dataset: Fashion-MNIST IDX directory or tfds data_dir")
    exp.add_argument("--no-gpu", action="store_true", help="skip the LiteRT GPU-accelerator run")
    exp.add_argument("--labels", default=None, metavar="FILE|imagenet",
                     help="class names, one per line, for the SavedModel's top_k_labels and the TFLite metadata "
                          "(default: the run's labels.txt beside a .keras file; ImageNet's for --weights imagenet)")
    exp.add_argument("--int8-io", choices=["float", "uint8"], default="float",
                     help="interface of the int8 file: float32 images and probabilities (default), or uint8 pixels "
                          "in and uint8 probabilities out, as apps pass camera frames")
    exp.add_argument("--no-metadata", action="store_true",
                     help="write no MediaPipe Tasks metadata into classifier .tflite files (default: write it when "
                          "the mediapipe package is installed)")


def _add_train(commands, help_text):
    from keras_lightnets.train.flags import add_config_flags
    from keras_lightnets.train.presets import PRESETS, preset

    train = commands.add_parser(
        "train", help=help_text,
        description="Train, evaluate and save a model in runs/<model>_<dataset>/ (or --output-dir). "
                    "Rerunning the same command resumes an interrupted run.",
    )
    add_logs_flag(train)
    train.add_argument("--preset", choices=sorted(PRESETS), default="digits", help="starting configuration (default: digits)")
    add_config_flags(train, preset("digits"))


def _add_evaluate(commands, help_text):
    from keras_lightnets.train.test_time_augmentation import POLICIES as TTA_POLICIES

    evaluate = commands.add_parser("evaluate", help=help_text, description=help_text + ".")
    add_logs_flag(evaluate)
    evaluate.add_argument("model", help="a .keras file, e.g. runs/mobilenet_v1_digits/model.keras")
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


def _train(args):
    from keras_lightnets.train.engine import fit
    from keras_lightnets.train.flags import config_from_args
    from keras_lightnets.train.presets import preset

    fit(config_from_args(args, preset(args.preset)), overwrite=args.overwrite)  # prints its final report


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

    from keras_lightnets import validation
    from keras_lightnets.registry import family_of

    size = args.input_size or default_resolution(args.model)
    task = family_of(args.model).task
    if task != "classification":  # a head on its backbone: no classifier to drop
        if args.no_top:
            validation.fail("no_top", True, f"False for a {task} model (it has no classifier)")
        model = _create_head(args.model, size, args.classes)
    else:
        model = kl.create_model(args.model, classes=1000 if args.classes is None else args.classes,
                                include_top=not args.no_top, input_shape=(size, size, 3))
    result = kl.profile(model)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return
    print("\n".join(result.summary_lines()))
    if args.layers:
        print()
        print("\n".join(result.layer_lines(top=args.top)))


def _create_head(name, size, classes, weights=None):
    """A registered segmentation or detection model at ``size`` (``classes``: its num_classes, None = its default)."""
    import keras_lightnets as kl
    from keras_lightnets import validation
    from keras_lightnets.registry import family_of

    if weights is not None:
        validation.fail("weights", weights, f"None for {name!r} (load a trained .keras file instead)")
    extra = {} if classes is None else {"num_classes": classes}
    if family_of(name).task == "detection":
        return kl.create_model(name, image_size=size, **extra)
    return kl.create_model(name, input_shape=(size, size, 3), **extra)


def _load_images(folder, height, width, channels, limit=200):
    import numpy as np
    import keras

    from keras_lightnets import validation

    if not os.path.isdir(folder):
        validation.fail("--calibration-dir", folder, "an existing folder of images")
    files = sorted(
        os.path.join(root, f) for root, _, names in os.walk(folder) for f in names
        if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))
    )[:limit]
    if not files:
        validation.fail("--calibration-dir", folder, "a folder with JPEG/PNG images")
    mode = "grayscale" if channels == 1 else "rgb"
    return np.stack([
        keras.utils.img_to_array(keras.utils.load_img(f, color_mode=mode, target_size=(height, width))) for f in files
    ]).astype("float32")


def _dataset_images(name, data_dir, height, width, channels, limit=200):
    """Up to ``limit`` training images of a dataset at the model's input size, float32 [0, 255]."""
    import numpy as np

    from keras_lightnets import data as data_lib
    from keras_lightnets import validation

    if height != width:
        validation.fail("--calibration-dataset", name,
                        f"a model with a square input (this one takes {height}x{width}); use --calibration-dir")
    if name == "scenes":  # the segmentation scenes' training split (keras_lightnets.data.scenes)
        from keras_lightnets.data import fashion_mnist, scenes

        (items, item_labels), _ = fashion_mnist.load_fashion_mnist(data_dir)
        return scenes.compose(items, item_labels, limit, height, seed=0)[0].astype(np.float32)
    dataset = data_lib.load_dataset(name, data_dir, image_size=height, channels=channels)
    batches = data_lib.make_batches(dataset.train, height, min(limit, dataset.train_size), dataset.num_classes,
                                    training=False, cache=False)
    images, _ = next(iter(batches))
    return np.asarray(images, np.float32)


def _export(args):
    import keras_lightnets as kl
    from keras_lightnets.export import signatures
    from keras_lightnets.export.report import export_and_measure, failures, format_rows
    from keras_lightnets.model_files import load_keras_model

    if args.model.endswith(".keras"):
        if not os.path.isfile(args.model):
            from keras_lightnets import validation

            validation.fail("model", args.model, "an existing .keras file (e.g. runs/mobilenet_v1_digits/model.keras, "
                            "written by `lightnets train`) or a name from `lightnets list`")
        model = load_keras_model(args.model)
    else:
        from keras_lightnets.registry import default_resolution, family_of

        size = args.input_size or default_resolution(args.model)
        if family_of(args.model).task == "classification":
            model = kl.create_model(args.model, classes=args.classes, input_shape=(size, size, 3), weights=args.weights)
        else:
            model = _create_head(args.model, size, args.classes, args.weights)
    quantizations = [None if q == "fp32" else q for q in args.quantization]
    if args.int8_io != "float" and "int8" not in quantizations:
        raise LightnetsError(
            f"Invalid `--int8-io`: received {args.int8_io} without an int8 file; allowed: --int8-io uint8 together "
            "with --quantization int8 and its calibration images (--calibration-dataset or --calibration-dir).")
    from keras_lightnets.detection.detector import is_detector
    from keras_lightnets.labels import resolve_labels

    class_names = None
    if is_detector(model):  # the object classes, without the background
        class_names = resolve_labels(args.labels, model.output["cls_logits"].shape[-1] - 1,
                                     model_path=args.model if args.model.endswith(".keras") else None)
    elif len(model.outputs) == 1 and (len(model.output_shape) == 2 or signatures.is_segmenter(model)):
        class_names = resolve_labels(args.labels, model.output_shape[-1],
                                     model_path=args.model if args.model.endswith(".keras") else None,
                                     imagenet_weights=args.weights == "imagenet")
    image_size = args.input_size if model.inputs[0].shape[1] is None else None
    height, width, channels = signatures.input_size(model, image_size)
    images = None
    if args.calibration_dir:
        images = _load_images(args.calibration_dir, height, width, channels)
    elif args.calibration_dataset:
        images = _dataset_images(args.calibration_dataset, args.data_dir, height, width, channels)
    elif "int8" in quantizations:
        raise LightnetsError(
            "Invalid `--quantization`: received int8 without real images; allowed: int8 with "
            "--calibration-dataset NAME (the training split of the dataset the model learned, e.g. "
            "--calibration-dataset digits) or --calibration-dir FOLDER of JPEG/PNG images: they calibrate the int8 ranges."
        )
    rows = export_and_measure(
        model, args.base_dir, args.tflite_dir or os.path.join(args.base_dir, "tflite"), quantizations,
        sample_images=images[:32] if images is not None else None, representative_data=images,
        image_size=image_size, gpu=not args.no_gpu, log=lambda m: print(m, file=sys.stderr, flush=True),
        class_names=class_names, int8_io=args.int8_io, metadata=False if args.no_metadata else "auto",
    )
    print(format_rows(rows))
    failed = failures(rows)
    for failure in failed:
        print(f"lightnets: export check failed: {failure}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None, keep_logs_until_exit=False):
    """Runs one ``lightnets`` command.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).
        keep_logs_until_exit: Leave native logs redirected to the log file after the command
            (for a process that ends right after it, so exit-time library logs land there too).

    Returns:
        Process exit status: 0 on success, 1 when an exported artifact fails its check, 2 on invalid
        arguments or missing data (:class:`~keras_lightnets.errors.LightnetsError`, reported in one
        paragraph). Any other exception is a bug and propagates with its traceback.
    """
    from keras_lightnets.quiet import native_logs_to_file

    args = _parser().parse_args(argv)
    if args.command == "list":
        from keras_lightnets.registry import list_models

        print("\n".join(list_models()))
        return 0
    with native_logs_to_file(args.command, verbose=args.library_logs, keep_until_exit=keep_logs_until_exit):
        try:
            if args.command == "profile":
                if args.top is not None and args.top < 1:
                    raise LightnetsError(f"Invalid `--top`: received {args.top}; allowed: an integer >= 1.")
                _profile(args)
            elif args.command == "export":
                return _export(args)
            elif args.command == "train":
                _train(args)
            elif args.command == "evaluate":
                _evaluate(args)
        except LightnetsError as error:
            print(f"lightnets {args.command}: error: {error}", file=sys.stderr)
            return 2
    return 0


def console(argv=None):
    """Entry point of the ``lightnets`` console script (and of the recipes that wrap a command): exits."""
    sys.exit(main(argv, keep_logs_until_exit=True))


if __name__ == "__main__":
    console()
