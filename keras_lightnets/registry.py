"""Model names: list and create every architecture by a short name.

Names follow timm/keras conventions: ``mobilenet_v1_{alpha}_{resolution}``,
``mobilenet_v2_{alpha}_{resolution}``, ``efficientnet_b{0-7}``,
``xception``; the bare ``mobilenet_v1`` / ``mobilenet_v2`` mean alpha 1.0
at 224.

The registry is plain data (no Keras import): ``lightnets list`` and the
command line's help read it without loading TensorFlow, and a builder is
imported only when a model is created.
"""

import dataclasses
import importlib
import re
from typing import Callable, Dict, Tuple

from keras_lightnets import validation
from keras_lightnets.errors import closest
from keras_lightnets.models import catalog
from keras_lightnets.scaling import EFFICIENTNET_TABLE


@dataclasses.dataclass(frozen=True)
class FamilyEntry:
    """One family's names and how a name maps to builder arguments.

    Attributes:
        builder: ``"module:function"`` of the public builder, imported on first use.
        names: Every registered name of the family.
        fixed: ``name -> dict`` of the keyword arguments the name fixes.
        default_resolution: ``name -> int``, the input resolution a name is built for.
        options: Builder arguments beyond keras.applications' common ones that the
            training engine may pass (e.g. ``"alpha"``, ``"convolutions"``).
    """

    builder: str
    names: Tuple[str, ...]
    fixed: Callable[[str], Dict]
    default_resolution: Callable[[str], int]
    options: Tuple[str, ...] = ()

    def load_builder(self):
        """The builder function (imports its module, and Keras)."""
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)


_FAMILIES = []


def register_family(entry):
    """Adds a family to the registry.

    Args:
        entry: A :class:`FamilyEntry` whose names are not registered yet.

    Returns:
        The entry.
    """
    taken = set(entry.names) & set(list_models())
    if taken:
        validation.fail("entry", entry.builder, f"a family whose names are not registered yet (taken: {sorted(taken)})")
    _FAMILIES.append(entry)
    return entry


def _mobilenet(version, builder, alphas, sizes):
    pattern = re.compile(rf"^mobilenet_{version}_(\d+(?:\.\d+)?)_(\d+)$")

    def fixed(name):
        match = pattern.match(name)
        if not match:
            return {}
        return {"alpha": float(match.group(1)), "input_shape": (int(match.group(2)),) * 2 + (3,)}

    def resolution(name):
        return fixed(name).get("input_shape", (catalog.MOBILENET_DEFAULT_SIZE,))[0]

    names = (f"mobilenet_{version}",) + tuple(f"mobilenet_{version}_{float(a)!r}_{s}" for a in alphas for s in sizes)
    options = ("alpha", "convolutions") if version == "v1" else ("alpha",)
    return FamilyEntry(builder, names, fixed, resolution, options)


def list_models():
    """All registered model names, sorted.

    Returns:
        list of str, each accepted by :func:`create_model`.
    """
    return sorted(name for entry in _FAMILIES for name in entry.names)


def family_of(name):
    """The :class:`FamilyEntry` of a registered name.

    Args:
        name: A name from :func:`list_models`.

    Returns:
        FamilyEntry.

    Raises:
        LightnetsError: the name is not registered; the message suggests the closest names.
    """
    for entry in _FAMILIES:
        if isinstance(name, str) and name in entry.names:
            return entry
    suggestions = closest(name, list_models())
    hint = f"did you mean {', '.join(map(repr, suggestions))}? " if suggestions else ""
    validation.fail("name", name, f"a registered model name ({hint}`lightnets list` or kl.list_models() prints all)")


def builder_of(name):
    """The builder function of a registered name and the arguments the name fixes.

    Args:
        name: A name from :func:`list_models`.

    Returns:
        (builder, dict of fixed keyword arguments), e.g. ``(MobileNetV1, {"alpha": 0.5, ...})``.
    """
    entry = family_of(name)
    return entry.load_builder(), entry.fixed(name)


def create_model(name, **kwargs):
    """Builds a registered model.

    Args:
        name: A name from :func:`list_models`.
        **kwargs: Builder arguments (``classes``, ``include_top``,
            ``weights``...). An ``input_shape`` may change the channel count
            or size of a name that fixes the resolution; ``alpha``/``phi``
            may not contradict the name.

    Returns:
        ``keras.Model``.
    """
    builder, fixed = builder_of(name)
    for argument in ("alpha", "phi"):
        if argument in fixed and argument in kwargs and kwargs[argument] != fixed[argument]:
            validation.fail(argument, kwargs[argument], f"{fixed[argument]!r} (fixed by the name {name!r}), or leave it out")
    merged = {**fixed, **kwargs}
    return builder(**merged)


def default_resolution(name):
    """The input resolution a registered model is built for by default.

    Args:
        name: A name from :func:`list_models`.

    Returns:
        int: e.g. 224 for ``mobilenet_v2``, 240 for ``efficientnet_b1``.
    """
    return family_of(name).default_resolution(name)


# The families.
register_family(_mobilenet("v1", "keras_lightnets.models.mobilenet_v1:MobileNetV1",
                           catalog.MOBILENET_V1_ALPHAS, catalog.MOBILENET_V1_SIZES))
register_family(_mobilenet("v2", "keras_lightnets.models.mobilenet_v2:MobileNetV2",
                           catalog.MOBILENET_V2_ALPHAS, catalog.MOBILENET_V2_SIZES))
register_family(FamilyEntry(
    "keras_lightnets.models.efficientnet:EfficientNet",
    tuple(f"efficientnet_b{phi}" for phi in sorted(EFFICIENTNET_TABLE)),
    lambda name: {"phi": int(name[len("efficientnet_b"):])},
    lambda name: EFFICIENTNET_TABLE[int(name[len("efficientnet_b"):])][2],
    ("drop_connect_rate",),
))
register_family(FamilyEntry(
    "keras_lightnets.models.xception:Xception", ("xception",), lambda name: {},
    lambda name: catalog.XCEPTION_DEFAULT_SIZE, ("convolutions",),
))
