"""The audit log: one JSON line per security-relevant event (sign-ins, refusals, logouts).

Never holds a secret: no PIN (it never reaches the service), code, token or cookie.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Protocol

LOGGER_NAME = "careid.cis2.audit"


class Audit(Protocol):
    def __call__(self, event: str, **fields: Any) -> None: ...


class AuditLog:
    """Writes to the `careid.cis2.audit` logger and, when given a path, to that file."""

    def __init__(self, path: Path | None = None) -> None:
        self.logger = logging.getLogger(LOGGER_NAME)
        self.logger.setLevel(logging.INFO)
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            already = any(
                isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve()
                for h in self.logger.handlers
            )
            if not already:
                handler = logging.FileHandler(path, encoding="utf-8")
                handler.setFormatter(logging.Formatter("%(message)s"))
                self.logger.addHandler(handler)

    def __call__(self, event: str, **fields: Any) -> None:
        record = {"time": round(time.time(), 3), "event": event, **fields}
        self.logger.info(json.dumps(record, default=str, sort_keys=False))
