"""`python -m reference_service.nhsmail --config nhsmail.toml`."""

from reference_service.directory.server import main

__all__ = ["main"]
