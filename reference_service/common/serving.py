"""Serving a reference service with uvicorn: over HTTPS when its base URL says so."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI


def uvicorn_config(
    app: FastAPI,
    base_url: str,
    tls_certificate: Path | None,
    tls_key: Path | None,
    host: str | None = None,
) -> uvicorn.Config:
    parts = urlsplit(base_url)
    tls = parts.scheme == "https"
    if tls and (tls_certificate is None or tls_key is None):
        raise ValueError("an https base_url needs tls_certificate and tls_key")
    return uvicorn.Config(
        app,
        host=host or parts.hostname or "127.0.0.1",
        port=parts.port or (443 if tls else 80),
        ssl_certfile=str(tls_certificate) if tls else None,
        ssl_keyfile=str(tls_key) if tls else None,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


class BackgroundService:
    """A service in a thread of this process (tests, `careid service up`)."""

    def __init__(self, name: str, config: uvicorn.Config) -> None:
        self.name = name
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)

    def start(self, timeout: float = 20.0) -> Self:
        """Returns once the service listens."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} service did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
