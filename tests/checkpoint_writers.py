"""Writers of PyTorch ``.pth`` (zip and legacy layouts) and ``.safetensors`` files, without torch, for the reader tests.

The pickle is assembled opcode by opcode (protocol 2, as ``torch.save``
writes it), so any field can be given any value a stranger might write:
a negative offset, a bool or a string where an integer belongs, a size that
overflows 64 bits. Valid files from these writers are what torch writes:
``OrderedDict`` of ``torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, requires_grad, OrderedDict())`` with storages as persistent ids
``("storage", torch.<Type>Storage, key, "cpu", numel)``.
"""

import dataclasses
import io
import json
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_TYPES = {"<f4": "FloatStorage", "<f8": "DoubleStorage", "<f2": "HalfStorage", "<i8": "LongStorage",
                 "<i4": "IntStorage", "<i2": "ShortStorage", "i1": "CharStorage", "u1": "ByteStorage", "?": "BoolStorage"}
SAFETENSORS_DTYPES = {"<f4": "F32", "<f8": "F64", "<f2": "F16", "<i8": "I64", "<i4": "I32", "<i2": "I16", "i1": "I8",
                      "u1": "U8", "?": "BOOL"}


@dataclasses.dataclass(frozen=True)
class Global:
    module: str
    name: str


@dataclasses.dataclass(frozen=True)
class Reduce:
    callable: object
    args: tuple


@dataclasses.dataclass(frozen=True)
class Build:
    """The BUILD opcode: sets ``state`` (a dict of attributes) on ``target``."""

    target: object
    state: dict


@dataclasses.dataclass(frozen=True)
class PersistentId:
    value: tuple


class OrderedDictOf:
    """An ``OrderedDict`` as torch pickles it: the class called with no arguments, then its items set."""

    def __init__(self, items):
        self.items = list(items)


def _encode(value, out):
    if isinstance(value, Global):
        out += b"c" + value.module.encode() + b"\n" + value.name.encode() + b"\n"
    elif isinstance(value, Reduce):
        _encode(value.callable, out)
        _encode(tuple(value.args), out)
        out += pickle.REDUCE
    elif isinstance(value, Build):
        _encode(value.target, out)
        _encode(value.state, out)
        out += pickle.BUILD
    elif isinstance(value, PersistentId):
        _encode(value.value, out)
        out += pickle.BINPERSID
    elif isinstance(value, OrderedDictOf):
        _encode(Reduce(Global("collections", "OrderedDict"), ()), out)
        out += pickle.MARK
        for key, item in value.items:
            _encode(key, out)
            _encode(item, out)
        out += pickle.SETITEMS
    elif value is None:
        out += pickle.NONE
    elif value is True or value is False:
        out += pickle.NEWTRUE if value else pickle.NEWFALSE
    elif isinstance(value, int):
        raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True) if value else b""
        out += pickle.LONG1 + bytes([len(raw)]) + raw
    elif isinstance(value, str):
        raw = value.encode()
        out += pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw
    elif isinstance(value, float):
        out += pickle.BINFLOAT + struct.pack(">d", value)
    elif isinstance(value, (tuple, list)):
        out += pickle.MARK
        for item in value:
            _encode(item, out)
        out += pickle.TUPLE if isinstance(value, tuple) else pickle.LIST
    elif isinstance(value, dict):
        out += pickle.EMPTY_DICT + pickle.MARK
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
        out += pickle.SETITEMS
    else:
        raise TypeError(f"cannot encode {value!r}")


def pickle_bytes(value):
    """Protocol-2 pickle bytes of ``value`` (ints, strs, tuples, lists, dicts and the nodes above)."""
    out = bytearray(pickle.PROTO + b"\x02")
    _encode(value, out)
    out += pickle.STOP
    return bytes(out)


@dataclasses.dataclass
class Tensor:
    """One entry of a state dict: a strided view of a storage, fields as they will be written (any value)."""

    storage: object
    offset: object
    size: object
    stride: object
    storage_type: object = None  # default: the storage's own type


@dataclasses.dataclass
class Storage:
    dtype: str  # numpy dtype string, a key of STORAGE_TYPES
    data: bytes
    numel: object = None  # the element count written; default: len(data) / itemsize


def contiguous(storage_key, shape, offset=0):
    strides = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
    return Tensor(storage_key, offset, tuple(shape), strides)


def _state_pickle(tensors, storages, legacy):
    items = []
    for name, tensor in tensors.items():
        storage = storages.get(tensor.storage)
        type_name = tensor.storage_type or (STORAGE_TYPES[storage.dtype] if storage else "FloatStorage")
        numel = storage.numel if storage and storage.numel is not None else (
            len(storage.data) // np.dtype(storage.dtype).itemsize if storage else 0)
        pid = ("storage", Global("torch", type_name), tensor.storage, "cpu", numel) + ((None,) if legacy else ())
        args = (PersistentId(pid), tensor.offset, tensor.size, tensor.stride, False, OrderedDictOf([]))
        items.append((name, Reduce(Global("torch._utils", "_rebuild_tensor_v2"), args)))
    return pickle_bytes(OrderedDictOf(items))


def zip_pth(tensors, storages, prefix="archive"):
    """Bytes of a zip-layout ``.pth``: ``<prefix>/data.pkl``, one ``<prefix>/data/<key>`` per storage."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", _state_pickle(tensors, storages, legacy=False))
        for key, storage in storages.items():
            archive.writestr(f"{prefix}/data/{key}", storage.data)
        archive.writestr(f"{prefix}/version", "3\n")
    return buffer.getvalue()


def legacy_pth(tensors, storages):
    """Bytes of a legacy ``.pth`` and the offsets where each of its sections starts (for truncation)."""
    out, boundaries = bytearray(), []
    for part in (pickle_bytes(LEGACY_MAGIC), pickle_bytes(LEGACY_PROTOCOL), pickle_bytes({"protocol_version": LEGACY_PROTOCOL}),
                 _state_pickle(tensors, storages, legacy=True), pickle_bytes(list(storages))):
        boundaries.append(len(out))
        out += part
    for storage in storages.values():
        boundaries.append(len(out))
        numel = len(storage.data) // np.dtype(storage.dtype).itemsize
        if type(storage.numel) is int and -(2**63) <= storage.numel < 2**63:  # else only the pickle carries it
            numel = storage.numel
        out += struct.pack("<q", numel) + storage.data
    return bytes(out), boundaries


def safetensors(header, data):
    """Bytes of a ``.safetensors`` file from a header (any JSON-able object) and the data bytes."""
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + bytes(data)


def safetensors_of(arrays):
    """(header, data) of a valid ``.safetensors`` file holding ``arrays`` (name -> little-endian ndarray), end to end."""
    header, chunks, offset = {}, [], 0
    for name, array in arrays.items():
        array = np.asarray(array)
        code = next(code for dtype, code in SAFETENSORS_DTYPES.items() if np.dtype(dtype) == array.dtype)
        raw = array.tobytes()
        header[name] = {"dtype": code,
                        "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return header, b"".join(chunks)
