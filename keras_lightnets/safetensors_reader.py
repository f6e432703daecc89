"""Reading a ``.safetensors`` state dict (timm's and Hugging Face's format) without the safetensors package.

The format is data only: an 8-byte little-endian header length, a JSON
header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` (plus an
optional ``__metadata__``), then the raw little-endian bytes. Nothing in it
can name code, but every number in the header is checked
(:mod:`keras_lightnets.checkpoint_fields`) before a byte of tensor data is
read: integer shapes and offsets, each tensor's byte count equal to its
shape's, and the tensors laid end to end over exactly the bytes the file
holds after its header, as the format requires.
"""

import collections
import json
import os
import struct

import numpy as np

from keras_lightnets import checkpoint_fields
from keras_lightnets.checkpoint_fields import CheckpointError

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
          "BOOL": "?"}
MAX_HEADER = 100 * 1024 * 1024


def _unique_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a name appears twice ({sorted(k for k in set(keys) if keys.count(k) > 1)[:3]})")
    return dict(pairs)


def _parse_header(blob, path):
    try:
        header = json.loads(blob, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as error:  # bad UTF-8 or JSON, duplicate names, nesting too deep
        raise CheckpointError(f"{path}: corrupt .safetensors header ({type(error).__name__}: {error})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt .safetensors header (a JSON {type(header).__name__}, not an object)")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: corrupt .safetensors header (__metadata__ is not an object)")
    return header


def _entry(name, entry, path):
    """(numpy dtype, shape, begin, end) of one header entry, every field checked."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{where}: its header entry is not {{dtype, shape, data_offsets}}: {entry!r:.200}")
    dtype = entry["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise CheckpointError(f"{where}: dtype {dtype!r:.40} is not supported (supported: {sorted(DTYPES)})")
    shape = checkpoint_fields.shape(entry["shape"], where)
    offsets = checkpoint_fields.integers(entry["data_offsets"], where, "data_offsets")
    if len(offsets) != 2 or offsets[0] > offsets[1]:
        raise CheckpointError(f"{where}: data_offsets {list(offsets)} is not [begin, end] with begin <= end")
    dtype = np.dtype(DTYPES[dtype])
    needed = checkpoint_fields.element_count(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != needed:
        raise CheckpointError(f"{where}: data_offsets {list(offsets)} span {offsets[1] - offsets[0]} bytes, "
                              f"its shape {list(shape)} of {entry['dtype']} needs {needed}: truncated or corrupt")
    return dtype, shape, offsets[0], offsets[1]


def load_state_dict(path):
    """The tensors of a ``.safetensors`` file as numpy arrays, in the header's order.

    Args:
        path: A ``.safetensors`` file.

    Returns:
        ``collections.OrderedDict`` name -> ``np.ndarray``.

    Raises:
        CheckpointError (a ValueError): missing, truncated or malformed file (the
            message names the file and the tensor at fault), or a dtype numpy cannot hold (BF16).
            Nothing is read past the header unless every entry is valid.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        prefix = file.read(8)
        if len(prefix) != 8:
            raise CheckpointError(f"{path}: truncated .safetensors file (no header length)")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER, size - 8):
            raise CheckpointError(f"{path}: corrupt or truncated .safetensors file (header of {length} bytes)")
        header = _parse_header(file.read(length), path)
        entries = {name: _entry(name, entry, path) for name, entry in header.items()}
        available, reached = size - 8 - length, 0
        for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
            if begin != reached:
                raise CheckpointError(f"{path}: tensor {name!r} starts at byte {begin}, the tensors before it end at "
                                      f"{reached} (overlapping or gapped data): corrupt")
            reached = end
        if reached != available:
            raise CheckpointError(f"{path}: the header declares {reached} bytes of tensors, the file holds {available}: "
                                  "truncated or corrupt")
        arrays = collections.OrderedDict()
        for name, (dtype, shape, begin, end) in entries.items():
            file.seek(8 + length + begin)
            arrays[name] = np.frombuffer(bytearray(file.read(end - begin)), dtype).reshape(shape)
    return arrays
