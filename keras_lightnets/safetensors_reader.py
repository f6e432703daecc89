"""Reading a ``.safetensors`` state dict (timm's and Hugging Face's format) without the safetensors package.

The format is data only: an 8-byte little-endian header length, a JSON
header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` (plus an
optional ``__metadata__``), then the raw little-endian bytes. Nothing in it
can name code.
"""

import collections
import json
import os
import struct

import numpy as np

from keras_lightnets.pth import CheckpointError

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
          "BOOL": "?"}
MAX_HEADER = 100 * 1024 * 1024


def load_state_dict(path):
    """The tensors of a ``.safetensors`` file as numpy arrays, in the header's order.

    Args:
        path: A ``.safetensors`` file.

    Returns:
        ``collections.OrderedDict`` name -> ``np.ndarray``.

    Raises:
        CheckpointError (a ValueError): missing, truncated or malformed file, or a dtype numpy cannot hold (BF16).
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
        try:
            header = json.loads(file.read(length))
        except ValueError as error:
            raise CheckpointError(f"{path}: corrupt .safetensors header ({error})") from None
        data = file.read()
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt .safetensors header (not an object)")
    arrays = collections.OrderedDict()
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(int(d) for d in entry["shape"]), entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: corrupt .safetensors entry for {name!r}") from None
        if dtype not in DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {dtype}, which is not supported (supported: {sorted(DTYPES)})")
        itemsize = np.dtype(DTYPES[dtype]).itemsize
        if not 0 <= begin <= end <= len(data) or end - begin != int(np.prod(shape, dtype=np.int64)) * itemsize:
            raise CheckpointError(f"{path}: tensor {name!r} points outside the file or has the wrong size: truncated or corrupt")
        arrays[name] = np.frombuffer(data, DTYPES[dtype], count=(end - begin) // itemsize, offset=begin).reshape(shape).copy()
    return arrays
