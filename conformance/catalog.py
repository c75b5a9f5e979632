"""The requirement catalog: what the conformance suites check, one stable ID per requirement.

`requirements.toml` (next to this module) holds one `[[requirement]]` table per requirement.
Every test names the requirements it checks with `@pytest.mark.requirement("ID")`; the
plugin's self-check compares the two. A bad catalog is an error naming the entry, the field
and the reason, never a silently skipped requirement.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CATALOG_PATH = Path(__file__).with_name("requirements.toml")

ID_PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]{3}")
Profile = Literal["virtual", "physical"]
# The first ID segment names the suite a requirement belongs to (CARD-PIN-003 -> card).
SUITE_PREFIXES = {
    "CARD": "card",
    "AGENT": "agent",
    "CIS2": "cis2",
    "PORTAL": "portal",
    "JOURNEY": "journeys",
}


def _one_line(value: str) -> str:
    # These strings become report cells and CSV fields: one non-blank line each.
    if not value.strip():
        raise ValueError("must not be blank")
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")
    return value.strip()


OneLine = Annotated[str, AfterValidator(_one_line)]


class Requirement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    id: str
    statement: OneLine
    source: OneLine
    profiles: list[Profile] = Field(min_length=1)
    destructive: bool = False  # its tests change card state (PIN tries, PIN, PUK, objects)
    suite: str = ""  # derived from the ID when left out

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not ID_PATTERN.fullmatch(value):
            raise ValueError("an ID is upper-case words joined by '-' ending in 3 digits")
        return value

    @field_validator("profiles")
    @classmethod
    def _no_duplicate_profiles(cls, value: list[Profile]) -> list[Profile]:
        if len(set(value)) != len(value):
            raise ValueError("a profile is listed twice")
        return value

    @model_validator(mode="after")
    def _derive_suite(self) -> Requirement:
        if not self.suite:
            prefix = self.id.split("-", 1)[0]
            object.__setattr__(self, "suite", SUITE_PREFIXES.get(prefix, prefix.lower()))
        return self

    @property
    def mode(self) -> Literal["read-only", "destructive"]:
        return "destructive" if self.destructive else "read-only"

    def report_profiles(self) -> list[str]:
        """Profiles as the results file lists them: targets, then read-only/destructive."""
        return [*self.profiles, self.mode]


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requirement: list[Requirement] = Field(min_length=1)


class CatalogError(Exception):
    """The catalog file cannot be used; the message names the entry, field and reason."""


class Catalog:
    def __init__(self, requirements: list[Requirement], source: str = "") -> None:
        self.source = source
        self._by_id: dict[str, Requirement] = {}
        for requirement in requirements:
            if requirement.id in self._by_id:
                raise CatalogError(f"{source}: requirement {requirement.id} is defined twice")
            self._by_id[requirement.id] = requirement

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def get(self, requirement_id: str) -> Requirement | None:
        return self._by_id.get(requirement_id)

    def __getitem__(self, requirement_id: str) -> Requirement:
        try:
            return self._by_id[requirement_id]
        except KeyError:
            raise KeyError(f"unknown requirement ID {requirement_id!r}") from None

    def for_suite(self, suite: str) -> list[Requirement]:
        return [r for r in self._by_id.values() if r.suite == suite]

    @property
    def suites(self) -> list[str]:
        return sorted({r.suite for r in self._by_id.values()})


def _describe(error: ValidationError, data: dict[str, object]) -> str:
    entries = data.get("requirement")
    problems = []
    for item in error.errors():
        location = list(item["loc"])
        where = ".".join(str(part) for part in location)
        if len(location) >= 2 and location[0] == "requirement" and isinstance(location[1], int):
            index = location[1]
            entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
            name = entry.get("id") if isinstance(entry, dict) else None
            field = ".".join(str(part) for part in location[2:]) or "(entry)"
            where = f"requirement #{index + 1}" + (f" ({name})" if name else "") + f", {field}"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and check a catalog file (the packaged one by default)."""
    path = Path(path) if path is not None else DEFAULT_CATALOG_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc, data)}") from None
    return Catalog(parsed.requirement, str(path))


@cache
def default_catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG_PATH)
