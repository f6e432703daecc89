"""Model names: list and create every architecture by a short name.

Names follow timm/keras conventions: ``mobilenet_v1_{alpha}_{resolution}``,
``mobilenet_v2_{alpha}_{resolution}``, ``efficientnet_b{0-7}``,
``mobilenet_v3_large_0.75``, ``efficientnet_v2_s``, ``xception``; the bare
``mobilenet_v1`` / ``mobilenet_v2`` mean alpha 1.0 at 224.

Families register themselves: every module of ``keras_lightnets.models.families``
registers its :class:`~keras_lightnets.models.family.Family` when imported, and the registry imports them
all on first use. Those modules import Keras only inside their builders, so
the registry stays plain data: ``lightnets list`` and the command line's help
read it without loading TensorFlow.
"""

import dataclasses
import importlib
import pkgutil
from typing import Callable, Dict, Mapping, Tuple

from keras_lightnets import validation
from keras_lightnets.errors import closest

FAMILIES_PACKAGE = "keras_lightnets.models.families"
# Packages whose modules register themselves: the families, then the dense-prediction heads.
REGISTERING_PACKAGES = (FAMILIES_PACKAGE, "keras_lightnets.heads")


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
        exports: Public names of the builder's module that ``keras_lightnets``
            exposes (e.g. ``("MobileNetV3Small",)``).
        published_macs: ``name -> multiply-adds per image`` the family's paper
            (or keras.applications' table) publishes, for the cost report.
        task: "classification" (an image classifier and backbone),
            "segmentation" (a dense-prediction head on a backbone) or
            "detection" (a detector on a backbone).
    """

    builder: str
    names: Tuple[str, ...]
    fixed: Callable[[str], Dict]
    default_resolution: Callable[[str], int]
    options: Tuple[str, ...] = ()
    exports: Tuple[str, ...] = ()
    published_macs: Mapping[str, float] = dataclasses.field(default_factory=dict)
    task: str = "classification"

    def load_builder(self):
        """The builder function (imports its module, and Keras)."""
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)


_FAMILIES = []
_DISCOVERED = []


def _discover():
    """Imports every family module once (each registers itself; none imports Keras)."""
    if _DISCOVERED:
        return
    _DISCOVERED.append(True)
    for name in REGISTERING_PACKAGES:
        package = importlib.import_module(name)
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
            if not module.name.startswith("_"):
                importlib.import_module(f"{name}.{module.name}")


def register_family(entry):
    """Adds a family to the registry (called by the family's own module).

    Args:
        entry: A :class:`FamilyEntry` whose names are not registered yet.

    Returns:
        The entry.
    """
    taken = set(entry.names) & {name for known in _FAMILIES for name in known.names}
    if taken:
        validation.fail("entry", entry.builder, f"a family whose names are not registered yet (taken: {sorted(taken)})")
    _FAMILIES.append(entry)
    return entry


def families():
    """Every registered :class:`FamilyEntry`, in registration order."""
    _discover()
    return list(_FAMILIES)


def exports():
    """``{public name: "module:name"}`` of every family's builders (``kl.MobileNetV3Small``...)."""
    module_of = {}
    for entry in families():
        module = entry.builder.partition(":")[0]
        module_of.update({name: f"{module}:{name}" for name in entry.exports})
    return module_of


def list_models():
    """All registered model names, sorted.

    Returns:
        list of str, each accepted by :func:`create_model`.
    """
    return sorted(name for entry in families() for name in entry.names)


def family_of(name):
    """The :class:`FamilyEntry` of a registered name.

    Args:
        name: A name from :func:`list_models`.

    Returns:
        FamilyEntry.

    Raises:
        LightnetsError: the name is not registered; the message suggests the closest names.
    """
    for entry in families():
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
            or size of a name that fixes the resolution; other arguments the
            name fixes (``alpha``, ``phi``, ``variant``...) may not contradict it.

    Returns:
        ``keras.Model``.
    """
    builder, fixed = builder_of(name)
    for argument in fixed:
        if argument != "input_shape" and argument in kwargs and kwargs[argument] != fixed[argument]:
            validation.fail(argument, kwargs[argument], f"{fixed[argument]!r} (fixed by the name {name!r}), or leave it out")
    merged = {**fixed, **kwargs}
    return builder(**merged)


def published_macs(name):
    """Multiply-adds per image published for a registered name (its paper's or keras.applications' table), or None."""
    return family_of(name).published_macs.get(name)


def default_resolution(name):
    """The input resolution a registered model is built for by default.

    Args:
        name: A name from :func:`list_models`.

    Returns:
        int: e.g. 224 for ``mobilenet_v2``, 240 for ``efficientnet_b1``.
    """
    return family_of(name).default_resolution(name)
