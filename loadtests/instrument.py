"""Timings of the headless flows, reported through one callback.

`Report(request_type, name, response_time_ms, response_length, exception)` is what Locust's
`events.request.fire` takes (the Locust users pass a thin wrapper of it); the benchmark
passes a collector. Nothing here imports Locust.

* `TimedTransport`: an httpx transport that times each HTTP exchange (the body read
  included) and reports it as `<METHOD> <path>`, with random path segments (login
  transaction ids) folded into `{id}` so one step of the flow is one row of the statistics.
  Exchanges with other origins than the provider's (the portals) are named
  `<label> <path>` (`nhsmail /login`, `myidentity /oidc/callback`): both portals have a
  `/login` and an `/oidc/callback`, and their rows must not merge.
* `timed(report, type, name)`: a context manager for any other step (card operations,
  whole sign-ins).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import urlsplit

import httpx

_RANDOM_SEGMENT = re.compile(r"[A-Za-z0-9_-]{16,}")
_MIXED = re.compile(r"[0-9A-Z]")  # a token has digits or capitals; "openid-configuration" not


class Report(Protocol):
    def __call__(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None,
    ) -> None: ...


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def request_name(url: str, base_path: str = "", labels: dict[str, str] | None = None) -> str:
    """The statistics row of a URL: its path below `base_path`, random segments as {id},
    prefixed by the label of its origin when `labels` names it."""
    path = urlsplit(url).path
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :] or "/"
    name = "/".join(
        "{id}" if _RANDOM_SEGMENT.fullmatch(part) and _MIXED.search(part) else part
        for part in path.split("/")
    )
    label = (labels or {}).get(origin_of(url))
    return f"{label} {name}" if label else name


class TimedTransport(httpx.BaseTransport):
    """Wraps a transport; every exchange is reported (5xx and transport errors as failures;
    4xx are left to the flow, which knows which answers it expects)."""

    def __init__(
        self,
        report: Report,
        *,
        base_path: str = "",
        inner: httpx.BaseTransport | None = None,
        verify: object = True,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.report = report
        self.base_path = base_path.rstrip("/")
        self.labels = labels or {}
        self.inner = inner or httpx.HTTPTransport(verify=verify)  # type: ignore[arg-type]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        name = request_name(str(request.url), self.base_path, self.labels)
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
            body = response.read()
        except Exception as exc:
            self.report(request.method, name, _ms(started), 0, exc)
            raise
        error = None
        if response.status_code >= 500:
            error = httpx.HTTPStatusError(
                f"{response.status_code} from {name}", request=request, response=response
            )
        self.report(request.method, name, _ms(started), len(body), error)
        return response  # already read: the client gets the body from memory

    def close(self) -> None:
        self.inner.close()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


@contextmanager
def timed(report: Report, request_type: str, name: str) -> Iterator[None]:
    """Report the enclosed step; an exception is reported as its failure, then re-raised."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        report(request_type, name, _ms(started), 0, exc)
        raise
    report(request_type, name, _ms(started), 0, None)


def browser(
    report: Report, issuer: str, verify: object, labels: dict[str, str] | None = None
) -> httpx.Client:
    """A browser-like client (own cookies, no automatic redirects) whose exchanges are timed;
    `labels`: origin -> row prefix for the other services it visits."""
    base_path = urlsplit(issuer).path
    return httpx.Client(
        transport=TimedTransport(report, base_path=base_path, verify=verify, labels=labels),
        follow_redirects=False,
        timeout=60.0,
    )
