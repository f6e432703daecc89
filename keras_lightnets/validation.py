"""Argument checks shared by every builder.

Each check raises :class:`~keras_lightnets.errors.LightnetsError` (a ``ValueError``) naming the argument, the value received and
what is allowed, before any TensorFlow graph is built.
"""

import numbers
import os

from keras_lightnets.errors import LightnetsError


def fail(argument, value, allowed):
    """Raises a ValueError in the library's one error format.

    Args:
        argument: Name of the offending argument, e.g. ``"alpha"``.
        value: The value that was received.
        allowed: Human-readable description of the allowed values.

    Raises:
        LightnetsError: always (a ValueError).
    """
    raise LightnetsError(f"Invalid `{argument}`: received {argument}={value!r}; allowed: {allowed}.")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(argument, value, *, minimum=None, maximum=None, exclusive_minimum=False, integer=False):
    """Checks that ``value`` is a number inside a range.

    Args:
        argument: Argument name used in the error message.
        value: Value to check.
        minimum: Lower bound or None for unbounded.
        maximum: Upper bound (inclusive) or None for unbounded.
        exclusive_minimum: If True the lower bound itself is rejected.
        integer: If True the value must be an integer (bools are rejected).

    Returns:
        The value, unchanged.
    """
    kind = "an integer" if integer else "a number"
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    allowed = kind + (" " + " and ".join(bounds) if bounds else "")
    ok_type = isinstance(value, numbers.Integral) and not isinstance(value, bool) if integer else _is_real(value)
    if not ok_type:
        fail(argument, value, allowed)
    if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
        fail(argument, value, allowed)
    if maximum is not None and value > maximum:
        fail(argument, value, allowed)
    return value


def check_choice(argument, value, choices):
    """Checks that ``value`` is one of ``choices``.

    Args:
        argument: Argument name used in the error message.
        value: Value to check.
        choices: Iterable of allowed values.

    Returns:
        The value, unchanged.
    """
    choices = list(choices)
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        fail(argument, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def lookup(argument, value, table):
    """``table[value]`` for a string-keyed choice; a value not in ``table`` is refused with the allowed keys.

    Args:
        argument: Argument name used in the error message.
        value: The key.
        table: Mapping of the allowed keys.

    Returns:
        ``table[value]``.
    """
    check_choice(argument, value, table)
    return table[value]


def check_head(include_top, pooling, classes):
    """Validates the arguments that shape a model's head.

    Args:
        include_top: Whether a classifier is attached (bool).
        pooling: None, "avg" or "max"; used when ``include_top`` is False.
        classes: Number of classes (int >= 1) when ``include_top`` is True.
    """
    check_choice("include_top", include_top, [True, False])
    check_choice("pooling", pooling, [None, "avg", "max"])
    if include_top:
        check_number("classes", classes, minimum=1, integer=True)


def check_rate(argument, value):
    """Checks a dropout-like rate in [0, 1)."""
    return check_number(argument, value, minimum=0.0, maximum=0.999999)


def check_weights(weights):
    """Checks the ``weights`` argument of a builder.

    Args:
        weights: None, "imagenet", or a path to an existing ``.keras``,
            ``.weights.h5`` or ``.h5`` file.

    Returns:
        The value, unchanged.
    """
    allowed = 'None, "imagenet", or the path of an existing .keras / .weights.h5 / .h5 file'
    if weights is None or weights == "imagenet":
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        fail("weights", weights, allowed)
    path = os.fspath(weights)
    if not path.endswith((".keras", ".h5")) or not os.path.isfile(path):
        fail("weights", weights, allowed)
    return weights
