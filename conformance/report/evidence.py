"""What a run left behind for each test, as links inside the run folder.

results.json records one file per test, its APDU transcript; the journeys suite's records
(`journeys/*.json`) name the test whose screenshots they hold. Paths come from files a run
wrote, so a path that could lead out of the run folder is never linked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import quote

from conformance.report.journeys import JourneyRecord
from conformance.report.model import TestResult

EvidenceKind = Literal["apdu", "screenshot", "journey"]


def safe_href(path: str) -> str | None:
    """A link to a file inside the run folder, or None for anything that could point elsewhere."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or ":" in path or "\\" in path:
        return None
    return quote(path)


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    label: str
    path: str  # as recorded, to name an unsafe one
    href: str | None  # None: the path was unsafe and is shown, not linked


def journey_anchor(record: JourneyRecord) -> str:
    return f"journey-{record.key}"


def _journey_evidence(record: JourneyRecord) -> list[Evidence]:
    found = [Evidence("journey", f"journey: {record.title}", "", "#" + journey_anchor(record))]
    shots = [shot for step in record.steps for shot in step.shots]
    if shots:
        # The last picture is where the journey stopped: what a failure looks like.
        last = shots[-1]
        label = f"screenshot: {last.caption}"
        found.append(Evidence("screenshot", label, last.file, safe_href(last.file)))
    return found


def evidence_for(test: TestResult, journeys: Sequence[JourneyRecord] = ()) -> list[Evidence]:
    """The test's evidence: its APDU trace, then each journey strip it recorded."""
    found: list[Evidence] = []
    if test.transcript is not None:
        found.append(Evidence("apdu", "APDU trace", test.transcript, safe_href(test.transcript)))
    for record in journeys:
        if record.test and record.test == test.nodeid:
            found.extend(_journey_evidence(record))
    return found
