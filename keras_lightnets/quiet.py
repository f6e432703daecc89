"""Quiet commands: TensorFlow's, absl's and LiteRT's native logs go to a file, not the terminal.

TensorFlow and LiteRT log from C++ straight to file descriptor 2 (banners,
"failed call to cuInit", converter and accelerator-registry chatter), and
environment variables do not silence all of it (absl writes everything logged
before its initialisation to stderr). :func:`native_logs_to_file` points
descriptor 2 at a log file and keeps Python's ``sys.stderr`` (our progress
lines, warnings, tracebacks) on the terminal. Child processes inherit the
descriptor, so the GPU-accelerator check's LiteRT logs land in the same file.
"""

import contextlib
import datetime
import io
import os
import sys

VERBOSE_ENV = "KERAS_LIGHTNETS_VERBOSE"


def log_dir():
    """Where command logs go: ``$KERAS_LIGHTNETS_LOG_DIR``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, ``keras_lightnets/logs``."""
    explicit = os.environ.get("KERAS_LIGHTNETS_LOG_DIR")
    if explicit:
        return explicit
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "keras_lightnets", "logs")


def _silence_python_loggers():
    """TensorFlow's and absl's Python loggers to errors only (they write through ``sys.stderr``)."""
    import logging

    for name in ("tensorflow", "absl", "h5py", "jax"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def native_logs_to_file(command, verbose=False, keep_until_exit=False):
    """Sends native stderr (file descriptor 2) to a log file while the block runs.

    Args:
        command: Short name used in the log file's name, e.g. ``"export"``.
        verbose: When True nothing is redirected (TensorFlow's own settings apply).
        keep_until_exit: When True descriptor 2 stays on the log file after the block, so
            the libraries' exit-time logs (LiteRT prints its accelerators' teardown) land
            there too; for a process that ends right after the block.

    Yields:
        The log file's path, or None when ``verbose`` (or when descriptor 2 cannot be redirected).
    """
    if verbose or os.environ.get(VERBOSE_ENV) == "1":
        os.environ[VERBOSE_ENV] = "1"
        yield None
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what the environment can silence, it does
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    _silence_python_loggers()
    try:
        terminal_fd = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to keep quiet
        yield None
        return
    directory = log_dir()
    os.makedirs(directory, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(directory, f"lightnets-{command}-{stamp}-{os.getpid()}.log")
    sys.stderr.flush()
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    python_stderr = sys.stderr
    if _writes_to_descriptor_2(python_stderr):  # else (pytest, Jupyter) Python's stderr goes elsewhere already
        sys.stderr = io.TextIOWrapper(
            os.fdopen(os.dup(terminal_fd), "wb", buffering=0), write_through=True,
            encoding=getattr(python_stderr, "encoding", None) or "utf-8", errors="backslashreplace",
        )
    try:
        yield path
    finally:
        sys.stderr.flush()
        if os.path.getsize(path):
            print(f"(TensorFlow and LiteRT logs: {path})", file=sys.stderr)
        else:
            os.remove(path)
        if not keep_until_exit:
            if sys.stderr is not python_stderr:
                sys.stderr.close()
                sys.stderr = python_stderr
            os.dup2(terminal_fd, 2)
        os.close(terminal_fd)


def _writes_to_descriptor_2(stream):
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
