"""EfficientNet B0-B7 (arXiv 1905.11946) and custom compound scaling.

One stage table (B0) drives every variant; width rounds channels to
multiples of 8, depth repeats blocks (ceil), resolution sets the default
input size.
"""

import dataclasses

from keras_lightnets import validation
from keras_lightnets import scaling as rules
from keras_lightnets.models.family import Family, Plan, keras_applications_source
from keras_lightnets.models.spec import ConvLayer, Conventions, Stage, prefixed

CONV_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
# The B0 stages: (kernel, repeats, output filters, expansion, first stride); squeeze-excite 0.25 of the block input.
STAGES = tuple(
    Stage("inverted_residual", filters, repeats=repeats, kernel=kernel, stride=stride, expansion=expansion, se_ratio=0.25)
    for kernel, repeats, filters, expansion, stride in (
        (3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2), (3, 3, 80, 6, 2),
        (5, 3, 112, 6, 1), (5, 4, 192, 6, 2), (3, 1, 320, 6, 1))
)
SCALINGS = ("official", "compound")
WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
ROLE_SUFFIXES = {
    "expand": "expand_conv", "expand_bn": "expand_bn", "expand_act": "expand_activation", "pad": "dwconv_pad",
    "depthwise": "dwconv", "depthwise_bn": "bn", "depthwise_act": "activation", "se_squeeze": "se_squeeze",
    "se_reshape": "se_reshape", "se_reduce": "se_reduce", "se_expand": "se_expand", "se_excite": "se_excite",
    "project": "project_conv", "project_bn": "project_bn", "drop": "drop", "add": "add",
}


def block_names(stages, stage, repeat, index):
    """keras.applications' EfficientNet names: ``block{stage + 1}{a, b, ...}_{role}``."""
    return prefixed(f"block{stage + 1}{chr(repeat + 97)}_", ROLE_SUFFIXES)


CONVENTIONS = Conventions(
    names=block_names,
    stem=(ConvLayer(32, ("stem_conv", "stem_bn", "stem_activation"), kernel=3, stride=2, padding="correct",
                    pad_name="stem_conv_pad"),),
    head=(ConvLayer(1280, ("top_conv", "top_bn", "top_activation")),),
    preprocessing="imagenet", activation="swish", conv_initializer=CONV_INITIALIZER,
    dense_initializer=DENSE_INITIALIZER, rounding="divisible", downsample="correct",
)


# md5 of keras.applications' published files, (with classifier, without), as keras.applications checks them.
WEIGHTS_HASHES = {
    0: ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    1: ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    2: ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    3: ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    4: ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    5: ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    6: ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    7: ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}


def _coefficients(args):
    if args.scaling == "official":
        return rules.efficientnet_coefficients(args.phi)
    if not isinstance(args.compound_coefficients, (tuple, list)) or len(args.compound_coefficients) != 3:
        validation.fail("compound_coefficients", args.compound_coefficients, "an (alpha, beta, gamma) tuple of numbers > 0")
    width, depth, resolution = rules.compound_scaling(args.phi, *args.compound_coefficients)
    return width, depth, resolution, 0.2


def _check(args):
    validation.check_choice("scaling", args.scaling, SCALINGS)
    _coefficients(args)


def _plan(args, conventions):
    width, depth, _, table_dropout = _coefficients(args)
    official = args.scaling == "official"
    return Plan(
        conventions, args.table or STAGES, f"efficientnetb{args.phi}" if official else f"efficientnet_phi{args.phi:g}",
        dropout=table_dropout if args.dropout is None else args.dropout, width=width, depth=depth,
        drop_connect_rate=args.drop_connect_rate, activation=args.activation,
    )


def _imagenet_source(args):
    import keras


    if args.scaling != "official":
        validation.fail("scaling", args.scaling, '"official" when weights="imagenet" (only B0-B7 are published)')
    filename = f"efficientnetb{args.phi}{'' if args.include_top else '_notop'}.h5"
    twin = getattr(keras.applications, f"EfficientNetB{args.phi}")
    return keras_applications_source(args, WEIGHTS_URL, filename, twin, WEIGHTS_HASHES[args.phi][0 if args.include_top else 1])


FAMILY = Family(
    builder="EfficientNet", module=__name__,
    variants={f"efficientnet_b{phi}": {"phi": phi} for phi in sorted(rules.EFFICIENTNET_TABLE)},
    resolution=lambda fixed: rules.EFFICIENTNET_TABLE[fixed["phi"]][2],
    conventions=lambda args: dataclasses.replace(CONVENTIONS, default_size=_coefficients(args)[2]),
    plan=_plan, check=_check, rates=("dropout", "drop_connect_rate"), imagenet=_imagenet_source,
    options=("drop_connect_rate",),
    published_macs={f"efficientnet_b{phi}": macs for phi, macs in enumerate(  # arXiv 1905.11946, Table 2
        (0.39e9, 0.70e9, 1.0e9, 1.8e9, 4.2e9, 9.9e9, 19e9, 37e9))},
).register()


def EfficientNet(
    phi=0,
    input_shape=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    include_preprocessing=True,
    dropout=None,
    drop_connect_rate=0.2,
    activation="swish",
    scaling="official",
    compound_coefficients=(rules.COMPOUND_ALPHA, rules.COMPOUND_BETA, rules.COMPOUND_GAMMA),
    stages=None,
    output_stride=None,
):
    """EfficientNet-B{phi}, a drop-in for ``keras.applications.EfficientNetB{phi}``.

    Args:
        phi: Compound coefficient. With ``scaling="official"`` an int 0..7
            selecting the released B0-B7 (width, depth, resolution, dropout);
            with ``scaling="compound"`` any real in [0, 20].
        input_shape: (height, width, channels); height/width None or >= 32.
            Defaults to the variant's resolution with a classifier.
        include_top: Attach the classifier.
        weights: None, "imagenet" (official B0-B7) or a path to a
            ``.keras``/``.weights.h5`` file.
        input_tensor: Optional Keras tensor to build on.
        pooling: None, "avg" or "max" when ``include_top`` is False.
        classes: Number of classes (int >= 1).
        classifier_activation: Activation of the classifier (None = logits).
        name: Model name (default ``efficientnetb{phi}``).
        include_preprocessing: If True the model takes raw [0, 255] images and
            normalizes them with ImageNet mean/std (3 channels) or rescales
            to [0, 1] (other channel counts); if False it takes what
            keras.applications' network sees after its own preprocessing.
        dropout: Dropout before the classifier in [0, 1); None = the table's.
        drop_connect_rate: Final stochastic-depth rate in [0, 1), reached
            linearly over the blocks.
        activation: Activation of every block (default "swish").
        scaling: "official" (released table) or "compound" (formula
            depth alpha^phi, width beta^phi, resolution 224 * gamma^phi).
        compound_coefficients: (alpha, beta, gamma) for ``scaling="compound"``;
            default the paper's (1.2, 1.1, 1.15).
        stages: A custom table (list of :class:`~keras_lightnets.models.spec.Stage`
            or keras.applications ``blocks_args`` dicts) scaled like B0's;
            None = the B0 table.
        output_stride: None (the table's own, 32) or 8 / 16 / 32: the stages
            past it keep their resolution with dilated kernels, for dense
            prediction (:mod:`keras_lightnets.heads`); parameters unchanged.

    Returns:
        ``keras.Model``.
    """
    return FAMILY.build(locals())
