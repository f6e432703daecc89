"""Command-line flags for every TrainConfig field, shared by the recipes and ``lightnets train``.

Order of precedence: the recipe's preset, then ``--config FILE`` (JSON), then flags given
on the command line. Bad input ends with a one-paragraph message and exit code 2.
"""

import argparse
import dataclasses
import sys
import typing

from keras_lightnets.errors import LightnetsError
from keras_lightnets.train.config import TrainConfig, load_config

#: Short help per field; the full meaning is in TrainConfig's docstring.
HELP = {
    "model": "registry name (lightnets list), e.g. mobilenet_v1, mobilenet_v2, efficientnet_b0",
    "alpha": "width multiplier for bare mobilenet_v1/mobilenet_v2",
    "convolutions": "separable, or standard (MobileNetV1/Xception twin)",
    "dataset": "digits | fashion_mnist | folder:PATH | tfds name (tf_flowers, imagenette, cifar10, imagenet2012...)",
    "data_dir": "Fashion-MNIST IDX directory or tfds data_dir",
    "image_size": "model input resolution", "channels": "1 or 3 (default: the dataset's)",
    "batch_size": "global batch size", "learning_rate": "peak learning rate at --base-batch-size",
    "schedule": "exponential | cosine | constant (after warm-up)",
    "weight_decay": "decoupled weight decay on conv/dense kernels (not BN, biases, depthwise)",
    "ema_momentum": "EMA of the weights, e.g. 0.9999 (none: off)",
    "augment": "none | translate | flip | flip_translate | randaugment",
    "translate": "largest random shift of the translate policies, fraction of each side",
    "random_erasing": "probability of erasing a random rectangle of each training image (0: off)",
    "tta": "test-time augmentation of the final evaluation: none | flip | flip_shift (mirror and 1-pixel shifts)",
    "bn_momentum": "batch-norm momentum (none: the builder's)",
    "precision": "float32 | mixed_float16 | mixed_bfloat16",
    "xla": "auto (never on CPU) | on | off",
    "strategy": "auto | default | mirrored | multiworker | tpu",
    "output_dir": "run directory (default runs/<model>_<dataset>): rerunning the same command resumes an interrupted run",
    "verbose": "training progress: 0 silent, 1 progress bar, 2 a line per epoch",
}
#: Fields whose flag is not ``--<field>``: ``--verbose`` shows the libraries' own logs in every command.
FLAG_NAMES = {"verbose": "progress"}


def _parse_optional(kind):
    def parse(text):
        if text.lower() in ("none", "null", ""):
            return None
        return kind(text)
    parse.__name__ = kind.__name__
    return parse


def _field_type(field):
    hint = typing.get_type_hints(TrainConfig)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return _parse_optional(args[0]) if args else hint


def add_config_flags(parser, preset):
    """Adds ``--config`` and one flag per :class:`TrainConfig` field to ``parser``.

    Args:
        parser: ``argparse.ArgumentParser``.
        preset: The recipe's ``TrainConfig`` (shown as defaults in ``--help``).
    """
    parser.add_argument("--config", help="JSON file of TrainConfig fields (over the recipe's preset)")
    parser.add_argument("--overwrite", action="store_true", help="delete a previous run in --output-dir first")
    group = parser.add_argument_group("training configuration (defaults: this recipe's preset)")
    for field in dataclasses.fields(TrainConfig):
        default = getattr(preset, field.name)
        if field.name == "output_dir" and default is None:
            default = f"{preset.run_dir} for this preset"
        group.add_argument(
            "--" + FLAG_NAMES.get(field.name, field.name).replace("_", "-"), dest=field.name, type=_field_type(field),
            default=argparse.SUPPRESS,
            metavar=field.name.upper(), help=f"{HELP.get(field.name, field.name.replace('_', ' '))} (default: {default})",
        )


def config_from_args(args, preset):
    """The config a parsed command line asks for (preset < --config file < flags)."""
    config = load_config(args.config, preset) if args.config else preset
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if given.get("model", config.model) != config.model and "alpha" not in given:
        given["alpha"] = None  # a preset's width multiplier belongs to the preset's model
    return config.replace(**given)


def exit_on_user_error(function, *args, **kwargs):
    """Calls ``function``; a :class:`~keras_lightnets.errors.LightnetsError` (bad input, missing data or
    extra) prints ``error: <message>`` to stderr and exits with code 2. Other exceptions keep their traceback."""
    try:
        return function(*args, **kwargs)
    except LightnetsError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def add_scene_run_flags(parser, image_size, epochs):
    """The flags the scene recipes share (segmentation, detection): data sizes, schedule, precision, run directory."""
    parser.add_argument("--image-size", type=int, default=image_size)
    parser.add_argument("--train-scenes", type=int, default=6000)
    parser.add_argument("--test-scenes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--ema", type=float, default=None, help="weight EMA momentum, e.g. 0.999")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--overwrite", action="store_true")
    add_logs_flag(parser)


def add_logs_flag(parser):
    """Adds ``--verbose``: the libraries' own logs on the terminal instead of a log file."""
    parser.add_argument(
        "--verbose", action="store_true", dest="library_logs",
        help="show TensorFlow's and LiteRT's own logs on the terminal (default: they go to a log file)",
    )


def run_quietly(command, args, argv, function):
    """Runs ``function()`` with native logs in a log file unless ``args.verbose``; bad input exits with code 2."""
    from keras_lightnets.quiet import native_logs_to_file

    with native_logs_to_file(command, verbose=args.library_logs, keep_until_exit=argv is None):
        return exit_on_user_error(function)


def run_training_recipe(presets, description, argv=None, extra_flags=None, runner=None):
    """The whole main() of a training recipe: parse flags, train, print the summary.

    Args:
        presets: Dict preset name -> ``TrainConfig``; the first is the default.
        description: ``--help`` text.
        argv: Arguments (default ``sys.argv[1:]``).
        extra_flags: Optional ``callable(parser)`` adding recipe-specific flags and returning
            ``callable(args, config) -> config`` that applies them.
        runner: Optional ``runner(config, args)`` replacing the plain engine run (the engine
            prints each run's final report; a runner prints anything more itself).

    Returns:
        :class:`~keras_lightnets.train.engine.FitResult`.
    """
    from keras_lightnets.train.engine import fit

    names = list(presets)
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=names, default=names[0], help=f"starting configuration (default: {names[0]})")
    add_logs_flag(parser)
    apply_extra = extra_flags(parser) if extra_flags else None
    add_config_flags(parser, presets[names[0]])
    args = parser.parse_args(argv)

    def run():
        config = config_from_args(args, presets[args.preset])
        if apply_extra:
            config = apply_extra(args, config)
        return runner(config, args) if runner else fit(config, overwrite=args.overwrite)

    return run_quietly("train", args, argv, run)  # fit prints the run's final report
