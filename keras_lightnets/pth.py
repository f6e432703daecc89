"""Reading a PyTorch ``.pth`` state dict without torch, and without executing what the file names.

A ``.pth`` file is a pickle, and unpickling runs whatever callables it names.
:func:`load_state_dict` unpickles with an allow-list: ordered dicts, torch's
tensor-rebuild function and its typed storages, each turned into an inert
placeholder here; any other name is refused before it is looked up. Two
layouts are read:

* legacy (``torch.save(..., _use_new_zipfile_serialization=False)``): five
  pickles in a row (magic number, protocol version, system info, the object,
  the storage keys), then each storage as an 8-byte element count and its raw
  little-endian bytes;
* zip (torch >= 1.6's default): ``<name>/data.pkl`` and one
  ``<name>/data/<key>`` entry of raw bytes per storage.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from keras_lightnets.errors import LightnetsError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# torch's typed storages -> numpy dtypes (little-endian).
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": None,
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class CheckpointError(LightnetsError):
    """A ``.pth`` file that cannot be read safely or completely."""


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    """A storage the pickle refers to: its key, dtype and element count (bytes read later)."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    """What ``torch._utils._rebuild_tensor_v2`` would build: a strided view of a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


# (module, name) the unpickler may resolve, and what each resolves to.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self.path = path

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise CheckpointError(
                f"{self.path}: its pickle names {module}.{name}; only tensors, storages and ordered dicts are "
                "accepted (a .pth file is a pickle, and unpickling would have run it). Nothing was loaded."
            )
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise CheckpointError(f"{self.path}: unexpected persistent id {pid!r} (not a typed tensor storage)")
        dtype = STORAGE_DTYPES[pid[1].name]
        if dtype is None:
            raise CheckpointError(f"{self.path}: {pid[1].name} tensors are not supported")
        return _Storage(str(pid[2]), np.dtype(dtype), int(pid[4]))


def _unpickle(file, path):
    try:
        return _RestrictedUnpickler(file, path).load()
    except CheckpointError:
        raise
    except Exception as error:  # truncated or corrupt bytes surface as many pickle/struct/EOF errors
        raise CheckpointError(f"{path}: corrupt or truncated .pth file ({type(error).__name__}: {error})") from None


def _materialize(reference, raw, path, name):
    storage = reference.storage
    data = raw.get(storage.key)
    if data is None or data.size != storage.numel:
        raise CheckpointError(f"{path}: the bytes of tensor {name!r} are missing (truncated file?)")
    itemsize = data.itemsize
    needed = reference.offset + sum((s - 1) * st for s, st in zip(reference.size, reference.stride)) + 1
    if reference.size and min(reference.size) > 0 and needed > data.size:
        raise CheckpointError(f"{path}: tensor {name!r} reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        data[reference.offset:], shape=reference.size, strides=[st * itemsize for st in reference.stride])
    return np.array(view)


def _flatten(value, path):
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: holds a {type(value).__name__}, not a state dict of tensors")
    if "state_dict" in value and isinstance(value["state_dict"], dict):
        value = value["state_dict"]
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (_TensorRef, int)):
            raise CheckpointError(f"{path}: entry {key!r} is not a tensor")
    return value


def _read_legacy(file, path):
    header = [_unpickle(file, path) for _ in range(3)]
    if header[0] != LEGACY_MAGIC or header[1] != LEGACY_PROTOCOL:
        raise CheckpointError(f"{path}: not a PyTorch legacy .pth file (magic {header[0]!r}, protocol {header[1]!r})")
    state = _unpickle(file, path)
    keys = _unpickle(file, path)
    storages = {}

    def collect(value):
        if isinstance(value, _TensorRef):
            storages[value.storage.key] = value.storage

    for item in (state.values() if isinstance(state, dict) else ()):
        collect(item)
    raw = {}
    for key in keys:
        count = file.read(8)
        if len(count) != 8:
            raise CheckpointError(f"{path}: truncated: storage {key} is missing")
        (numel,) = struct.unpack("<q", count)
        storage = storages.get(str(key))
        if storage is None or numel != storage.numel:
            raise CheckpointError(f"{path}: storage {key} does not match the tensors that use it")
        data = file.read(numel * storage.dtype.itemsize)
        if len(data) != numel * storage.dtype.itemsize:
            raise CheckpointError(f"{path}: truncated: storage {key} has {len(data)} of {numel * storage.dtype.itemsize} bytes")
        raw[str(key)] = np.frombuffer(data, storage.dtype)
    return state, raw


def _read_zip(path):
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise CheckpointError(f"{path}: a zip file without data.pkl is not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        state = _unpickle(io.BytesIO(archive.read(pickles[0])), path)
        raw = {}
        for item in (state.values() if isinstance(state, dict) else ()):
            if isinstance(item, _TensorRef) and item.storage.key not in raw:
                entry = f"{prefix}data/{item.storage.key}"
                if entry not in names:
                    raise CheckpointError(f"{path}: storage {item.storage.key} is missing")
                raw[item.storage.key] = np.frombuffer(archive.read(entry), item.storage.dtype)
        return state, raw
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated .pth file ({type(error).__name__}: {error})") from None


def load_state_dict(path):
    """The tensors of a PyTorch state dict file as numpy arrays, in the file's order.

    Args:
        path: A ``.pth`` / ``.pt`` file (legacy or zip layout).

    Returns:
        ``collections.OrderedDict`` name -> ``np.ndarray`` (integer entries such
        as ``num_batches_tracked`` included as 0-d arrays).

    Raises:
        CheckpointError (a ValueError): the file is missing, corrupt or
            truncated, or its pickle names anything but tensors, storages and
            ordered dicts (refused before anything runs).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        state, raw = _read_zip(path)
    else:
        with open(path, "rb") as file:
            state, raw = _read_legacy(file, path)
    state = _flatten(state, path)
    arrays = collections.OrderedDict()
    for name, value in state.items():
        arrays[name] = np.asarray(value) if isinstance(value, int) else _materialize(value, raw, path, name)
    return arrays
