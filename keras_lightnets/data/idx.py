"""Reader for the IDX file format of MNIST and Fashion-MNIST (optionally gzip-compressed)."""

import gzip
import os

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Reads one IDX file into a numpy array.

    Args:
        path: Path of an ``.idx*-ubyte`` file, plain or ``.gz``.

    Returns:
        numpy array with the file's shape and dtype.

    Raises:
        ValueError: if the file is not a well-formed IDX file.
    """
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_DTYPES[data[2]])
    offset = 4 + 4 * rank
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path} is truncated or corrupt: header says {shape} ({expected} bytes), file has {len(data) - offset}.")
    return np.frombuffer(data, dtype, offset=offset).reshape(shape)
