"""Session end under the legacy policy: POST to the service's session-end URL when the card
that signed is pulled out. Bounded: a few attempts with short timeouts, in the background.

With a `PendingEnds` store the call is on disk before the first attempt and leaves it once
settled: a 2xx, or a 4xx other than 408/429 (the service has no such session any more, or
refuses this call for good: sending the same bytes again cannot help). Anything else (no
answer, 408, 429, 5xx) stays owed and is tried again at the agent's next start (`resume`).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from simulator.agent.pending_ends import PendingEnd, PendingEnds, redact

log = logging.getLogger("careid.agent.session_end")

ATTEMPTS = 3
BACKOFF = (0.5, 1.0)  # seconds before the 2nd and 3rd attempts
TIMEOUT = 5.0


class SessionEndNotifier(Protocol):
    def notify(self, url: str, body: Mapping[str, Any]) -> None:
        """Call `url` with `body` (in the background); never raises."""

    def close(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for the calls under way, then stop."""


@dataclass(frozen=True)
class SessionEndCall:
    url: str
    status: int | None  # the last HTTP status, None when no answer came
    attempts: int
    error: str | None


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The CAs the agent trusts for session-end calls: a bundle file, else the system's."""
    if ca_bundle is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(ca_bundle))


def _definitive_refusal(status: int) -> bool:
    """A 4xx other than 408 (timeout) and 429 (slow down), which are worth trying again."""
    return 400 <= status < 500 and status not in (408, 429)


class HttpsSessionEnd:
    """POSTs JSON with a handful of bounded retries on a small thread pool."""

    def __init__(
        self,
        ca_bundle: Path | None = None,
        *,
        attempts: int = ATTEMPTS,
        timeout: float = TIMEOUT,
        backoff: tuple[float, ...] = BACKOFF,
        pending: PendingEnds | None = None,
    ) -> None:
        self.pending = pending
        self._client = httpx.Client(verify=tls_context(ca_bundle), timeout=timeout)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="careid-session-end")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.history: deque[SessionEndCall] = deque(maxlen=100)

    def notify(self, url: str, body: Mapping[str, Any]) -> None:
        entry = None
        if self.pending is not None:
            # On disk before any attempt, in the caller's thread (the one that noticed the
            # removal): a kill from here on loses nothing.
            try:
                entry = self.pending.record(url, body)
            except (OSError, ValueError) as exc:
                log.error("session end for %s not recorded (%s); sending anyway", redact(url), exc)
        self._submit(url, dict(body), entry)

    def resume(self) -> int:
        """Send (in the background) what a previous run still owed; the number of calls."""
        if self.pending is None:
            return 0
        entries = self.pending.load()
        if entries:
            log.info("delivering %d pending session end(s) from an earlier run", len(entries))
        for entry in entries:
            self._submit(entry.url, entry.body, entry)
        return len(entries)

    def _submit(self, url: str, body: dict[str, Any], entry: PendingEnd | None) -> None:
        with self._lock:
            try:
                future = self._pool.submit(self._call, url, body, entry)
            except RuntimeError:  # closed
                kept = "kept for the next start" if entry else "lost"
                log.warning("session end not sent (the agent is stopping; %s)", kept)
                return
            self._futures.add(future)
            future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _call(self, url: str, body: dict[str, Any], entry: PendingEnd | None = None) -> None:
        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.post(url, json=body)
                status, error = response.status_code, None
                if response.is_success or _definitive_refusal(status):
                    break
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt < self._attempts:
                time.sleep(self._backoff[min(attempt - 1, len(self._backoff) - 1)])
        call = SessionEndCall(url, status, attempt, error)
        self.history.append(call)
        settled = status is not None and (200 <= status < 300 or _definitive_refusal(status))
        if settled and entry is not None and self.pending is not None:
            self.pending.done(entry)
        shown = redact(url)  # the path is the service's secret
        if status is not None and 200 <= status < 300:
            log.info("session ended: POST %s -> %s", shown, status)
        elif settled:
            log.warning("session end refused: POST %s -> %s (not retried)", shown, status)
        else:
            kept = "; kept for the next start" if entry is not None else ""
            log.warning(
                "session end failed after %d attempts: %s (%s)%s", attempt, shown, error, kept
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call under way has finished; False on timeout."""
        with self._lock:
            pending = set(self._futures)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
