"""Datasets that need no download."""

from keras_lightnets.data.digits import load_digits

__all__ = ["load_digits"]
