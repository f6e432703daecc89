"""The error raised when a dataset's files are not on this machine."""

from keras_lightnets.errors import LightnetsError


class DatasetNotFoundError(LightnetsError, FileNotFoundError):
    """A dataset is missing or laid out wrongly; the message says how to prepare it."""
