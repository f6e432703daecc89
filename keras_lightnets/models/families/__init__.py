"""One module per family: its stage table, conventions, one :class:`~keras_lightnets.models.family.Family` and its public builder.

Each module registers its family at import (``Family(...).register()``) and
imports Keras only inside its builders; the registry imports every module
here on first use, so a new family is one new file.
"""
