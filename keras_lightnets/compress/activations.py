"""Keras 3 activations that tf_keras lacks or defines differently, for the Keras 3 <-> tf_keras bridge.

MobileNetV3 uses Keras 3's ``hard_silu`` (hard-swish) and ``hard_sigmoid``
(``relu6(x + 3) / 6``). tf_keras has no hard-swish, and its ``hard_sigmoid``
is Keras 2's ``clip(0.2 x + 0.5, 0, 1)``: translating the activation by name
would fail or silently change the network. In tf_keras they become the
functions :func:`legacy_functions` registers (Keras 3's formulas, as the
``activation`` of the same layer, so the graph keeps its layers and names),
and back in Keras 3 they are Keras' own activations again.
"""

import functools

from keras_lightnets.compress import backend

PACKAGE = "keras_lightnets"
# Keras 3 activation name -> the registered name of the tf_keras function standing for it.
KERAS3_ONLY = {"hard_silu": "keras3_hard_swish", "hard_swish": "keras3_hard_swish", "hard_sigmoid": "keras3_hard_sigmoid"}
_KERAS3_NAME = {"keras3_hard_swish": "hard_silu", "keras3_hard_sigmoid": "hard_sigmoid"}


def activation_name(layer):
    """The ``__name__`` of a layer's activation function (an Activation layer's or a fused one), or None."""
    return getattr(getattr(layer, "activation", None), "__name__", None)


@functools.lru_cache(maxsize=None)
def legacy_functions():
    """``{registered name: function}``: tf_keras activations computing Keras 3's formulas.

    Built on first use so that importing this module does not import tf_keras.
    """
    import tensorflow as tf

    register = backend.tf_keras().saving.register_keras_serializable

    @register(package=PACKAGE, name="keras3_hard_sigmoid")
    def keras3_hard_sigmoid(x):
        """``relu6(x + 3) / 6``, Keras 3's hard sigmoid."""
        return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    @register(package=PACKAGE, name="keras3_hard_swish")
    def keras3_hard_swish(x):
        """``x * relu6(x + 3) / 6``, Keras 3's hard-swish (TFLite fuses it into one HARD_SWISH op)."""
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    return {"keras3_hard_sigmoid": keras3_hard_sigmoid, "keras3_hard_swish": keras3_hard_swish}


def _registered_name(value):
    """Our registered name in a tf_keras activation config value (string, dict or function), or None."""
    if callable(value):
        value = getattr(value, "__name__", None)
    if isinstance(value, dict):
        value = value.get("config", value.get("registered_name"))
    if isinstance(value, str):
        name = value.split(">")[-1]
        return name if name in _KERAS3_NAME else None
    return None


def translate_activation(value, to_legacy):
    """An ``activation`` config value for the other Keras.

    Args:
        value: The value in the source layer's config (a name, a serialized function or a function).
        to_legacy: True for Keras 3 -> tf_keras, False for the way back.

    Returns:
        The value to build the target layer with (unchanged for every other activation).
    """
    if to_legacy:
        name = value if isinstance(value, str) else getattr(value, "__name__", None)
        return legacy_functions()[KERAS3_ONLY[name]] if name in KERAS3_ONLY else value
    registered = _registered_name(value)
    return _KERAS3_NAME[registered] if registered else value


def is_keras3_only(layer):
    """Whether a tf_keras layer's activation is one of :func:`legacy_functions`."""
    return _registered_name(getattr(layer, "activation", None)) is not None
