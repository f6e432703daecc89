"""When to compile training with XLA.

Measured on a 2-core CPU with keras.applications networks (batch 32): XLA made
depthwise networks 10-25x slower (MobileNetV2 training 18.4 -> 2.6 img/s,
EfficientNet-B0 14.0 -> 1.3 img/s). "auto" therefore never compiles on CPU.
"""

import warnings

from keras_lightnets import validation
from keras_lightnets.train.config import XLA_POLICIES

CPU_WARNING = (
    "XLA was asked for (--xla on) but this run has only CPUs: XLA compiles depthwise "
    "convolutions 10-25x slower than TensorFlow's CPU kernels here. Use --xla auto or off."
)


def accelerator_kinds():
    """Kinds of accelerators TensorFlow sees: a subset of {"GPU", "TPU"}."""
    import tensorflow as tf

    return {kind for kind in ("GPU", "TPU") if tf.config.list_logical_devices(kind)}


def resolve_jit_compile(policy, accelerators=None):
    """Decides ``jit_compile`` for ``Model.compile``.

    Args:
        policy: "auto" (XLA only when a GPU or TPU is present), "on" (always; warns
            on CPU) or "off".
        accelerators: Set of accelerator kinds present; None asks TensorFlow.

    Returns:
        bool.
    """
    validation.check_choice("xla", policy, XLA_POLICIES)
    if policy == "off":
        return False
    present = accelerator_kinds() if accelerators is None else set(accelerators)
    if policy == "on":
        if not present:
            warnings.warn(CPU_WARNING, stacklevel=2)
        return True
    return bool(present)
