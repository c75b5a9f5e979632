"""Waivers: expected failures of a run, each with the justification the report shows.

A waivers file is TOML:

    [[waiver]]
    test = "CARD-SIGN-004"          # a requirement ID, a test node id, or its "file::name" tail
    justification = "vendor card has no key management key (ticket 123)"

A waiver without a justification is refused: an unexplained expected failure is a hole in
the report.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class WaiverError(Exception):
    """The waivers file cannot be used; the message names the waiver, field and reason."""


class Waiver(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    test: str = Field(min_length=1)
    justification: str

    @field_validator("test", "justification")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if "\n" in value or "\r" in value:
            raise ValueError("must be a single line")
        return value.strip()

    def matches(self, nodeid: str, requirements: Iterable[str]) -> bool:
        if self.test in requirements or self.test == nodeid:
            return True
        # "test_pin.py::test_wrong_pin" or "test_wrong_pin" match the end of the node id.
        return nodeid.endswith("/" + self.test) or nodeid.endswith("::" + self.test)


class _WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waiver: list[Waiver] = Field(default_factory=list)


def load_waivers(path: Path) -> list[Waiver]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise WaiverError(f"{path}: cannot read the waivers file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WaiverError(f"{path}: not valid TOML: {exc}") from None
    try:
        return _WaiverFile.model_validate(data).waiver
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            loc = item["loc"]
            if len(loc) >= 3 and loc[0] == "waiver" and isinstance(loc[1], int):
                where = f"waiver #{loc[1] + 1}, {'.'.join(str(p) for p in loc[2:])}"
            else:
                where = ".".join(str(p) for p in loc) or "(file)"
            reason = item["msg"]
            if item["type"] == "missing" and loc[-1] == "justification":
                reason = "a waiver needs a justification (why this failure is accepted)"
            problems.append(f"{where}: {reason}")
        raise WaiverError(f"{path}: " + "; ".join(problems)) from None
