"""The agent suite's side of the protocol: a sign-in page's requests, and a user at the
PIN dialog, as plain HTTP (httpx). Works against any agent that follows
docs/signin-protocol.md."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = 10.0
_CSRF = re.compile(r"<input[^>]*\bname=[\"']csrf[\"'][^>]*>", re.IGNORECASE)
_VALUE = re.compile(r"\bvalue=[\"']([^\"']*)[\"']", re.IGNORECASE)
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)


@dataclass
class Answer:
    status: int
    body: Any
    headers: httpx.Headers

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


def _answer(response: httpx.Response) -> Answer:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body, response.headers)


def page_text(markup: str) -> str:
    """The visible text of a page, whitespace folded (for 'tries left' and the like)."""
    return " ".join(html.unescape(_TAGS.sub(" ", markup)).split())


class AgentClient:
    """Requests as the sign-in page at `origin` makes them."""

    def __init__(self, url: str, origin: str | None) -> None:
        self.url = url.rstrip("/")
        self.origin = origin
        self.http = httpx.Client(base_url=self.url, timeout=TIMEOUT, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _headers(self, origin: str | None = None) -> dict[str, str]:
        chosen = self.origin if origin is None else origin
        return {"Origin": chosen} if chosen else {}

    def status(self, *, origin: str | None = None) -> Answer:
        return _answer(self.http.get("/v1/status", headers=self._headers(origin)))

    def sign(self, challenge: str, *, origin: str | None = None, **fields: Any) -> Answer:
        body = {"challenge": challenge, **{k: v for k, v in fields.items() if v is not None}}
        return _answer(self.http.post("/v1/sign", json=body, headers=self._headers(origin)))

    def sign_json(self, body: Any) -> Answer:
        return _answer(self.http.post("/v1/sign", json=body, headers=self._headers()))

    def sign_raw(self, content: bytes, content_type: str = "application/json") -> Answer:
        headers = {**self._headers(), "Content-Type": content_type}
        return _answer(self.http.post("/v1/sign", content=content, headers=headers))

    def request(self, request_id: str, *, wait: float | None = None) -> Answer:
        params = {} if wait is None else {"wait": str(wait)}
        response = self.http.get(
            f"/v1/requests/{request_id}",
            params=params,
            headers=self._headers(),
            timeout=TIMEOUT + (wait or 0),
        )
        return _answer(response)

    def wait_state(
        self, request_id: str, states: set[str], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Long-poll until the request is in one of `states` (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            answer = self.request(request_id, wait=max(0.0, min(left, 5.0)))
            body: dict[str, Any] = answer.body
            if body.get("state") in states or left <= 0:
                return body
            time.sleep(0.05)

    def preflight(self, path: str, origin: str, *, private_network: bool = False) -> Answer:
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        if private_network:
            headers["Access-Control-Request-Private-Network"] = "true"
        return _answer(self.http.options(path, headers=headers))

    def wait_for_card(self, reader: str, present: bool, timeout: float = 10.0) -> dict[str, Any]:
        """Poll the status until the agent shows (or no longer shows) a card in `reader`."""
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = self.status().body
            readers = {r["name"]: r for r in status.get("readers", [])}
            entry = readers.get(reader)
            has = entry is not None and entry.get("card") is not None
            if has == present:
                return status
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the agent did not show the card {'in' if present else 'out of'} "
                    f"{reader!r} within {timeout:g} s: {json.dumps(status)}"
                )
            time.sleep(0.05)

    @contextmanager
    def events(self, *, origin: str | None = None) -> Iterator[EventStream]:
        with self.http.stream(
            "GET", "/v1/events", headers=self._headers(origin), timeout=httpx.Timeout(10.0)
        ) as response:
            yield EventStream(response)


class EventStream:
    """Server-sent events read one at a time (bounded by the client's read timeout)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self) -> tuple[str, Any]:
        event, data = "message", list[str]()
        for line in self._lines:
            if line == "":
                if data:
                    return event, json.loads("\n".join(data))
                event = "message"
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        raise EOFError("the event stream ended")


class Dialog:
    """A user at the PIN dialog page: reads it, types a PIN, presses OK or Cancel."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = httpx.URL(url)
        self.origin = f"{parts.scheme}://{parts.host}:{parts.port}"
        self.http = httpx.Client(timeout=TIMEOUT, follow_redirects=True)
        self.markup = ""

    def close(self) -> None:
        self.http.close()

    def open(self) -> str:
        response = self.http.get(self.url)
        self.markup = response.text
        return self.markup

    @property
    def text(self) -> str:
        return page_text(self.markup)

    def csrf(self) -> str:
        field = _CSRF.search(self.markup)
        value = _VALUE.search(field.group(0)) if field else None
        if value is None:
            raise AssertionError("the dialog page has no csrf field")
        return html.unescape(value.group(1))

    def _post(self, path: str, form: dict[str, str], origin: str | None = None) -> httpx.Response:
        headers = {"Origin": self.origin if origin is None else origin}
        response = self.http.post(path, data=form, headers=headers)
        if response.status_code < 400:
            self.markup = response.text
        return response

    def enter_pin(self, pin: str, *, csrf: str | None = None, origin: str | None = None) -> int:
        """Type the PIN and press OK; the HTTP status (the page then shows the outcome)."""
        token = self.csrf() if csrf is None else csrf
        return self._post(self.url, {"pin": pin, "csrf": token}, origin).status_code

    def cancel(self) -> int:
        return self._post(self.url + "/cancel", {"csrf": self.csrf()}).status_code
