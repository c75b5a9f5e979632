"""Crash-safe file replacement for everything the harness keeps in its data directory.

A reader (another process, or the next run after a crash) sees either the old file or the
new one, never a torn mix: the data goes to a temporary file in the same directory, is
flushed to disk, and is then renamed over the target, and the rename itself is made durable
by syncing the directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically; the file ends with permission bits `mode`.

    The mode is set on the temporary file before any data is written, so a secret is never
    readable by others even for a moment (the umask is deliberately not applied).
    """
    path = Path(path)
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp_path.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    fsync_directory(directory)


def remove_leftovers(path: Path) -> int:
    """Delete the temporary files a killed writer of `path` left beside it; `path` itself
    and every other file stay. Call it only where nothing else is writing `path`."""
    path = Path(path)
    return _remove_temporaries(path.parent, glob.escape(path.name))


def remove_leftovers_in(directory: Path) -> int:
    """The same for every file of `directory` (whose only writer is the caller)."""
    return _remove_temporaries(Path(directory), "*")


def _remove_temporaries(directory: Path, name: str) -> int:
    removed = 0
    for leftover in directory.glob(f".{name}.*.tmp"):  # atomic_write_bytes's names
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed += 1
    return removed


def fsync_directory(directory: Path) -> None:
    """Make a rename or creation inside `directory` durable (a no-op where unsupported)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        dir_fd = os.open(directory, flags)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(dir_fd)
