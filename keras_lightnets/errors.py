"""The library's one error class for what a caller can fix.

Every invalid argument, and every dataset, weights file, strategy or optional
dependency that is not on this machine, raises :class:`LightnetsError` (or a
subclass) with a message that names the argument, the value received and what
is allowed, or how to get what is missing. It is a ``ValueError``, so existing
``except ValueError`` code keeps working. The ``lightnets`` command reports
these in one paragraph with exit code 2; any other exception is a bug and keeps
its traceback.
"""

import difflib


class LightnetsError(ValueError):
    """An invalid argument, or a dataset / weights file / extra that is missing; the message says what to do."""


def closest(value, choices, count=3):
    """The registered names closest to ``value``, for "did you mean" hints.

    Args:
        value: What the caller typed (anything; non-strings give no hint).
        choices: Iterable of allowed strings.
        count: Most names returned, >= 1.

    Returns:
        List of at most ``count`` names from ``choices``, closest first (empty when none is close).
    """
    if not isinstance(value, str):
        return []
    choices = list(choices)
    close = difflib.get_close_matches(value, choices, n=count, cutoff=0.6)
    if not close:  # a prefix typed short of a full name: "mobilenet_v2_0.35" -> its resolutions
        close = [name for name in choices if name.startswith(value)][:count]
    return close


class MissingExtraError(LightnetsError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install`` command."""
