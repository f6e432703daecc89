"""The block-spec language: a network is a table of stages plus its family's conventions.

Plain data, without Keras: the registry and the ``lightnets`` command read
families without loading TensorFlow, and a user writes a new lightweight
network as a list of :class:`Stage` rows (or of keras.applications-style
``blocks_args`` dicts) handed to any builder's ``stages=`` argument.

Example, a 5-stage net of inverted residuals with squeeze-excite::

    from keras_lightnets.models.spec import Stage
    stages = [
        Stage("inverted_residual", filters=16, expansion=1),
        Stage("inverted_residual", filters=24, stride=2, repeats=2),
        Stage("inverted_residual", filters=40, stride=2, repeats=2, kernel=5, se_ratio=0.25),
        Stage("inverted_residual", filters=80, stride=2, repeats=3),
        Stage("inverted_residual", filters=112, repeats=2, kernel=5, se_ratio=0.25),
    ]
    model = kl.MobileNetV2(input_shape=(96, 96, 3), classes=10, stages=stages)

One decoder (:mod:`keras_lightnets.models.builder`) turns any table into
stock Keras layers; width and depth multipliers apply to any table.
"""

import dataclasses
import numbers
from typing import Any, Callable, Mapping, Optional, Tuple

from keras_lightnets import validation
from keras_lightnets.scaling import make_divisible, round_repeats  # noqa: F401 (part of the language)

# Block kinds a stage can repeat (what each builds: keras_lightnets.models.builder).
BLOCK_KINDS = (
    "separable",  # depthwise k x k [-> BN -> act] -> pointwise 1x1 -> BN -> [act]  (MobileNetV1, Xception exit)
    "inverted_residual",  # 1x1 expand -> depthwise -> [SE] -> linear 1x1 project [+ input]  (MBConv)
    "fused_inverted_residual",  # k x k expand -> [SE] -> linear 1x1 project [+ input]  (Fused-MBConv)
    "xception_down",  # act -> sep -> act -> sep -> 3x3/2 max-pool, + strided 1x1 shortcut
    "xception_middle",  # 3 x (act -> sep), + identity
    "conv",  # k x k conv -> BN -> act  (MobileNetV4's plain convolutions)
    "universal_inverted_residual",  # [dw] -> 1x1 expand -> [dw] -> [SE] -> linear 1x1 project [+ input]  (MobileNetV4's UIB)
)
# Channel rounding rules: the channels a width multiplier gives.
ROUNDINGS = ("int", "divisible", "int_divisible", "divisible_no_floor", "fixed")
# What a squeeze-excite ratio is a fraction of.
SE_BASES = ("input", "expanded")
# How a stride-2 layer pads: keras.applications' correct_pad, MobileNetV1's bottom/right, TF "same",
# or PyTorch's k // 2 on every side ("symmetric", timm's MobileNetV4).
DOWNSAMPLE_PADDINGS = ("correct", "bottom_right", "same", "symmetric")
HEAD_WIDTHS = ("scaled", "fixed", "above_one", "times_input")
CLASSIFIERS = ("dense", "conv", "conv_mlp", "conv_bn_dense")
PREPROCESSINGS = ("symmetric", "symmetric_128", "lite", "imagenet", "imagenet_constant")
# Padding of a stem/head convolution: Keras' own, or an explicit ZeroPadding2D ("correct", "symmetric").
CONV_PADDINGS = ("same", "valid", "correct", "symmetric")
# Expanded width of an inverted residual: int(in * e), or make_divisible(in * e).
EXPANSION_ROUNDINGS = ("exact", "divisible")
# Squeeze-excite width: max(1, int(c * r)), or make_divisible(c * r).
SE_ROUNDINGS = ("int", "divisible")
SE_GATES = ("sigmoid", "hard_sigmoid")
# Stochastic depth grows over the depth-scaled block count, or the table's.
DROP_CONNECT_TOTALS = ("scaled", "table")
# Output strides a backbone can be built for (``output_stride=``); 32 is every table's own.
OUTPUT_STRIDES = (8, 16, 32)
# How a stride-2 block turned to stride 1 by ``output_stride`` is dilated: "torchvision" dilates it
# with the new rate (torchvision's dilated MobileNetV3), "deeplab" keeps the rate before it and
# dilates the blocks after (TF DeepLab's MobileNetV2, timm's EfficientNet and MobileNetV4 builders).
ATROUS = ("torchvision", "deeplab")


def _choice(owner, field, value, allowed):
    """Refuses a value of ``owner.field`` outside ``allowed`` (a LightnetsError naming the allowed set)."""
    if isinstance(value, bool) or value not in allowed:
        validation.fail(f"{owner}.{field}", value, f"one of {allowed}")


def _positive_int(owner, field, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        validation.fail(f"{owner}.{field}", value, "an int >= 1")

# keras.applications blocks_args keys -> Stage fields.
_BLOCKS_ARGS_KEYS = {
    "kernel_size": "kernel", "num_repeat": "repeats", "repeats": "repeats", "output_filters": "filters",
    "filters_out": "filters", "expand_ratio": "expansion", "strides": "stride", "se_ratio": "se_ratio",
    "id_skip": None, "input_filters": None, "filters_in": None,
}
_CONV_TYPES = {0: "inverted_residual", 1: "fused_inverted_residual"}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One row of a table: ``repeats`` blocks of one kind; only the first has the stride.

    Attributes:
        block: One of ``BLOCK_KINDS``.
        filters: Output channels before width scaling (int >= 1).
        repeats: Blocks in the stage before depth scaling (int >= 1).
        kernel: Depthwise (or fused, or ``conv``) kernel size (odd int >= 1);
            ``universal_inverted_residual``: the middle depthwise kernel, 0 for
            none (ConvNeXt-like and FFN blocks).
        stride: Stride of the first block (1 or 2).
        expansion: Expansion factor of inverted residuals (> 0; fractional
            allowed, e.g. MobileNetV3's 72/16); 1 means no expansion conv.
        se_ratio: Squeeze-excite width as a fraction of the block's input or
            expanded channels (the family's ``se_base``); 0 disables, <= 1.
        activation: Activation of the stage's blocks; None = the network's.
        inner_filters: ``xception_down``: width of the first separable
            convolution (None = ``filters``).
        preactivate: ``xception_*``: activation before the first separable
            convolution (False right after an activated stem).
        scale_repeats: Whether the depth multiplier applies to this stage.
        start_kernel: ``universal_inverted_residual``: kernel of the depthwise
            convolution before the expansion (odd int, 0 = none).
        dilation: Dilation rate of the stage's k x k kernels (int >= 1; > 1
            needs ``stride=1``): atrous convolution that keeps the resolution.
            Builders' ``output_stride`` sets it on the stages past that stride.
    """

    block: str
    filters: int
    repeats: int = 1
    kernel: int = 3
    stride: int = 1
    expansion: float = 1.0
    se_ratio: float = 0.0
    activation: Optional[str] = None
    inner_filters: Optional[int] = None
    preactivate: bool = True
    scale_repeats: bool = True
    start_kernel: int = 0
    dilation: int = 1

    def __post_init__(self):
        # The kind and activation are refused here; numbers are checked by parse_stages, which names the row.
        _choice("Stage", "block", self.block, BLOCK_KINDS)
        if self.activation is not None and not isinstance(self.activation, str):
            validation.fail("Stage.activation", self.activation, "None or an activation name")


FIELDS = tuple(field.name for field in dataclasses.fields(Stage))


def _row_fail(argument, index, field, value, allowed):
    validation.fail(f"{argument}[{index}].{field}", value, allowed)


def _check_row(stage, argument, index):
    def positive_int(field):
        value = getattr(stage, field)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            _row_fail(argument, index, field, value, "an int >= 1")

    if stage.block not in BLOCK_KINDS:
        _row_fail(argument, index, "block", stage.block, f"one of {BLOCK_KINDS}")
    positive_int("filters")
    positive_int("repeats")
    universal = stage.block == "universal_inverted_residual"
    for field in ("kernel", "start_kernel"):
        value = getattr(stage, field)
        may_be_zero = universal or field == "start_kernel"
        allowed = "an odd int >= 1, or 0 (none)" if may_be_zero else "an odd int >= 1"
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            _row_fail(argument, index, field, value, allowed)
        if value % 2 == 0 and not (may_be_zero and value == 0):
            _row_fail(argument, index, field, value, allowed)
    if stage.start_kernel and not universal:
        _row_fail(argument, index, "start_kernel", stage.start_kernel,
                  f"0 for block {stage.block!r} (only universal_inverted_residual has a starting depthwise)")
    if universal and stage.stride == 2 and not (stage.kernel or stage.start_kernel):
        _row_fail(argument, index, "kernel", stage.kernel,
                  "an odd int >= 1 (a stride-2 universal_inverted_residual needs a depthwise convolution)")
    if stage.stride not in (1, 2) or isinstance(stage.stride, bool):
        _row_fail(argument, index, "stride", stage.stride, "1 or 2")
    positive_int("dilation")
    if stage.dilation > 1 and stage.stride != 1:
        _row_fail(argument, index, "dilation", stage.dilation, "1 with stride=2 (a dilated stage keeps its resolution)")
    if stage.dilation > 1 and stage.block.startswith("xception"):
        _row_fail(argument, index, "dilation", stage.dilation, f"1 for block {stage.block!r} (its max-pool is not atrous)")
    if isinstance(stage.expansion, bool) or not isinstance(stage.expansion, numbers.Real) or not stage.expansion > 0:
        _row_fail(argument, index, "expansion", stage.expansion, "a number > 0")
    if isinstance(stage.se_ratio, bool) or not isinstance(stage.se_ratio, numbers.Real) or not 0 <= stage.se_ratio <= 1:
        _row_fail(argument, index, "se_ratio", stage.se_ratio, "a number in [0, 1] (0 = no squeeze-excite)")
    if stage.se_ratio and stage.block not in ("inverted_residual", "fused_inverted_residual", "universal_inverted_residual"):
        _row_fail(argument, index, "se_ratio", stage.se_ratio,
                  f"0 for block {stage.block!r} (squeeze-excite is part of inverted residuals)")
    if stage.activation is not None and not isinstance(stage.activation, str):
        _row_fail(argument, index, "activation", stage.activation, "None or an activation name")
    if stage.inner_filters is not None:
        if isinstance(stage.inner_filters, bool) or not isinstance(stage.inner_filters, numbers.Integral) or stage.inner_filters < 1:
            _row_fail(argument, index, "inner_filters", stage.inner_filters, "None or an int >= 1")
    for field in ("preactivate", "scale_repeats"):
        if not isinstance(getattr(stage, field), bool):
            _row_fail(argument, index, field, getattr(stage, field), "True or False")


def _from_dict(row, argument, index):
    fields = {}
    for key, value in row.items():
        if key == "conv_type":
            if value not in _CONV_TYPES:
                _row_fail(argument, index, "conv_type", value, "0 (MBConv) or 1 (Fused-MBConv)")
            fields["block"] = _CONV_TYPES[value]
        elif key in FIELDS:
            fields[key] = value
        elif key in _BLOCKS_ARGS_KEYS:
            if _BLOCKS_ARGS_KEYS[key]:
                fields[_BLOCKS_ARGS_KEYS[key]] = value
        else:
            _row_fail(argument, index, key, value, f"a known field ({', '.join(FIELDS)}, or keras.applications' blocks_args keys)")
    fields.setdefault("block", "inverted_residual")
    if fields["block"] not in BLOCK_KINDS:
        _row_fail(argument, index, "block", fields["block"], f"one of {BLOCK_KINDS}")
    if "filters" not in fields:
        _row_fail(argument, index, "filters", None, "an int >= 1 (the stage's output channels)")
    return Stage(**fields)


def parse_stages(rows, argument="stages"):
    """Validates a table and returns it as a tuple of :class:`Stage`.

    Args:
        rows: A non-empty sequence of :class:`Stage` or dicts with Stage's
            fields or keras.applications' ``blocks_args`` keys
            (``kernel_size``, ``num_repeat``, ``output_filters``,
            ``expand_ratio``, ``strides``, ``se_ratio``, ``conv_type``).
        argument: The argument name used in error messages.

    Returns:
        tuple of Stage.

    Raises:
        LightnetsError: naming the row index, the field and what is allowed.
    """
    if isinstance(rows, (str, bytes, Mapping)) or not hasattr(rows, "__len__") or len(rows) == 0:
        validation.fail(argument, rows, "a non-empty list of Stage rows (or blocks_args dicts)")
    parsed = []
    for index, row in enumerate(rows):
        if isinstance(row, Mapping):
            row = _from_dict(row, argument, index)
        elif not isinstance(row, Stage):
            validation.fail(f"{argument}[{index}]", row, "a keras_lightnets.models.spec.Stage or a dict")
        _check_row(row, argument, index)
        parsed.append(row)
    return tuple(parsed)


def round_filters(filters, width, rounding, divisor=8):
    """Channels of a layer of ``filters`` at width multiplier ``width``.

    Args:
        filters: Channels at width 1 (int >= 1).
        width: Width multiplier (> 0).
        rounding: One of ``ROUNDINGS``: "int" (``int(f * w)``, MobileNetV1),
            "divisible" (:func:`make_divisible`), "int_divisible"
            (``make_divisible(int(f * w))``, MobileNetV2's blocks),
            "divisible_no_floor" (EfficientNetV2), "fixed" (not scaled).
        divisor: Rounding multiple (int >= 1).

    Returns:
        int.
    """
    _choice("round_filters", "rounding", rounding, ROUNDINGS)
    return _ROUNDING_RULES[rounding](filters, width, divisor)


_ROUNDING_RULES = {
    "fixed": lambda filters, width, divisor: int(filters),
    "int": lambda filters, width, divisor: int(filters * width),
    "int_divisible": lambda filters, width, divisor: make_divisible(int(filters * width), divisor),
    "divisible": lambda filters, width, divisor: make_divisible(filters * width, divisor),
    "divisible_no_floor": lambda filters, width, divisor: make_divisible(filters * width, divisor, floor=False),
}


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """A convolution -> batch norm -> activation of a stem or head.

    Attributes:
        filters: Channels at width 1 (with ``width="times_input"``: the
            multiple of the input channels).
        names: (convolution, batch norm, activation) layer names.
        kernel: Kernel size.
        stride: 1 or 2.
        padding: "same", "valid", or "correct" / "symmetric" (an explicit
            ZeroPadding2D named ``pad_name``, keras.applications' ``correct_pad``
            or PyTorch's k // 2 on every side, then a "valid" convolution).
        width: "scaled" (the network's rounding), "fixed", "above_one"
            (scaled only when the multiplier exceeds 1: MobileNetV2/V3's
            head), "times_input" (``filters`` x input channels, rounded).
        rounding: Rounding of this layer (None = the network's).
        pad_name: Name of the padding layer with ``padding="correct"``.
    """

    filters: int
    names: Tuple[str, str, str]
    kernel: int = 1
    stride: int = 1
    padding: str = "same"
    width: str = "scaled"
    rounding: Optional[str] = None
    pad_name: Optional[str] = None

    def __post_init__(self):
        owner = "ConvLayer"
        _positive_int(owner, "filters", self.filters)
        if not isinstance(self.names, tuple) or len(self.names) != 3 or not all(isinstance(n, str) for n in self.names):
            validation.fail(f"{owner}.names", self.names, "a (convolution, batch norm, activation) tuple of 3 names")
        _positive_int(owner, "kernel", self.kernel)
        if self.kernel % 2 == 0:
            validation.fail(f"{owner}.kernel", self.kernel, "an odd int >= 1")
        _choice(owner, "stride", self.stride, (1, 2))
        _choice(owner, "padding", self.padding, CONV_PADDINGS)
        _choice(owner, "width", self.width, HEAD_WIDTHS)
        if self.rounding is not None:
            _choice(owner, "rounding", self.rounding, ROUNDINGS)
        if self.padding in ("correct", "symmetric") and not isinstance(self.pad_name, str):
            validation.fail(f"{owner}.pad_name", self.pad_name, f"the padding layer's name (padding={self.padding!r})")


@dataclasses.dataclass(frozen=True)
class Conventions:
    """Everything about a family that is not its table.

    Attributes:
        names: ``names(stages, stage_index, repeat, block_index) -> {role: layer name}``
            for the block ``repeat`` of ``stages[stage_index]``, the
            ``block_index``-th of the network (keras.applications' names, so
            ``port_weights`` matches by name).
        stem: ConvLayers before the first stage.
        head: ConvLayers after the last stage (before pooling).
        default_size: Resolution used when none is given with a classifier.
        min_size: Smallest accepted input height/width.
        preprocessing: "symmetric" ([0, 255] -> [-1, 1]), "symmetric_128"
            (x / 128 - 1), "lite" ((x - 127) / 128), "imagenet" (/255 then ImageNet mean/std held as
            weights) or "imagenet_constant" (the same statistics as constants).
        classifier: "dense" (GAP -> [Dropout] -> Dense), "conv" (MobileNetV1:
            GAP -> Dropout -> 1x1 conv -> Reshape) or "conv_mlp"
            (MobileNetV3: GAP -> 1x1 conv + act -> Dropout -> 1x1 conv -> Flatten)
            or "conv_bn_dense" (MobileNetV4: GAP -> 1x1 conv -> BN -> act ->
            Flatten -> Dropout -> Dense).
        classifier_hidden: The hidden 1x1 conv of "conv_mlp" / "conv_bn_dense" (its width rule applies).
        activation: Default activation of blocks, stem and head.
        bn_epsilon: Batch-norm epsilon.
        bn_momentum: Batch-norm momentum.
        conv_initializer: Kernel initializer of convolutions.
        dense_initializer: Kernel initializer of the classifier.
        rounding: Channel rounding of block outputs (one of ``ROUNDINGS``).
        downsample: Padding of stride-2 depthwise/fused convolutions (one of ``DOWNSAMPLE_PADDINGS``).
        expansion_rounding: "exact" (``int(in * e)``) or "divisible"
            (``make_divisible(in * e)``, MobileNetV3/V4).
        se_base: What ``se_ratio`` is a fraction of ("input" or "expanded").
        se_rounding: "int" (``max(1, int(c * r))``) or "divisible".
        se_activation: Activation of the squeeze-excite reduction (None = the block's).
        se_gate: "sigmoid" or "hard_sigmoid".
        depthwise_bn: Separable blocks: batch norm and activation after the depthwise conv.
        drop_connect_total: Stochastic depth grows over the "scaled" block
            count (EfficientNet) or the "table" count (EfficientNetV2).
        atrous: How ``output_stride`` dilates a stride-2 block it keeps at
            stride 1 (one of ``ATROUS``): "torchvision" (that block takes the
            new rate) or "deeplab" (the blocks after it do).
    """

    names: Callable[[Tuple[Stage, ...], int, int, int], Mapping[str, str]]
    stem: Tuple[ConvLayer, ...]
    head: Tuple[ConvLayer, ...] = ()
    default_size: int = 224
    min_size: int = 32
    preprocessing: str = "symmetric"
    classifier: str = "dense"
    classifier_hidden: Optional[ConvLayer] = None
    activation: str = "relu6"
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    conv_initializer: Any = "glorot_uniform"
    dense_initializer: Any = "glorot_uniform"
    rounding: str = "divisible"
    downsample: str = "correct"
    expansion_rounding: str = "exact"
    se_base: str = "input"
    se_rounding: str = "int"
    se_activation: Optional[str] = None
    se_gate: str = "sigmoid"
    depthwise_bn: bool = True
    drop_connect_total: str = "scaled"
    atrous: str = "deeplab"

    def __post_init__(self):
        owner = "Conventions"
        if not callable(self.names):
            validation.fail(f"{owner}.names", self.names, "a function (stages, stage_index, repeat, block_index) -> {role: name}")
        for field in ("stem", "head"):
            layers = getattr(self, field)
            if not isinstance(layers, tuple) or not all(isinstance(layer, ConvLayer) for layer in layers):
                validation.fail(f"{owner}.{field}", layers, "a tuple of ConvLayer")
        if self.default_size is not None:
            _positive_int(owner, "default_size", self.default_size)
        _positive_int(owner, "min_size", self.min_size)
        _choice(owner, "preprocessing", self.preprocessing, PREPROCESSINGS)
        _choice(owner, "classifier", self.classifier, CLASSIFIERS)
        needs_hidden = self.classifier in ("conv_mlp", "conv_bn_dense")
        if needs_hidden != isinstance(self.classifier_hidden, ConvLayer):
            allowed = "a ConvLayer (the hidden 1x1 convolution)" if needs_hidden else "None"
            validation.fail(f"{owner}.classifier_hidden", self.classifier_hidden, f"{allowed} with classifier={self.classifier!r}")
        for field in ("activation", "se_activation"):
            value = getattr(self, field)
            if not isinstance(value, str) and not (field == "se_activation" and value is None):
                validation.fail(f"{owner}.{field}", value, "an activation name" + (" or None" if field == "se_activation" else ""))
        if isinstance(self.bn_epsilon, bool) or not isinstance(self.bn_epsilon, numbers.Real) or not self.bn_epsilon > 0:
            validation.fail(f"{owner}.bn_epsilon", self.bn_epsilon, "a number > 0")
        if isinstance(self.bn_momentum, bool) or not isinstance(self.bn_momentum, numbers.Real) or not 0 <= self.bn_momentum < 1:
            validation.fail(f"{owner}.bn_momentum", self.bn_momentum, "a number in [0, 1)")
        for field in ("conv_initializer", "dense_initializer"):  # a name, a config dict or an object: Keras resolves it
            if getattr(self, field) is None:
                validation.fail(f"{owner}.{field}", None, "a Keras initializer (name, config dict or object)")
        _choice(owner, "rounding", self.rounding, ROUNDINGS)
        _choice(owner, "downsample", self.downsample, DOWNSAMPLE_PADDINGS)
        _choice(owner, "expansion_rounding", self.expansion_rounding, EXPANSION_ROUNDINGS)
        _choice(owner, "se_base", self.se_base, SE_BASES)
        _choice(owner, "se_rounding", self.se_rounding, SE_ROUNDINGS)
        _choice(owner, "se_gate", self.se_gate, SE_GATES)
        if not isinstance(self.depthwise_bn, bool):
            validation.fail(f"{owner}.depthwise_bn", self.depthwise_bn, "True or False")
        _choice(owner, "drop_connect_total", self.drop_connect_total, DROP_CONNECT_TOTALS)
        _choice(owner, "atrous", self.atrous, ATROUS)


class RoleNames(dict):
    """Role -> layer name; a role the family does not name gets ``prefix + role``.

    A custom table may use a block kind the family's own table does not (a
    fused block in a MobileNetV2), whose extra roles then get unique names.
    """

    def __init__(self, prefix, names=()):
        super().__init__(names)
        self.prefix = prefix

    def __missing__(self, role):
        return self.prefix + role


def prefixed(prefix, suffixes):
    """``{role: prefix + suffix}``: the naming of most keras.applications blocks (other roles: ``prefix + role``)."""
    return RoleNames(prefix, {role: prefix + suffix for role, suffix in suffixes.items()})
