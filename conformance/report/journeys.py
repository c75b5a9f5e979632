"""The journeys a run recorded (`<run dir>/journeys/*.json`, `careid-journey/1`), for the report.

The journeys suite writes one file per journey (`conformance.journeys.recorder`): its steps,
each with the manual's wording (or a scenario's caption) and the screenshots taken there. A
file that does not parse is left out of the strips and named in the report, never fatal: the
rest of the report still has to be written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA = "careid-journey/1"
JOURNEYS_DIR = "journeys"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Shot(_Model):
    file: str
    caption: str


class Step(_Model):
    label: str
    wording: str = ""
    shots: list[Shot] = Field(default_factory=list)


class ManualRef(_Model):
    id: str
    title: str
    source: str


class JourneyRecord(_Model):
    schema_: Literal["careid-journey/1"] = Field(alias="schema")
    key: str
    title: str
    manual: ManualRef | None = None
    requirement: str = ""
    test: str = ""
    outcome: str
    message: str = ""
    steps: list[Step]

    @property
    def sort_key(self) -> tuple[int, str]:
        """Manuals first, by their id; then the scenarios by key."""
        return (0, self.manual.id) if self.manual else (1, self.key)


def load_journeys(run_dir: Path) -> tuple[list[JourneyRecord], list[str]]:
    """(the run's journeys in report order, one problem line per file that would not load)."""
    records: list[JourneyRecord] = []
    problems: list[str] = []
    for path in sorted((Path(run_dir) / JOURNEYS_DIR).glob("*.json")):
        try:
            records.append(JourneyRecord.model_validate(json.loads(path.read_text("utf-8"))))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            problems.append(f"{JOURNEYS_DIR}/{path.name}: {reason}")
    records.sort(key=lambda record: record.sort_key)
    return records, problems
