"""The blocks of a built network: which layers each row of its stage table produced.

Fine-tuning unfreezes "the last N blocks", so a block must mean the same in
every family. The builder records the output tensor of every block it adds
(:attr:`~keras_lightnets.layers.context.BuildContext.block_outputs`);
:func:`record` stores the names of the layers that produce them on the
model, and :func:`trailing_layers` returns the layers from the start of the
N-th block from the end onwards. In a functional model's (topological)
layer order, every layer of a block lies after the previous block's output
and no later than its own, so the last N blocks and the head after them are
a suffix of ``model.layers``.
"""

from keras_lightnets import validation

ATTRIBUTE = "lightnets_block_ends"


def record(model, outputs):
    """Stores on ``model`` the names of the layers that produce ``outputs`` (one per block, in order)."""
    producers = {id(layer.output): layer.name for layer in model.layers if not isinstance(layer.output, (list, tuple))}
    setattr(model, ATTRIBUTE, tuple(producers[id(output)] for output in outputs if id(output) in producers))


def block_ends(model):
    """Names of the last layer of each block, in order (empty for a model the builder did not record)."""
    return tuple(getattr(model, ATTRIBUTE, ()))


def trailing_layers(model, count, ends=None):
    """The layers of the last ``count`` blocks of ``model`` and everything after them (the head).

    Args:
        model: A functional model (a backbone built by this library, or a copy of one with the same layer names).
        count: Blocks to take from the end (int, 1 <= count <= number of blocks).
        ends: Block end names to use instead of the model's own record (e.g. those of a fresh build of
            the same network, for a model loaded from a file).

    Returns:
        List of layers, a suffix of ``model.layers``.

    Raises:
        LightnetsError: ``count`` is not an integer in range, or the model has no block record.
    """
    ends = tuple(ends) if ends is not None else block_ends(model)
    if not ends:
        validation.fail("unfreeze", count, f"'all' for {model.name!r} (its blocks were not recorded by a keras_lightnets builder)")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(ends):
        validation.fail("unfreeze", count, f"'all' or a number of blocks from 1 to {len(ends)} ({model.name} has {len(ends)} blocks)")
    names = [layer.name for layer in model.layers]
    start = 0 if count == len(ends) else names.index(ends[-count - 1]) + 1
    return model.layers[start:]
