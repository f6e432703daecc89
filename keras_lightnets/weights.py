"""Weights: fetching keras.applications' published files and porting them by layer name.

Our builders use keras.applications' layer names, so weights move by name.
Two differences are bridged here: a keras ``SeparableConv2D`` named ``N``
becomes our ``N_depthwise`` + ``N_pointwise`` pair, and layers that
keras.applications leaves unnamed (Xception's residual 1x1 convolutions and
their batch norms) are paired in graph order, kind and shape checked.
Preprocessing layers are never ported: ours carry fixed statistics.
"""

import dataclasses
import os
import hashlib
from typing import Callable, List, Optional

import keras

from keras_lightnets.errors import LightnetsError

WEIGHTED_KINDS = {
    "Conv2D": "conv",
    "DepthwiseConv2D": "depthwise",
    "BatchNormalization": "batch_norm",
    "Dense": "dense",
}
SKIPPED_CLASSES = ("Normalization", "Rescaling")
# Set to 1 to never download: a missing file raises at once (air-gapped machines, tests).
OFFLINE_VARIABLE = "KERAS_LIGHTNETS_OFFLINE"


def set_layer_weights(layer, values):
    """``layer.set_weights(values)``, then the state a preprocessing layer derives from its weights.

    Keras 3's ``Normalization`` computes from its mean/variance weights only in ``finalize_state()``;
    without that call it keeps normalizing with the values it was built with (the identity).

    Args:
        layer: A Keras 3 or tf_keras layer.
        values: Its weights, as ``layer.get_weights()`` lists them.
    """
    layer.set_weights(values)
    finalize = getattr(layer, "finalize_state", None)
    if finalize is not None:
        finalize()


class WeightsUnavailableError(LightnetsError, OSError):
    """A published weights file is neither cached nor downloadable."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WeightSource:
    """A keras.applications weights file and the twin network that reads it.

    Attributes:
        filename: File name in the Keras cache (``~/.keras/models/``).
        url: Where keras.applications publishes it.
        twin: Zero-argument callable returning the keras.applications model
            (``weights=None``) whose layout matches the file.
        file_hash: The md5 (32 hex digits) or sha256 (64) keras.applications checks the file
            against, or None where it publishes none (MobileNet, MobileNetV2: then every
            array of the HDF5 file must read back).
    """

    filename: str
    url: str
    twin: Callable[[], keras.Model]
    file_hash: Optional[str] = None


@dataclasses.dataclass
class PortReport:
    """What :func:`port_weights` did.

    Attributes:
        copied: Destination weight units (layer names) that received weights.
        unused_source: Source units that had no counterpart (e.g. a
            classifier the destination does not have).
    """

    copied: List[str]
    unused_source: List[str]


@dataclasses.dataclass
class _Unit:
    name: str
    kind: str
    layer: object
    slots: tuple

    def arrays(self):
        values = self.layer.get_weights()
        return [values[i] for i in self.slots]

    def shapes(self):
        return [tuple(self.layer.weights[i].shape) for i in self.slots]


def _walk(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer


def _units(model):
    units = []
    for layer in _walk(model):
        cls = type(layer).__name__
        if not layer.weights or cls in SKIPPED_CLASSES:
            continue
        if cls == "SeparableConv2D":
            pointwise_slots = (1, 2) if len(layer.weights) == 3 else (1,)
            units.append(_Unit(f"{layer.name}_depthwise", "depthwise", layer, (0,)))
            units.append(_Unit(f"{layer.name}_pointwise", "conv", layer, pointwise_slots))
        else:
            units.append(_Unit(layer.name, WEIGHTED_KINDS.get(cls, cls), layer, tuple(range(len(layer.weights)))))
    return units


def _pair(src_units, dst_units):
    by_name = {u.name: u for u in src_units}
    pairs, dst_left = [], []
    for dst in dst_units:
        src = by_name.pop(dst.name, None)
        if src is not None and src.kind == dst.kind and src.shapes() == dst.shapes():
            pairs.append((src, dst))
        else:
            if src is not None:
                by_name[src.name] = src
            dst_left.append(dst)
    src_left = [u for u in src_units if u.name in by_name]
    unmatched = []
    for dst in dst_left:
        match = next((s for s in src_left if s.kind == dst.kind and s.shapes() == dst.shapes()), None)
        if match is None:
            unmatched.append(dst)
            continue
        src_left.remove(match)
        pairs.append((match, dst))
    return pairs, unmatched, src_left


def port_weights(source, destination, strict=True):
    """Copies weights from one network into another with the same architecture.

    Typical use: ``port_weights(keras.applications.MobileNetV2(...), ours)``.
    Matching is by layer name, then by graph order for unnamed layers, with
    kind and shape checked for every pair.

    Args:
        source: Model to read weights from (keras.applications or ours).
        destination: Model to write weights into.
        strict: If True (default), every weighted layer of ``destination``
            must receive weights, otherwise ``ValueError`` lists the missing
            ones and nothing is written.

    Returns:
        :class:`PortReport`.
    """
    pairs, unmatched, src_left = _pair(_units(source), _units(destination))
    if unmatched and strict:
        missing = ", ".join(f"{u.name} {u.shapes()}" for u in unmatched[:5])
        raise LightnetsError(
            f"Invalid `source`: {source.name!r} has no weights for {len(unmatched)} layer(s) of "
            f"{destination.name!r} (first: {missing}); allowed: a model of the same architecture "
            "(same width, classes and include_top), or pass strict=False to copy what matches."
        )
    staged = {}
    for src, dst in pairs:
        values = staged.setdefault(id(dst.layer), (dst.layer, dst.layer.get_weights()))[1]
        for slot, array in zip(dst.slots, src.arrays()):
            values[slot] = array
    for layer, values in staged.values():
        layer.set_weights(values)
    return PortReport(copied=[dst.name for _, dst in pairs], unused_source=[u.name for u in src_left])


def keras_cache_dir():
    """The Keras cache root: ``$KERAS_HOME`` or ``~/.keras``."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def file_problem(path, file_hash=None):
    """Why a weights file cannot be used, or None when it is intact.

    Args:
        path: A local ``.h5`` file.
        file_hash: Expected md5 (32 hex digits) or sha256 (64), or None to check instead that
            the file is HDF5 and every array in it reads back (a truncated download fails this).

    Returns:
        None, or a short description such as ``"md5 0123... != published 902e..."``.
    """
    if file_hash:
        algorithm = "sha256" if len(file_hash) == 64 else "md5"
        digest = hashlib.new(algorithm)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        actual = digest.hexdigest()
        return None if actual == file_hash.lower() else f"{algorithm} {actual} != published {file_hash}"
    import h5py

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(read)
    except Exception as error:  # h5py raises OSError, KeyError, RuntimeError... for damaged files
        return f"not a readable HDF5 file ({type(error).__name__}: {error})"
    return None


def fetch(source):
    """Returns the local path of a published file, downloading it if needed, checked for integrity.

    A cached file that fails :func:`file_problem` (wrong hash, truncated) is deleted and
    downloaded again; offline, that is an error naming the file.

    Args:
        source: :class:`WeightSource`.

    Raises:
        WeightsUnavailableError: if the file is not cached (or is damaged) and cannot be
            downloaded (or ``KERAS_LIGHTNETS_OFFLINE=1`` forbids it); the message names the
            file, what is wrong with it and where to put a good copy.
    """
    cached = os.path.join(keras_cache_dir(), "models", source.filename)
    advice = (
        f"On a machine with internet access download {source.url} and copy it to {cached} "
        "(set KERAS_HOME to use another cache root)."
    )
    offline = os.environ.get(OFFLINE_VARIABLE, "") not in ("", "0")
    state = "is not in the Keras cache"
    if os.path.isfile(cached):
        problem = file_problem(cached, source.file_hash)
        if problem is None:
            return cached
        state = f"in the Keras cache ({cached}) is damaged: {problem}"
        if offline:
            raise WeightsUnavailableError(
                f"ImageNet weights file {source.filename!r} {state}, and {OFFLINE_VARIABLE} forbids downloading "
                f"it again. {advice}"
            )
        os.remove(cached)
    elif offline:
        raise WeightsUnavailableError(
            f"ImageNet weights file {source.filename!r} is not in the Keras cache and {OFFLINE_VARIABLE} "
            f"forbids downloading. {advice}"
        )
    try:
        path = keras.utils.get_file(source.filename, source.url, cache_subdir="models", cache_dir=keras_cache_dir(),
                                    file_hash=source.file_hash)
    except Exception as error:  # network errors come in many types; a hash mismatch is a ValueError
        if os.path.exists(cached):  # nothing half-written or unverified stays in the cache
            os.remove(cached)
        raise WeightsUnavailableError(
            f"ImageNet weights file {source.filename!r} {state} and could not be "
            f"downloaded ({type(error).__name__}: {error}). {advice}"
        ) from None
    problem = None if source.file_hash else file_problem(path)  # get_file has checked a published hash already
    if problem is not None:
        os.remove(path)
        raise WeightsUnavailableError(f"The downloaded {source.filename!r} from {source.url} is damaged: {problem}. {advice}")
    return path


def load_imagenet(model, source):
    """Loads published ImageNet weights into ``model`` through its keras.applications twin."""
    twin = source.twin()
    twin.load_weights(fetch(source))
    port_weights(twin, model)


def load_file(model, path):
    """Loads a ``.keras`` / ``.weights.h5`` file saved from a model of the same architecture."""
    model.load_weights(os.fspath(path))
