"""Loading a user's ``.keras`` file: Keras' safe mode always on, and its refusals explained.

A ``.keras`` file can carry a ``Lambda`` layer whose Python function is
stored as bytecode; deserializing it runs that code. Keras refuses it unless
``safe_mode=False``; every place the library opens a ``.keras`` it was handed
(the CLI, recipes, fine-tuning, evaluation, compression) goes through
:func:`load_keras_model`, which always asks for safe mode and turns Keras'
refusal into a :class:`~keras_lightnets.errors.LightnetsError` that says
why and how to load such a file deliberately.
"""

import os
import zipfile

from keras_lightnets.errors import LightnetsError


def load_keras_model(path, argument="model"):
    """``keras.saving.load_model(path, safe_mode=True)``, with errors a caller can act on.

    Args:
        path: An existing ``.keras`` file.
        argument: The argument or option that named the file, for messages (``"model"``, ``"backbone"``).

    Returns:
        The Keras model.

    Raises:
        LightnetsError: the file is missing, holds Python code (a ``Lambda`` layer's lambda) that safe mode
            refuses, or is not a readable ``.keras`` model (the message names the file and the reason).
    """
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LightnetsError(f"Invalid `{argument}`: {path} does not exist; allowed: the path of a .keras file.")
    if not zipfile.is_zipfile(path):
        raise LightnetsError(f"Invalid `{argument}`: {path} is not a readable .keras file (a .keras file is a zip "
                             "archive written by model.save).")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error):
            raise LightnetsError(
                f"Invalid `{argument}`: {path} holds a Lambda layer with Python code, and loading it would run that "
                "code, so keras_lightnets opens .keras files in Keras' safe mode and refused it. If you wrote the file "
                f"or trust who did, load it deliberately with `keras.saving.load_model({path!r}, safe_mode=False)` "
                "(or call `keras.config.enable_unsafe_deserialization()` before keras_lightnets loads it), then "
                "pass the model on or re-save it with a registered layer in place of the lambda.") from None
        raise LightnetsError(f"Invalid `{argument}`: {path} could not be read as a Keras model ({error}).") from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise LightnetsError(f"Invalid `{argument}`: {path} is not a readable .keras file "
                             f"({type(error).__name__}: {error}).") from None
