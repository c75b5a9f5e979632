"""A configuration file read again whenever it changes, so edits need no restart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedFile(Generic[T]):
    """`current()` is the parsed file, parsed again when its modification time or size moves."""

    def __init__(self, path: Path, parse: Callable[[Path], T]) -> None:
        self.path = Path(path)
        self._parse = parse
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._value = parse(self.path)
        self._stamp = self._current_stamp()

    def _current_stamp(self) -> tuple[int, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> T:
        stamp = self._current_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._value = self._parse(self.path)
                self._stamp = stamp
            return self._value
