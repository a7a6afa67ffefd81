"""Durable small-file writes: a temporary file in the same directory, fsynced, renamed into
place, then the directory fsynced (design invariant 6: never lose data)."""

from __future__ import annotations

import os
import tempfile


def fsync_dir(path: str) -> None:
    """Makes a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse directory fsync
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, data: bytes, make_dirs: bool = False) -> None:
    """Replaces ``path`` with ``data`` atomically: readers see the old file or the new one, and
    a crash midway leaves the old file and no partial new one."""
    directory = os.path.dirname(os.path.abspath(path))
    if make_dirs:
        os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; files are 0644 as TF's
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
