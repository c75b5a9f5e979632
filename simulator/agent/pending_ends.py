"""Durable pending session ends (legacy policy).

A session end the agent owes a service is written to disk *before* the first attempt to
deliver it and removed once it is settled, so that an agent restarted or killed in between
still ends the web session at its next start. One small JSON file per call in
`<agent data dir>/pending-session-ends/`, each replaced atomically (`simulator.atomic`):
a reader sees a whole file or none. The session-end URL is the service's secret, so the
directory is 0700, the files 0600, and the URL is never logged (`redact`).

A file that cannot be read (torn by a crash outside the atomic write, edited, garbage) is
renamed `<name>.corrupt` and reported; it never stops the agent from starting.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.atomic import atomic_write_bytes, fsync_directory, remove_leftovers_in
from simulator.secret import Secret

log = logging.getLogger("careid.agent.session_end")

PENDING_DIR = "pending-session-ends"
MAX_AGE = 24 * 3600.0  # older than this, a session end is given up (the session has expired)
# The documented body (docs/signin-protocol.md); nothing else, so never a PIN, is written.
BODY_KEYS = frozenset({"reason", "uuid", "request_id"})
_VERSION = 1


def redact(url: str) -> str:
    """The URL without its path (the service's secret), for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


@dataclass(frozen=True)
class PendingEnd:
    id: str
    url: str = field(repr=False)
    body: dict[str, Any]
    created: float  # seconds since the epoch: it must mean the same after a restart


def _check_body(body: Mapping[str, Any]) -> dict[str, Any]:
    extra = sorted(set(body) - BODY_KEYS)
    if extra:
        raise ValueError(f"a session-end body holds only {sorted(BODY_KEYS)}; not {extra}")
    for key, value in body.items():
        if isinstance(value, Secret) or not (value is None or isinstance(value, str)):
            raise ValueError(f"session-end body field {key!r} must be a plain string or null")
    return dict(body)


class PendingEnds:
    def __init__(self, directory: Path, *, max_age: float = MAX_AGE) -> None:
        self.directory = Path(directory)
        self.max_age = max_age

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # mkdir's mode is filtered by the umask

    def record(self, url: str, body: Mapping[str, Any]) -> PendingEnd:
        """Write the call to disk (durably) and return it. Raises ValueError for a body
        outside the documented fields and OSError when the disk refuses."""
        entry = PendingEnd(
            f"{time.time_ns()}-{secrets.token_hex(4)}", url, _check_body(body), time.time()
        )
        self._ensure_directory()
        data = {"version": _VERSION, "url": url, "body": entry.body, "created": entry.created}
        atomic_write_bytes(self._path(entry.id), json.dumps(data).encode(), mode=0o600)
        return entry

    def done(self, entry: PendingEnd) -> None:
        """The call is settled: it is no longer owed."""
        try:
            self._path(entry.id).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:  # it will be sent once more at the next start: harmless
            log.error("settled session end %s not removed: %s", entry.id, exc)
            return
        fsync_directory(self.directory)

    def load(self) -> list[PendingEnd]:
        """Every call still owed, oldest first. Unreadable files are set aside as
        `.corrupt`, too old ones removed; both are logged, neither raises."""
        if not self.directory.is_dir():
            return []
        remove_leftovers_in(self.directory)  # a writer killed mid-write
        entries = []
        now = time.time()
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = self._read(path)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self._quarantine(path, exc)
                continue
            if now - entry.created > self.max_age:
                log.warning(
                    "gave up a pending session end for %s: %.0f hours old",
                    redact(entry.url),
                    (now - entry.created) / 3600,
                )
                self.done(entry)
                continue
            entries.append(entry)
        return sorted(entries, key=lambda e: e.created)

    def _path(self, entry_id: str) -> Path:
        return self.directory / f"{entry_id}.json"

    def _read(self, path: Path) -> PendingEnd:
        data = json.loads(path.read_bytes())  # UnicodeDecodeError is a ValueError
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise ValueError("not a pending session end")
        url, body, created = data["url"], data["body"], data["created"]
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ValueError("no https url")
        if not isinstance(body, dict) or not isinstance(created, int | float):
            raise ValueError("no body or creation time")
        return PendingEnd(path.stem, url, _check_body(body), float(created))

    def _quarantine(self, path: Path, error: Exception) -> None:
        target = path.with_name(path.name + ".corrupt")
        try:
            path.replace(target)
        except OSError as exc:
            log.error(
                "pending session end %s unreadable (%s) and not movable: %s", path, error, exc
            )
            return
        log.error(
            "pending session end %s unreadable (%s: %s): moved to %s, not sent",
            path.name,
            type(error).__name__,
            error,
            target.name,
        )
