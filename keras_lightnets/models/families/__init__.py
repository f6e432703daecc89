"""One module per family: its stage table, conventions, public builder and registration.

Each module calls :func:`keras_lightnets.registry.register_family` at import
and imports Keras only inside its builders; the registry imports every module
here on first use, so a new family is one new file.
"""
