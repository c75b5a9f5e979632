"""The results file of a conformance run (`results.json`, schema `careid-results/1`).

The report builder reads it; keep the schema stable. One record per test, one entry per
catalog requirement in scope, the target description and the versions of what ran.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

SCHEMA = "careid-results/1"
Outcome = Literal["passed", "failed", "skipped", "waived", "error"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def one_line(text: str, limit: int = 300) -> str:
    """The first non-blank line of `text`, shortened: report cells are one line."""
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


@dataclass
class TestRecord:
    nodeid: str
    name: str
    description: str
    requirements: list[str]
    outcome: Outcome = "passed"
    expected: str = ""
    actual: str = "as expected"
    duration: float = 0.0
    transcript: str | None = None
    waiver: str | None = None
    started: str = field(default_factory=now_iso)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = round(self.duration, 6)
        return data


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _tool_version(argv: list[str], pattern: str) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv, capture_output=True, text=True, timeout=5, check=False
        )
        match = re.search(pattern, done.stdout + done.stderr)
        if match:
            return match.group(1)
    return None


def versions() -> dict[str, str | None]:
    """Harness and dependency versions, as the report's target section shows them."""
    return {
        "careid-harness": _package_version("careid-harness"),
        "python": platform.python_version(),
        "pytest": _package_version("pytest"),
        "pyscard": _package_version("pyscard"),
        "cryptography": _package_version("cryptography"),
        "pcscd": _tool_version(["pcscd", "--version"], r"version ([0-9][0-9.]*[0-9])"),
        "opensc": _tool_version(["opensc-tool", "--info"], r"OpenSC ([0-9][0-9.]*[0-9])"),
    }


def write_results(path: Path, document: dict[str, Any]) -> None:
    """Write the results file whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def read_results(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a {SCHEMA} file (schema {data.get('schema')!r})")
    return data
