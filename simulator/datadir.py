"""The data directory: card files, the test PKI, databases and logs of a harness installation."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "CAREID_DATA_DIR"


def default_data_dir() -> Path:
    """`$CAREID_DATA_DIR`, else `.careid/` under the working directory."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.cwd() / ".careid")


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
