"""Checks of the numbers a checkpoint file gives about its tensors, before any of them is used.

A ``.pth`` or ``.safetensors`` file written by a stranger can say anything:
a negative offset, a stride that walks off the front of the buffer, a shape
whose product overflows 64 bits, ``True`` or ``"23"`` where an integer
belongs. The readers (:mod:`keras_lightnets.pth`,
:mod:`keras_lightnets.safetensors_reader`) pass every such field through
these functions, which compute with Python's unbounded integers and raise
:class:`CheckpointError` naming the file and the tensor; only then are
arrays made from the bytes.
"""

from keras_lightnets.errors import LightnetsError

# numpy arrays have at most 64 dimensions (32 before numpy 2); no network weight has more than a few.
MAX_DIMS = 32
# An upper bound on the product of a shape's non-zero dimensions (also for empty tensors, whose other
# dimensions numpy still multiplies): far above any real tensor, far below numpy's 2**63 limit.
MAX_ELEMENTS = 2**48


class CheckpointError(LightnetsError):
    """A checkpoint file (``.pth``, ``.safetensors``) that cannot be read safely or completely."""


def integer(value, where, field):
    """``value`` if it is a plain non-negative integer (not a bool, float or string).

    Args:
        value: What the file gave.
        where: The file and tensor, for the message (``"model.pth: tensor 'w'"``).
        field: The field's name (``"storage offset"``).

    Returns:
        int.

    Raises:
        CheckpointError: any other value.
    """
    if type(value) is not int or value < 0:
        raise CheckpointError(f"{where}: {field} {value!r} is not a non-negative integer; the file is corrupt or crafted")
    return value


def integers(value, where, field):
    """A list or tuple of at most :data:`MAX_DIMS` non-negative integers, as a tuple.

    Raises:
        CheckpointError: not a list/tuple (a string such as ``"23"`` included), too long, or an item
            that is not a non-negative integer.
    """
    if not isinstance(value, (list, tuple)):
        raise CheckpointError(f"{where}: {field} {value!r} is not a list of integers; the file is corrupt or crafted")
    if len(value) > MAX_DIMS:
        raise CheckpointError(f"{where}: {field} has {len(value)} dimensions (at most {MAX_DIMS} are read)")
    return tuple(integer(item, where, f"{field}[{index}]") for index, item in enumerate(value))


def shape(value, where, field="shape"):
    """A shape as a tuple of non-negative ints (see :func:`integers`) whose size numpy can hold.

    Raises:
        CheckpointError: as :func:`integers`, or a product of the non-zero dimensions above :data:`MAX_ELEMENTS`.
    """
    dims = integers(value, where, field)
    bound = 1
    for dim in dims:
        bound *= max(dim, 1)
    if bound > MAX_ELEMENTS:
        raise CheckpointError(f"{where}: {field} {list(dims)} has more than {MAX_ELEMENTS} elements; the file is corrupt or crafted")
    return dims


def element_count(dims):
    """The number of elements of a checked shape (Python int, no overflow)."""
    count = 1
    for dim in dims:
        count *= dim
    return count


def strided_view(size, stride, offset, storage_numel, where):
    """Checks a strided view (PyTorch's size, stride, storage offset) against its storage's element count.

    Every element the view reads, ``offset + sum(index[i] * stride[i])``, must
    lie in ``[0, storage_numel)``. Strides are non-negative (PyTorch has no
    negative strides); a zero stride repeats one element, accepted only where
    the dimension is 1 or the tensor is empty (nothing is read).

    Args:
        size: The view's shape, as the file gave it.
        stride: Its strides in elements, as the file gave them.
        offset: Its storage offset in elements, as the file gave it.
        storage_numel: Elements in the storage (already checked against the bytes present).
        where: The file and tensor, for messages.

    Returns:
        (shape tuple, strides tuple in elements with 0 for dimensions of size 1, offset): safe to pass to
        ``numpy.lib.stride_tricks.as_strided`` on the storage's array from ``offset`` on.

    Raises:
        CheckpointError: a field that is not a non-negative integer, sizes and strides of different
            lengths, a zero stride on a repeated dimension, or a view reaching past its storage.
    """
    dims = shape(size, where, "size")
    steps = integers(stride, where, "stride")
    if len(steps) != len(dims):
        raise CheckpointError(f"{where}: size {list(dims)} and stride {list(steps)} have different lengths")
    offset = integer(offset, where, "storage offset")
    if element_count(dims) == 0:
        return dims, (0,) * len(dims), 0
    for index, (dim, step) in enumerate(zip(dims, steps)):
        if step == 0 and dim > 1:
            raise CheckpointError(f"{where}: stride[{index}] is 0 on a dimension of {dim}; a saved tensor repeats no element")
    last = offset + sum((dim - 1) * step for dim, step in zip(dims, steps))
    if last >= storage_numel:
        raise CheckpointError(
            f"{where}: reaches element {last} of a storage of {storage_numel} (size {list(dims)}, stride {list(steps)}, "
            f"offset {offset}); the file is corrupt or crafted")
    return dims, tuple(0 if dim == 1 else step for dim, step in zip(dims, steps)), offset
