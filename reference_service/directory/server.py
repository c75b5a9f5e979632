"""Running a portal: build it from a settings file and serve it over HTTPS with uvicorn."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI

from reference_service.directory.portal import PortalCore
from reference_service.directory.settings import PortalSettings, load_portal_settings
from reference_service.directory.store import Directory


def build_app(settings: PortalSettings, core: PortalCore | None = None) -> FastAPI:
    core = core or PortalCore(settings, Directory(settings.database))
    from reference_service.myidentity import app as myidentity_app  # noqa: PLC0415
    from reference_service.nhsmail import app as nhsmail_app  # noqa: PLC0415

    if settings.portal == "nhsmail":
        return nhsmail_app.create_app(core)
    return myidentity_app.create_app(core)


def uvicorn_config(settings: PortalSettings, app: FastAPI) -> uvicorn.Config:
    parts = urlsplit(settings.base_url)
    tls = parts.scheme == "https"
    if tls and (settings.tls_certificate is None or settings.tls_key is None):
        raise ValueError("an https base_url needs tls_certificate and tls_key")
    return uvicorn.Config(
        app,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if tls else 80),
        ssl_certfile=str(settings.tls_certificate) if tls else None,
        ssl_keyfile=str(settings.tls_key) if tls else None,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


class BackgroundPortal:
    """A portal in a thread of this process (tests): `start()` returns once it listens."""

    def __init__(self, settings: PortalSettings, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.app = app or build_app(settings)
        self.server = uvicorn.Server(uvicorn_config(settings, self.app))
        self.thread = threading.Thread(target=self.server.run, name=settings.portal, daemon=True)

    def start(self, timeout: float = 20.0) -> BackgroundPortal:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.settings.portal} portal did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference_service.nhsmail")
    parser.add_argument("--config", type=Path, required=True, help="the settings TOML file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_portal_settings(args.config)
    uvicorn.Server(uvicorn_config(settings, build_app(settings))).run()
