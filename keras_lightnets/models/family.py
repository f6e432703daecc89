"""A family is data: one :class:`Family` definition per family and the one pipeline that builds them all.

A family module holds its tables, its conventions and one :class:`Family`;
its public builder keeps keras.applications' exact signature and its body is
``return FAMILY.build(locals())``. The pipeline every family shares:

1. the family's own argument checks (its variants, multipliers, rates),
2. the arguments every builder shares with keras.applications, checked
   against the family's conventions (input shape, head, weights),
3. the family's :class:`Plan` for this call: conventions, stage table,
   multipliers, default model name,
4. ImageNet weights: the published table only, the family's source
   checked before anything is built (or refused, naming why),
5. body and head by :mod:`keras_lightnets.models.builder` and
   :func:`keras_lightnets.models.common.build`, then the weights.

The same object gives the registry its entry (:meth:`Family.entry`), so a new
family is one data file. Nothing here imports Keras: the registry and the
command line read families without loading TensorFlow.
"""

import dataclasses
import types
from typing import Any, Callable, Mapping, Optional, Tuple

from keras_lightnets import registry, validation
from keras_lightnets.models.catalog import CONVOLUTIONS
from keras_lightnets.models.spec import Conventions, parse_stages

# The arguments every builder shares with its keras.applications twin (models.common.CommonArgs' fields).
COMMON_ARGUMENTS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                    "classifier_activation", "name", "include_preprocessing")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one call of a builder builds, once the family has resolved its arguments.

    Attributes:
        conventions: The family's :class:`~keras_lightnets.models.spec.Conventions` for this call.
        table: The stage table (tuple of :class:`~keras_lightnets.models.spec.Stage`).
        name: Model name when the caller gives none.
        dropout: Dropout before the classifier, in [0, 1).
        width: Width multiplier (> 0).
        depth: Depth multiplier (> 0).
        drop_connect_rate: Final stochastic-depth rate, in [0, 1).
        activation: Activation of the blocks (None = the conventions').
        depth_multiplier: Depthwise channel multiplier (int >= 1).
        convolutions: "separable", or "standard" (every separable pair as one full convolution).
        hidden_activation: Activation of the classifier's hidden 1x1 convolution
            (families whose conventions have ``classifier_hidden``; None = the conventions').
    """

    conventions: Conventions
    table: Tuple
    name: str
    dropout: float = 0.0
    width: float = 1.0
    depth: float = 1.0
    drop_connect_rate: float = 0.0
    activation: Optional[str] = None
    depth_multiplier: int = 1
    convolutions: str = "separable"
    hidden_activation: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class PostBuildLoader:
    """ImageNet weights a family loads itself after the build (a checkpoint in another layout).

    Attributes:
        load: ``load(model)``; its file was found before the build.
    """

    load: Callable[[Any], None]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Family:
    """One family's definition: everything its builder and its registry entry need.

    Attributes:
        builder: Public name of the builder (``kl.<builder>``), e.g. "EfficientNet".
        module: The module that defines the builder (its ``__name__``).
        variants: Registry name -> the builder arguments the name fixes
            (``{"efficientnet_b1": {"phi": 1}}``); a name may fix ``input_shape``.
        resolution: ``resolution(fixed arguments) -> int``: the input
            resolution a registered name is built for.
        conventions: ``conventions(args) -> Conventions``: what input sizes
            the call accepts and defaults to (the ``default_size`` and ``min_size`` fields).
        plan: ``plan(args, conventions) -> Plan``; ``args`` is the call's
            arguments as attributes plus ``shape`` (the resolved input shape),
            ``rows``, ``cols``, ``channels`` and ``table`` (the custom table
            ``stages`` parsed, or None for the published one).
        check: ``check(args)``: the family's own argument checks (raises
            :class:`~keras_lightnets.errors.LightnetsError`), before anything else.
        rates: Arguments that must be rates in [0, 1) when not None.
        multipliers: Arguments that must be numbers > 0.
        imagenet: ``imagenet(args) -> WeightSource | PostBuildLoader``: the
            published ImageNet file of the call; None when none is published.
        no_imagenet: Why ``weights="imagenet"`` is refused when ``imagenet`` is None.
        options: Builder arguments beyond keras.applications' that the
            training engine may pass ("alpha", "convolutions", "drop_connect_rate").
        published_macs: Registry name -> multiply-adds per image its paper publishes.
    """

    builder: str
    module: str
    variants: Mapping[str, Mapping[str, Any]]
    resolution: Callable[[Mapping[str, Any]], int]
    conventions: Callable[[Any], Conventions]
    plan: Callable[[Any, Conventions], Plan]
    check: Optional[Callable[[Any], None]] = None
    rates: Tuple[str, ...] = ("dropout",)
    multipliers: Tuple[str, ...] = ()
    imagenet: Optional[Callable[[Any], Any]] = None
    no_imagenet: str = "None or a weights file: no ImageNet file is published for this family"
    options: Tuple[str, ...] = ()
    published_macs: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def entry(self):
        """This family's :class:`~keras_lightnets.registry.FamilyEntry`."""
        variants = {name: dict(fixed) for name, fixed in self.variants.items()}
        return registry.FamilyEntry(
            f"{self.module}:{self.builder}", tuple(variants), lambda name: dict(variants[name]),
            lambda name: self.resolution(variants[name]), options=tuple(self.options), exports=(self.builder,),
            published_macs=dict(self.published_macs),
        )

    def register(self):
        """Adds this family to the registry (called once by its module); returns the family."""
        registry.register_family(self.entry())
        return self

    def build(self, arguments):
        """Runs the shared pipeline on one call's arguments.

        Args:
            arguments: The builder's arguments by name (its ``locals()``).

        Returns:
            ``keras.Model``.
        """
        import keras

        from keras_lightnets.models import builder, common, inputs

        args = types.SimpleNamespace(**arguments)
        if self.check is not None:
            self.check(args)
        for argument in self.multipliers:
            validation.check_number(argument, arguments[argument], minimum=0.0, exclusive_minimum=True)
        for argument in self.rates:
            if arguments[argument] is not None:
                validation.check_rate(argument, arguments[argument])
        common_args = common.CommonArgs(**{argument: arguments[argument] for argument in COMMON_ARGUMENTS})
        stages = arguments.get("stages")
        args.table = None if stages is None else parse_stages(stages)  # a custom table, checked before the rest
        conventions = self.conventions(args)
        args.shape = common.validate_common(common_args, conventions)
        data_format = keras.config.image_data_format()
        args.rows, args.cols = inputs.spatial_size(args.shape, data_format)
        args.channels = inputs.channel_count(args.shape, data_format)
        plan = self.plan(args, conventions)
        validation.check_rate("dropout", plan.dropout)
        source = self._imagenet(args) if common_args.weights == "imagenet" else None
        post_build = source if isinstance(source, PostBuildLoader) else None
        if post_build is not None:
            common_args = dataclasses.replace(common_args, weights=None)
            source = None
        family = plan.conventions
        body = builder.body(family, plan.table, width=plan.width, depth=plan.depth,
                            drop_connect_rate=plan.drop_connect_rate, activation=plan.activation,
                            depth_multiplier=plan.depth_multiplier, output_stride=arguments.get("output_stride"))
        hidden = None
        if family.classifier_hidden is not None:
            hidden = (builder.conv_layer_filters(None, None, family.classifier_hidden, plan.width, family),
                      plan.hidden_activation or family.activation)
        model = common.build(family, common_args, args.shape, body, plan.name, dropout=plan.dropout,
                             imagenet=source, convolutions=plan.convolutions, hidden=hidden)
        if post_build is not None:
            post_build.load(model)
        return model

    def _imagenet(self, args):
        if self.imagenet is None:
            validation.fail("weights", "imagenet", self.no_imagenet)
        if getattr(args, "stages", None) is not None:
            validation.fail("stages", f"a custom table of {len(args.stages)} rows",
                            'None when weights="imagenet" (published files fit the published table)')
        return self.imagenet(args)


def keras_applications_source(args, folder_url, filename, twin, file_hash=None, **twin_arguments):
    """The :class:`~keras_lightnets.weights.WeightSource` of a keras.applications file for one call.

    Args:
        args: The call's arguments (``include_top``, ``shape``, ``classes``, ``classifier_activation``).
        folder_url: Where keras.applications publishes the family's files (ends in "/").
        filename: The file's name.
        twin: The keras.applications builder whose layout matches the file.
        file_hash: The hash keras.applications checks, or None where it publishes none.
        **twin_arguments: The twin's other arguments (``alpha``, ``minimalistic``).
    """
    from keras_lightnets.weights import WeightSource

    return WeightSource(
        filename=filename, url=folder_url + filename, file_hash=file_hash,
        twin=lambda: twin(include_top=args.include_top, weights=None, input_shape=args.shape, classes=args.classes,
                          classifier_activation=args.classifier_activation, **twin_arguments),
    )


def check_convolutions(convolutions, weights):
    """Validates a builder's ``convolutions`` argument ("standard" has no published weights)."""
    validation.check_choice("convolutions", convolutions, CONVOLUTIONS)
    if convolutions == "standard" and weights == "imagenet":
        validation.fail("convolutions", convolutions, '"separable" when weights="imagenet"')


def alpha_resolution_variants(prefix, alphas, sizes):
    """Registry names ``{prefix}`` and ``{prefix}_{alpha}_{size}`` (MobileNetV1/V2) -> the arguments they fix."""
    variants = {prefix: {}}
    for alpha in alphas:
        for size in sizes:
            variants[f"{prefix}_{float(alpha)!r}_{size}"] = {"alpha": float(alpha), "input_shape": (size, size, 3)}
    return variants


def resolution_from_shape(default_size):
    """``resolution`` of families whose names fix ``input_shape`` (the bare name: ``default_size``)."""
    return lambda fixed: fixed.get("input_shape", (default_size,))[0]
