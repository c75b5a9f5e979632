"""Claiming a vpcd slot across processes, so two harness runs on one machine share the slots."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path


def try_lock_slot(port: int) -> int | None:
    """A file descriptor holding the claim on the slot of `port` (until closed), or None
    when another process holds it."""
    path = Path(tempfile.gettempdir()) / f"careid-vpcd-slot-{port}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
