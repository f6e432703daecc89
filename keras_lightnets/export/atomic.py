"""Atomic writes: readers see a complete file or directory, or nothing.

A directory is written under a hidden temporary name in the same parent (same
filesystem) and renamed into place; a crash leaves only the hidden
temporary, which TF Serving ignores (it only loads integer-named versions) and
which the next export removes.
"""

import contextlib
import os
import shutil
import tempfile

_TMP_MARK = ".tmp-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(parent):
    """Deletes temporaries in ``parent`` left by exports whose process is gone."""
    if not os.path.isdir(parent):
        return
    for entry in os.listdir(parent):
        if not entry.startswith(".") or _TMP_MARK not in entry:
            continue
        try:
            pid = int(entry.split(_TMP_MARK, 1)[1].split("-", 1)[0])
        except ValueError:
            continue
        if not _pid_alive(pid):
            path = os.path.join(parent, entry)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)


@contextlib.contextmanager
def atomic_directory(final_path):
    """Yields a temporary directory that becomes ``final_path`` on success.

    Args:
        final_path: Directory to create; must not exist yet.

    Raises:
        FileExistsError: if ``final_path`` exists (before or at the rename).
    """
    parent, name = os.path.split(os.path.abspath(final_path))
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(final_path):
        raise FileExistsError(f"{final_path} already exists; refusing to overwrite an export")
    tmp = tempfile.mkdtemp(prefix=f".{name}{_TMP_MARK}{os.getpid()}-", dir=parent)
    try:
        yield tmp
        os.rename(tmp, final_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path, content):
    """Writes ``content`` to ``path`` via a temporary file and ``os.replace``."""
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{name}{_TMP_MARK}{os.getpid()}-", dir=parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
