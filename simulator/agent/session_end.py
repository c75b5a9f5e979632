"""Session end under the legacy policy: POST to the service's session-end URL when the card
that signed is pulled out. Bounded: a few attempts with short timeouts, in the background."""

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


class HttpsSessionEnd:
    """POSTs JSON with a handful of bounded retries on a small thread pool."""

    def __init__(
        self,
        ca_bundle: Path | None = None,
        *,
        attempts: int = ATTEMPTS,
        timeout: float = TIMEOUT,
        backoff: tuple[float, ...] = BACKOFF,
    ) -> None:
        self._client = httpx.Client(verify=tls_context(ca_bundle), timeout=timeout)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="careid-session-end")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.history: deque[SessionEndCall] = deque(maxlen=100)

    def notify(self, url: str, body: Mapping[str, Any]) -> None:
        with self._lock:
            try:
                future = self._pool.submit(self._call, url, dict(body))
            except RuntimeError:  # closed
                log.warning("session end not sent (the agent is stopping): %s", url)
                return
            self._futures.add(future)
            future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _call(self, url: str, body: dict[str, Any]) -> None:
        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.post(url, json=body)
                status, error = response.status_code, None
                if response.is_success or 400 <= status < 500:
                    break
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt < self._attempts:
                time.sleep(self._backoff[min(attempt - 1, len(self._backoff) - 1)])
        call = SessionEndCall(url, status, attempt, error)
        self.history.append(call)
        if status is not None and 200 <= status < 300:
            log.info("session ended: POST %s -> %s", url, status)
        else:
            log.warning("session end failed after %d attempts: %s (%s)", attempt, url, error)

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
