"""The suite's back-channel logout receiver: a relying party's `backchannel_logout_uri`.

It listens on loopback (http, or https with the test PKI's server certificate), answers
every POST with 200 and keeps the `logout_token` form fields it was sent, by path.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


class LogoutReceiver:
    def __init__(self, base_url: str, certificate: tuple[Path, Path] | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
            raise ValueError(f"the back-channel receiver listens on loopback: {base_url}")
        if (parts.scheme == "https") != (certificate is not None):
            raise ValueError("an https receiver needs a certificate (and http none)")
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.received: list[tuple[str, str]] = []  # (path, logout_token)
        self._lock = threading.Lock()

        async def receive(request: Request) -> PlainTextResponse:
            form = dict(parse_qsl((await request.body()).decode(errors="replace")))
            with self._lock:
                self.received.append((request.url.path, form.get("logout_token", "")))
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=parts.port,
            ssl_certfile=str(certificate[0]) if certificate else None,
            ssl_keyfile=str(certificate[1]) if certificate else None,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="bcl-receiver", daemon=True)

    def start(self, timeout: float = 20.0) -> LogoutReceiver:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the back-channel receiver did not start at {self.base_url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def tokens(self, path: str) -> list[str]:
        with self._lock:
            return [token for where, token in self.received if where == path]

    def wait(self, path: str, count: int = 1, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tokens = self.tokens(path)
            if len(tokens) >= count:
                return tokens
            time.sleep(0.05)
        return self.tokens(path)
