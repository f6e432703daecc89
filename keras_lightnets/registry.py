"""Model names: list and create every architecture by a short name.

Names follow timm/keras conventions: ``mobilenet_v1_{alpha}_{resolution}``,
``mobilenet_v2_{alpha}_{resolution}``, ``efficientnet_b{0-7}``,
``xception``; the bare ``mobilenet_v1`` / ``mobilenet_v2`` mean alpha 1.0
at 224.
"""

import re

from keras_lightnets import validation
from keras_lightnets.models.efficientnet import EfficientNet
from keras_lightnets.models.mobilenet_v1 import IMAGENET_ALPHAS as V1_ALPHAS
from keras_lightnets.models.mobilenet_v1 import IMAGENET_SIZES as V1_SIZES
from keras_lightnets.models.mobilenet_v1 import MobileNetV1
from keras_lightnets.models.mobilenet_v2 import IMAGENET_ALPHAS as V2_ALPHAS
from keras_lightnets.models.mobilenet_v2 import IMAGENET_SIZES as V2_SIZES
from keras_lightnets.models.mobilenet_v2 import MobileNetV2
from keras_lightnets.models.mobilenet_v1 import FAMILY as V1_FAMILY
from keras_lightnets.models.xception import FAMILY as XCEPTION_FAMILY
from keras_lightnets.models.xception import Xception
from keras_lightnets.scaling import EFFICIENTNET_TABLE

_MOBILENET = re.compile(r"^mobilenet_(v1|v2)(?:_(\d+(?:\.\d+)?)_(\d+))?$")
_EFFICIENTNET = re.compile(r"^efficientnet_b(\d)$")
MOBILENET_DEFAULT_SIZE = V1_FAMILY.default_size
_BUILDERS = {"v1": MobileNetV1, "v2": MobileNetV2}


def _mobilenet_names(version, alphas, sizes):
    names = [f"mobilenet_{version}"]
    names += [f"mobilenet_{version}_{float(alpha)!r}_{size}" for alpha in alphas for size in sizes]
    return names


def list_models():
    """All registered model names, sorted.

    Returns:
        list of str, each accepted by :func:`create_model`.
    """
    names = _mobilenet_names("v1", V1_ALPHAS, V1_SIZES) + _mobilenet_names("v2", V2_ALPHAS, V2_SIZES)
    names += [f"efficientnet_b{phi}" for phi in sorted(EFFICIENTNET_TABLE)] + ["xception"]
    return sorted(names)


def _resolve(name):
    """Returns (builder, fixed keyword arguments) for a registered name."""
    if not isinstance(name, str) or name not in list_models():
        validation.fail("name", name, "one of keras_lightnets.list_models(), e.g. 'mobilenet_v1_0.5_160', 'efficientnet_b3'")
    if name == "xception":
        return Xception, {}
    match = _EFFICIENTNET.match(name)
    if match:
        return EfficientNet, {"phi": int(match.group(1))}
    version, alpha, size = _MOBILENET.match(name).groups()
    fixed = {}
    if alpha is not None:
        fixed = {"alpha": float(alpha), "input_shape": (int(size), int(size), 3)}
    return _BUILDERS[version], fixed


def builder_of(name):
    """The builder function of a registered name and the arguments the name fixes.

    Args:
        name: A name from :func:`list_models`.

    Returns:
        (builder, dict of fixed keyword arguments), e.g. ``(MobileNetV1, {"alpha": 0.5, ...})``.
    """
    return _resolve(name)


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
    builder, fixed = _resolve(name)
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
    builder, fixed = _resolve(name)
    if "input_shape" in fixed:
        return fixed["input_shape"][0]
    if "phi" in fixed:
        return EFFICIENTNET_TABLE[fixed["phi"]][2]
    return XCEPTION_FAMILY.default_size if builder is Xception else MOBILENET_DEFAULT_SIZE
