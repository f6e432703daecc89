"""Lazy attributes for package ``__init__`` modules (PEP 562).

``import keras_lightnets`` must not load TensorFlow, Keras, tfmot or LiteRT:
the ``lightnets`` command answers ``--help`` and ``list`` from static metadata.
A package lists its public names and the module each lives in; the module is
imported on first attribute access.
"""

import importlib


def attach(package_name, attributes, submodules=()):
    """Builds ``__getattr__`` / ``__dir__`` / ``__all__`` for a package.

    Args:
        package_name: The package's ``__name__``.
        attributes: Dict public name -> the module that defines it (absolute, e.g.
            ``"keras_lightnets.models.efficientnet"``), or ``"module:name"`` when the
            module calls it something else.
        submodules: Names of subpackages/modules reachable as attributes (e.g. ``"compress"``).

    Returns:
        ``(__getattr__, __dir__, __all__)`` to assign in the package.
    """
    attributes = dict(attributes)
    submodules = tuple(submodules)
    public = sorted(set(attributes) | set(submodules))

    def __getattr__(name):
        if name in attributes:
            module_name, _, defined_as = attributes[name].partition(":")
            value = getattr(importlib.import_module(module_name), defined_as or name)
        elif name in submodules:
            value = importlib.import_module(f"{package_name}.{name}")
        else:
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}")
        module = importlib.import_module(package_name)
        setattr(module, name, value)  # later lookups skip __getattr__
        return value

    def __dir__():
        return sorted(set(public) | set(vars(importlib.import_module(package_name))))

    return __getattr__, __dir__, [name for name in public if name not in submodules]
