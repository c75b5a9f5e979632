"""Running the provider: build it from a settings file and serve it over HTTPS with uvicorn."""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI

from reference_service.cis2.app import create_app
from reference_service.cis2.config import Settings, load_settings
from reference_service.cis2.provider import Provider
from reference_service.cis2.store import Store


def build_app(settings: Settings) -> FastAPI:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_app(Provider(settings, Store(settings.database)))


def uvicorn_config(settings: Settings, app: FastAPI, host: str | None = None) -> uvicorn.Config:
    parts = urlsplit(settings.base_url)
    tls = parts.scheme == "https"
    if tls and (settings.tls_certificate is None or settings.tls_key is None):
        raise ValueError("an https base_url needs tls_certificate and tls_key")
    return uvicorn.Config(
        app,
        host=host or parts.hostname or "127.0.0.1",
        port=parts.port or (443 if tls else 80),
        ssl_certfile=str(settings.tls_certificate) if tls else None,
        ssl_keyfile=str(settings.tls_key) if tls else None,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


class BackgroundServer:
    """The provider in a thread of this process (tests): `start()` returns once it listens."""

    def __init__(self, settings: Settings, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.app = app or build_app(settings)
        self.server = uvicorn.Server(uvicorn_config(settings, self.app))
        self.thread = threading.Thread(target=self.server.run, name="cis2", daemon=True)

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self.thread.start()
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive() or waited > timeout:
                raise RuntimeError("the cis2 provider did not start")
            threading.Event().wait(0.05)
            waited += 0.05
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference_service.cis2")
    parser.add_argument("--config", type=Path, required=True, help="the settings TOML file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(args.config)
    uvicorn.Server(uvicorn_config(settings, build_app(settings))).run()
