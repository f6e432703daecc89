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

from keras_lightnets import checkpoint_fields
from keras_lightnets.checkpoint_fields import CheckpointError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# torch's typed storages -> numpy dtypes (little-endian).
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": None,
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
# A state dict's pickle holds names and shapes only (a few hundred KB for large networks); the tensors'
# bytes are elsewhere. A larger data.pkl is refused before it is inflated.
MAX_PICKLE_BYTES = 64 * 1024 * 1024
INT64 = (-(2**63), 2**63 - 1)

__all__ = ["CheckpointError", "load_state_dict", "LEGACY_MAGIC", "LEGACY_PROTOCOL"]


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    """A storage the pickle refers to: its key, dtype and element count (bytes read later)."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    """What ``torch._utils._rebuild_tensor_v2`` would build, with its fields as the file gave them (checked later)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


def _fresh_rebuild():
    def rebuild_tensor_v2(*args, **kwargs):
        return _rebuild_tensor_v2(*args, **kwargs)
    return rebuild_tensor_v2


# (module, name) the unpickler may resolve -> a function making what it resolves to. Each lookup gets a
# new object: a pickle's BUILD opcode sets attributes on what it names, and must not reach module state.
_ALLOWED = {
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,  # an immutable C type
    ("torch._utils", "_rebuild_tensor_v2"): _fresh_rebuild,
    **{("torch", name): (lambda name=name: _StorageType(name)) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path, storages):
        super().__init__(file)
        self.path = path
        self.storages = storages  # key -> _Storage, shared by every pickle of one file

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise CheckpointError(
                f"{self.path}: its pickle names {module}.{name}; only tensors, storages and ordered dicts are "
                "accepted (a .pth file is a pickle, and unpickling would have run it). Nothing was loaded."
            )
        return _ALLOWED[(module, name)]()

    def persistent_load(self, pid):
        # zip layout: ("storage", type, key, location, numel); legacy: the same plus view metadata (None).
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and type(pid[2]) in (str, int) and (len(pid) == 5 or pid[5] is None)):
            raise CheckpointError(f"{self.path}: unexpected persistent id {pid!r} (not a typed tensor storage)")
        key = str(pid[2])
        dtype = STORAGE_DTYPES.get(pid[1].name)
        if dtype is None:
            raise CheckpointError(f"{self.path}: {pid[1].name} tensors are not supported")
        numel = checkpoint_fields.integer(pid[4], f"{self.path}: storage {key}", "element count")
        storage = self.storages.setdefault(key, _Storage(key, np.dtype(dtype), numel))
        if (storage.dtype, storage.numel) != (np.dtype(dtype), numel):
            raise CheckpointError(f"{self.path}: storage {key} is declared twice, as {storage.numel} {storage.dtype} "
                                  f"and as {numel} {np.dtype(dtype)}")
        return storage


def _unpickle(file, path, storages):
    try:
        return _RestrictedUnpickler(file, path, storages).load()
    except CheckpointError:
        raise
    except Exception as error:  # corrupt bytes surface as many pickle/struct/EOF/type/recursion errors
        raise CheckpointError(f"{path}: corrupt or truncated .pth file ({type(error).__name__}: {error})") from None


def _materialize(reference, raw, path, name):
    where = f"{path}: tensor {name!r}"
    storage = reference.storage
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"{where}: its storage is a {type(storage).__name__}, not a typed tensor storage")
    data = raw.get(storage.key)
    if data is None:
        raise CheckpointError(f"{where}: the bytes of storage {storage.key} are missing (truncated file?)")
    size, strides, offset = checkpoint_fields.strided_view(reference.size, reference.stride, reference.offset, data.size, where)
    if 0 in size:
        return np.zeros(size, data.dtype)
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=size, strides=[step * data.itemsize for step in strides])
    return np.array(view)


def _flatten(value, path):
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: holds a {type(value).__name__}, not a state dict of tensors")
    if "state_dict" in value and isinstance(value["state_dict"], dict):
        value = value["state_dict"]
    for key, item in value.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{path}: entry {key!r} is not named by a string")
        if not (isinstance(item, _TensorRef) or (type(item) is int and INT64[0] <= item <= INT64[1])):
            raise CheckpointError(f"{path}: entry {key!r} is a {type(item).__name__}, not a tensor")
    return value


def _read_legacy(blob, path):
    """The state and each storage's array of a legacy file, read from its bytes (already in memory)."""
    file = io.BytesIO(blob)
    storages = {}
    header = [_unpickle(file, path, storages) for _ in range(3)]
    if header[0] != LEGACY_MAGIC or header[1] != LEGACY_PROTOCOL:
        raise CheckpointError(f"{path}: not a PyTorch legacy .pth file (magic {header[0]!r}, protocol {header[1]!r})")
    state = _flatten(_unpickle(file, path, storages), path)
    keys = _unpickle(file, path, storages)
    if not isinstance(keys, list) or not all(type(key) in (str, int) for key in keys):
        raise CheckpointError(f"{path}: corrupt .pth file (its storage list is a {type(keys).__name__}, not a list of keys)")
    raw = {}
    for key in map(str, keys):
        count = file.read(8)
        if len(count) != 8:
            raise CheckpointError(f"{path}: truncated: storage {key} is missing")
        (numel,) = struct.unpack("<q", count)
        storage = storages.get(key)
        if storage is None or numel != storage.numel or key in raw:
            raise CheckpointError(f"{path}: storage {key} does not match the tensors that use it")
        start, nbytes = file.tell(), numel * storage.dtype.itemsize
        if nbytes > len(blob) - start:
            raise CheckpointError(f"{path}: truncated: storage {key} has {len(blob) - start} of {nbytes} bytes")
        raw[key] = np.frombuffer(blob, storage.dtype, count=numel, offset=start)
        file.seek(start + nbytes)
    return state, raw


def _stored_entry(archive, name, nbytes, path, what):
    """The bytes of one zip entry, refused before inflating unless it is stored, whole, and ``nbytes`` long.

    PyTorch writes every entry uncompressed, so an entry's size is bounded by
    the file's own; a compressed entry could inflate far past it.
    """
    info = archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError(f"{path}: {what} is compressed (PyTorch stores every entry uncompressed); refused unread")
    if nbytes is not None and info.file_size != nbytes:
        raise CheckpointError(f"{path}: {what} holds {info.file_size} bytes, the tensors that use it need {nbytes}; "
                              "refused unread")
    if info.file_size != info.compress_size or info.file_size > os.path.getsize(path):
        raise CheckpointError(f"{path}: {what} declares {info.file_size} bytes, more than the file holds; refused unread")
    return archive.read(info)


def _read_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            pickles = sorted(name for name in names if name.endswith("/data.pkl") or name == "data.pkl")
            if not pickles:
                raise CheckpointError(f"{path}: a zip file without data.pkl is not a PyTorch checkpoint")
            prefix = pickles[0][: -len("data.pkl")]
            info = archive.getinfo(pickles[0])
            if info.file_size > MAX_PICKLE_BYTES:
                raise CheckpointError(f"{path}: data.pkl declares {info.file_size} bytes (a state dict's pickle is "
                                      f"far below {MAX_PICKLE_BYTES}); refused unread")
            storages = {}
            state = _flatten(_unpickle(io.BytesIO(_stored_entry(archive, pickles[0], None, path, "data.pkl")), path, storages), path)
            raw = {}
            for item in state.values():
                if isinstance(item, _TensorRef) and isinstance(item.storage, _Storage) and item.storage.key not in raw:
                    storage = item.storage
                    entry = f"{prefix}data/{storage.key}"
                    if entry not in names:
                        raise CheckpointError(f"{path}: storage {storage.key} is missing")
                    nbytes = storage.numel * storage.dtype.itemsize
                    raw[storage.key] = np.frombuffer(
                        _stored_entry(archive, entry, nbytes, path, f"storage {storage.key}"), storage.dtype)
            return state, raw
    except CheckpointError:
        raise
    except Exception as error:  # zipfile, zlib, struct and OS errors of a damaged archive
        raise CheckpointError(f"{path}: corrupt or truncated .pth file ({type(error).__name__}: {error})") from None


def load_state_dict(path):
    """The tensors of a PyTorch state dict file as numpy arrays, in the file's order.

    Every field the file gives (storage element counts, offsets, sizes,
    strides) is checked before it is used: each tensor must lie wholly inside
    its storage and each storage must match the bytes present
    (:mod:`keras_lightnets.checkpoint_fields`).

    Args:
        path: A ``.pth`` / ``.pt`` file (legacy or zip layout).

    Returns:
        ``collections.OrderedDict`` name -> ``np.ndarray`` (integer entries such
        as ``num_batches_tracked`` included as 0-d arrays).

    Raises:
        CheckpointError (a ValueError): the file is missing, corrupt or
            truncated, a tensor's fields are invalid or reach outside its
            storage, or its pickle names anything but tensors, storages and
            ordered dicts (refused before anything runs). The message names
            the file and, where one is at fault, the tensor.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        state, raw = _read_zip(path)
    else:
        with open(path, "rb") as file:
            state, raw = _read_legacy(file.read(), path)
    arrays = collections.OrderedDict()
    for name, value in state.items():
        arrays[name] = np.asarray(value, np.int64) if isinstance(value, int) else _materialize(value, raw, path, name)
    return arrays
