"""Running a portal: build it from a settings file and serve it over HTTPS with uvicorn."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from reference_service.common import serving
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
    return serving.uvicorn_config(
        app, settings.base_url, settings.tls_certificate, settings.tls_key
    )


class BackgroundPortal(serving.BackgroundService):
    """A portal in a thread of this process (tests): `start()` returns once it listens."""

    def __init__(self, settings: PortalSettings, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.app = app or build_app(settings)
        super().__init__(settings.portal, uvicorn_config(settings, self.app))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference_service.nhsmail")
    parser.add_argument("--config", type=Path, required=True, help="the settings TOML file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_portal_settings(args.config)
    uvicorn.Server(uvicorn_config(settings, build_app(settings))).run()
