"""The results file a conformance run leaves in `reports/<run-id>/results.json` (careid-results/1).

The pytest plugin writes it; every report is built from it alone. Unknown extra keys are
ignored so a newer plugin can add fields; anything missing or of the wrong type is an error
that names the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA = "careid-results/1"
RESULTS_FILE = "results.json"

Outcome = Literal["passed", "failed", "skipped", "waived", "error"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "waived", "skipped")


class ResultsFileError(Exception):
    """A results.json that is missing, not JSON, or not careid-results/1."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Target(_Model):
    kind: Literal["virtual", "in-process", "physical"]
    reader: str | None = None
    atr: str | None = None
    card_serial: str | None = None
    guid: str | None = None
    uuid: str | None = None
    label: str | None = None
    persona: str | None = None
    fault: str | None = None
    # Written by the suites' session fixtures into the same flat block (one per run, so a
    # later suite may overwrite an earlier one's words: see conformance/*/conftest.py).
    issuer: str | None = None  # oidc, journeys: the OpenID provider
    provider: str | None = None  # oidc: which provider that is (reference or --careid-issuer)
    profile: str | None = None  # oidc: the provider's profile (cis2 or plain OIDC)
    agent: str | None = None  # agent, journeys: the Identity Agent's URL or description
    origin: str | None = None  # agent: the origin the suite's sign-in page is served from
    agent_readers: str | None = None  # agent: the readers behind the agent
    journeys_reader: str | None = None  # journeys: the reader the journeys' cards sit in
    nhsmail: str | None = None  # journeys: the NHSmail portal's URL
    myidentity: str | None = None  # journeys: the My Identity portal's URL
    browser: str | None = None  # journeys: the browser that walked them


class Requirement(_Model):
    id: str
    statement: str
    source: str
    profiles: list[str] = []


class TestResult(_Model):
    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    name: str
    description: str = ""
    requirements: list[str] = []
    outcome: Outcome
    expected: str = ""
    actual: str = ""
    duration: float = Field(ge=0)
    transcript: str | None = None
    waiver: str | None = None
    started: datetime


class SelfCheck(_Model):
    ok: bool
    problems: list[str] = []


class FaultDetection(_Model):
    fault: str
    caught_by: list[str] = []
    failed_tests: list[str] = []

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


class Detection(_Model):
    ok: bool
    faults: list[FaultDetection] = []


class RunResults(_Model):
    schema_: Literal["careid-results/1"] = Field(alias="schema")
    run_id: str
    suite: str
    started: datetime
    finished: datetime
    target: Target
    mode: Literal["read-only", "destructive"]
    versions: dict[str, str | None]
    requirements: list[Requirement]
    tests: list[TestResult]
    self_check: SelfCheck
    detection: Detection | None = None


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors()[:10]:
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    more = error.error_count() - len(lines)
    if more > 0:
        lines.append(f"  … and {more} more")
    return "\n".join(lines)


def parse_results(text: str, *, origin: str = RESULTS_FILE) -> RunResults:
    """Parse and check a results document; ResultsFileError names each bad field."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{origin}: not valid JSON ({exc})") from None
    if isinstance(raw, dict) and raw.get("schema") not in (None, SCHEMA):
        raise ResultsFileError(
            f"{origin}: schema is {raw.get('schema')!r}; this careid-harness reads {SCHEMA!r}"
        )
    try:
        return RunResults.model_validate(raw)
    except ValidationError as exc:
        message = f"{origin} is not a valid {SCHEMA} file:\n{_describe(exc)}"
        raise ResultsFileError(message) from None


def load_results(run_dir: Path) -> RunResults:
    """Read `run_dir/results.json`."""
    path = run_dir / RESULTS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no results file (did the run start?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: cannot read ({exc})") from None
    return parse_results(text, origin=str(path))


def attach_detection(run_dir: Path, detection: Mapping[str, Any]) -> None:
    """Put the self-check's detection table into `run_dir/results.json`.

    The table is checked first, so a malformed one is refused with the bad field named
    instead of corrupting the results file.
    """
    try:
        checked = Detection.model_validate(detection)
    except ValidationError as exc:
        message = f"the self-check's detection table is not valid:\n{_describe(exc)}"
        raise ResultsFileError(message) from None
    path = run_dir / RESULTS_FILE
    load_results(run_dir)  # the file itself must be sound before it is rewritten
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["detection"] = checked.model_dump(mode="json")
    temp = path.with_name(f".{RESULTS_FILE}.tmp")
    temp.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temp.replace(path)
