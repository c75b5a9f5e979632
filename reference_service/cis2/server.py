"""Running the provider: build it from a settings file and serve it over HTTPS with uvicorn."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from reference_service.cis2.app import create_app
from reference_service.cis2.config import Settings, load_settings
from reference_service.cis2.provider import Provider
from reference_service.cis2.store import Store
from reference_service.common import serving


def build_app(settings: Settings) -> FastAPI:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_app(Provider(settings, Store(settings.database)))


def uvicorn_config(settings: Settings, app: FastAPI, host: str | None = None) -> uvicorn.Config:
    return serving.uvicorn_config(
        app, settings.base_url, settings.tls_certificate, settings.tls_key, host
    )


class BackgroundServer(serving.BackgroundService):
    """The provider in a thread of this process (tests): `start()` returns once it listens."""

    def __init__(self, settings: Settings, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.app = app or build_app(settings)
        super().__init__("cis2", uvicorn_config(settings, self.app))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference_service.cis2")
    parser.add_argument("--config", type=Path, required=True, help="the settings TOML file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(args.config)
    uvicorn.Server(uvicorn_config(settings, build_app(settings))).run()
