"""A journey's picture strip: a screenshot per step, kept for the report.

Each test of the journeys suite records what it walks through as a `Journey`: the steps of a
manual (their wording from `manuals.toml`) or of a scenario (captions of its own), each with
the screenshots taken there. `Journey.save()` writes `<run dir>/journeys/<key>.json`
(`careid-journey/1`, read by `conformance.report.journeys`) and the screenshots go to
`<run dir>/screenshots/journeys/`. A step the test never reached keeps no screenshot, so the
strip shows where a failing journey stopped.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from conformance.report.journeys import JOURNEYS_DIR, SCHEMA, JourneyRecord, Shot, Step
from simulator.atomic import atomic_write_bytes

MANUALS_FILE = Path(__file__).with_name("manuals.toml")
SHOTS_DIR = "screenshots/journeys"
# Drawn around the element the manual's step tells the user to use, for the screenshot only.
HIGHLIGHT = "3px solid #ffb81c"


class Screenshotting(Protocol):
    """A Playwright page (the part used here)."""

    def screenshot(self, *, path: str) -> bytes: ...


class Highlightable(Protocol):
    """A Playwright locator (the part used here)."""

    def evaluate(self, expression: str, arg: Any = None) -> Any: ...


@dataclass(frozen=True)
class Manual:
    id: str
    title: str
    source: str
    persona: str
    steps: tuple[str, ...]


@cache
def manuals() -> dict[str, Manual]:
    """The manuals of `manuals.toml` by id ("000", "001")."""
    document = tomllib.loads(MANUALS_FILE.read_text(encoding="utf-8"))
    found = {}
    for entry in document["manual"]:
        manual = Manual(
            id=str(entry["id"]),
            title=str(entry["title"]),
            source=str(entry["source"]),
            persona=str(entry["persona"]),
            steps=tuple(str(step) for step in entry["steps"]),
        )
        found[manual.id] = manual
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "shot"


class Journey:
    """`journey.shot(step, page, caption, highlight=locator)` at each step; `save()` at the end.

    For a manual, `step` is the step's number; for a scenario, any short label (a step is added
    the first time its label is used)."""

    def __init__(
        self,
        run_dir: Path,
        key: str,
        title: str,
        *,
        manual: Manual | None = None,
        requirement: str = "",
        test: str = "",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.key = _slug(key)
        self.title = title
        self.manual = manual
        self.requirement = requirement
        self.test = test
        self.outcome = "not run"
        self.message = ""
        self.steps: list[Step] = []
        if manual is not None:
            self.steps = [
                Step(label=str(n), wording=text) for n, text in enumerate(manual.steps, start=1)
            ]

    def _step(self, label: str) -> Step:
        for step in self.steps:
            if step.label == label:
                return step
        if self.manual is not None:
            raise ValueError(f"manual {self.manual.id} has no step {label}")
        step = Step(label=label)
        self.steps.append(step)
        return step

    def shot(
        self,
        step: int | str,
        page: Screenshotting,
        caption: str,
        *,
        highlight: Highlightable | None = None,
    ) -> Path:
        """Screenshot `page` as the picture of `step`, with `highlight` outlined while taken."""
        entry = self._step(str(step))
        taken = sum(len(s.shots) for s in self.steps)
        name = f"{self.key}-{taken + 1:02d}-{_slug(caption)}.png"
        path = self.run_dir / SHOTS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if highlight is not None:
            highlight.evaluate("(e, style) => { e.style.outline = style; }", HIGHLIGHT)
        try:
            page.screenshot(path=str(path))
        finally:
            if highlight is not None:
                highlight.evaluate("e => { e.style.outline = ''; }")
        entry.shots.append(Shot(file=f"{SHOTS_DIR}/{name}", caption=caption))
        return path

    def record(self) -> JourneyRecord:
        """The journey as the report reads it (`conformance.report.journeys`)."""
        manual = self.manual
        return JourneyRecord.model_validate(
            {
                "schema": SCHEMA,
                "key": self.key,
                "title": self.title,
                "manual": (
                    {"id": manual.id, "title": manual.title, "source": manual.source}
                    if manual
                    else None
                ),
                "requirement": self.requirement,
                "test": self.test,
                "outcome": self.outcome,
                "message": self.message,
                "steps": self.steps,
            }
        )

    def save(self, outcome: str, message: str = "") -> Path:
        """Write the record (atomically: the report never reads half of one)."""
        self.outcome, self.message = outcome, message
        path = self.run_dir / JOURNEYS_DIR / f"{self.key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.record().model_dump_json(by_alias=True, indent=2) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))
        return path
