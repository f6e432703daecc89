"""PyTorch tensor layouts -> Keras weights, for the converters of PyTorch checkpoints.

Convolutions (out, in, kh, kw) -> (kh, kw, in, out); depthwise (channels, 1,
kh, kw) -> (kh, kw, channels, 1); batch norm weight/bias/running statistics
-> gamma/beta/moving mean/variance; linear (out, in) -> (in, out), or -> (1, 1, in, out) into a 1x1 convolution.
"""

import numpy as np

BN_FIELDS = ("weight", "bias", "running_mean", "running_var")
# Fields a layer of each kind needs from the checkpoint, in ``layer.get_weights()`` order.
FIELDS = {"conv": ("weight",), "depthwise": ("weight",), "bn": BN_FIELDS, "dense": ("weight", "bias")}


def kind_of(layer):
    """"conv", "depthwise", "bn", "dense" or None for a Keras layer (isinstance, so subclasses count)."""
    import keras

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, keras.layers.Conv2D):
        return "conv"
    if isinstance(layer, keras.layers.BatchNormalization):
        return "bn"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    return None


def to_keras(kind, fields, use_bias=False):
    """Keras arrays of one layer from its PyTorch tensors.

    Args:
        kind: "conv", "depthwise", "bn" or "dense".
        fields: field name ("weight", "bias", "running_mean"...) -> array.
        use_bias: Whether a convolution has a bias (then ``fields["bias"]`` follows the kernel).

    Returns:
        (list of float32 arrays in ``layer.get_weights()`` order, the first missing field or None).
    """
    needed = FIELDS[kind] + (("bias",) if use_bias and kind in ("conv", "depthwise") else ())
    missing = next((field for field in needed if field not in fields), None)
    if missing:
        return [], missing
    if kind == "bn":
        arrays = [fields[field] for field in BN_FIELDS]
    elif kind == "dense":
        arrays = [np.transpose(fields["weight"]), fields["bias"]]
    else:
        weight = np.asarray(fields["weight"])
        if kind == "conv" and weight.ndim == 2:  # a linear layer held as a 1x1 convolution
            weight = weight[:, :, None, None]
        axes = (2, 3, 0, 1) if kind == "depthwise" else (2, 3, 1, 0)
        arrays = [np.transpose(weight, axes)] + ([fields["bias"]] if use_bias else [])
    return [np.asarray(array, np.float32) for array in arrays], None

