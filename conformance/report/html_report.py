"""`index.html`: the one page a person opens first after a run.

Its first screen answers "did it pass, and what failed": the verdict, a line per suite, then
each failure with its requirement, message and evidence. Below: the target of each suite,
requirements, tests (filterable by status, suite, requirement and text), journeys.

The page comes from the Jinja2 templates in `templates/` with autoescape on: card data, test
messages and waiver texts come from outside the harness. It loads only its own stylesheet
and script (`assets`), which build.py copies beside it, so it works opened from disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import PurePosixPath

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from conformance.report.assets import CSP, SCRIPT, STYLESHEET
from conformance.report.evidence import Evidence, evidence_for, journey_anchor, safe_href
from conformance.report.journeys import JourneyRecord
from conformance.report.model import OUTCOMES, RunResults, TestResult
from conformance.report.suites import requirement_suite, suite_lines, suites_of_tests
from conformance.report.summary import RequirementResult, RequirementRow, Verdict, summarise
from conformance.report.target_view import shared_fields, suite_targets

HTML_FILE = "index.html"
# Other files of a run the page links to; they sit beside it in reports/<run-id>/.
RUN_FILES = ("results.csv", "results.json", "junit.xml")
TEMPLATE = "report.html.j2"
FAILED_OUTCOMES = ("failed", "error")


@dataclass(frozen=True)
class TestView:
    __test__ = False  # not a pytest test class, despite the name

    anchor: str
    test: TestResult
    suite: str
    evidence: list[Evidence]


@dataclass(frozen=True)
class RequirementView:
    row: RequirementRow
    suites: list[str]
    tests: list[TestView]


@dataclass(frozen=True)
class ScreenshotView:
    href: str
    name: str


def _breakable(text: object, separators: tuple[str, ...]) -> Markup:
    """`text`, escaped, with a line-break chance (<wbr>) after each separator."""
    pattern = "(" + "|".join(re.escape(sep) for sep in separators) + ")"
    out = Markup("")
    for piece in re.split(pattern, str(text)):
        out += escape(piece)
        if piece in separators:
            out += Markup("<wbr>")
    return out


def wrap_name(name: object) -> Markup:
    """A test name that may wrap after its underscores and parameter brackets."""
    return _breakable(name, ("_", "[", "-"))


def wrap_path(nodeid: object) -> Markup:
    """A node id that may wrap after its path and `::` separators."""
    return _breakable(nodeid, ("::", "/", "[", "-"))


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def verdict_kind(verdict: str) -> str:
    """The badge colour of a verdict."""
    return {Verdict.PASS: "passed", Verdict.FAIL: "failed"}.get(Verdict(verdict), "waived")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("conformance.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        wrap_name=wrap_name,
        wrap_path=wrap_path,
        duration=duration,
        when=when,
        href=safe_href,
        journey_anchor=journey_anchor,
        verdict_kind=verdict_kind,
    )
    return env


def _test_views(results: RunResults, journeys: Sequence[JourneyRecord]) -> list[TestView]:
    return [
        TestView(f"test-{index}", test, suite, evidence_for(test, journeys))
        for index, (test, suite) in enumerate(
            zip(results.tests, suites_of_tests(results), strict=True)
        )
    ]


def _requirement_views(rows: list[RequirementRow], tests: list[TestView]) -> list[RequirementView]:
    view_of = {id(view.test): view for view in tests}
    found = []
    for row in rows:
        views = [view_of[id(test)] for test in row.tests]
        suites = list(dict.fromkeys(view.suite for view in views))
        if not suites and (suite := requirement_suite(row.requirement.id)):
            suites = [suite]
        found.append(RequirementView(row, suites, views))
    return found


def _screenshot_views(screenshots: Sequence[str]) -> list[ScreenshotView]:
    found = []
    for path in screenshots:
        href = safe_href(path)
        if href is not None:
            found.append(ScreenshotView(href, PurePosixPath(path).stem.replace("-", " ")))
    return found


def render_html(
    results: RunResults,
    screenshots: Sequence[str] = (),
    journeys: Sequence[JourneyRecord] = (),
    journey_problems: Sequence[str] = (),
) -> str:
    """The whole page as one string; `screenshots` are PNG paths inside the run folder,
    `journeys` the recorded journeys (picture strips beside the manuals' wording)."""
    summary = summarise(results)
    tests = _test_views(results, journeys)
    suites = suite_lines(results)
    requirement_counts = summary.requirement_counts()
    statuses: list[str] = [o for o in OUTCOMES if summary.counts[o]]
    if requirement_counts[RequirementResult.UNTESTED]:
        statuses.append(RequirementResult.UNTESTED.value)
    took = max((results.finished - results.started).total_seconds(), 0.0)
    suite_names = [line.suite for line in suites]
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            results=results,
            summary=summary,
            title=f"careid {results.suite} conformance: {summary.verdict.value} — {results.run_id}",
            took=duration(took),
            req_line=", ".join(
                f"{n} {result.value}" for result, n in requirement_counts.items() if n
            ),
            run_files=RUN_FILES,
            csp=CSP,
            stylesheet=STYLESHEET,
            script=SCRIPT,
            outcomes=OUTCOMES,
            suites=suites,
            failures=[view for view in tests if view.test.outcome in FAILED_OUTCOMES],
            tests=tests,
            not_run=[view for view in tests if view.test.outcome in ("skipped", "waived")],
            requirements=_requirement_views(summary.requirements, tests),
            requirement_ids=[row.requirement.id for row in summary.requirements]
            + summary.unknown_requirements,
            statuses=statuses,
            targets=suite_targets(results.target, suite_names),
            shared=shared_fields(suite_names),
            journeys=list(journeys),
            journey_problems=list(journey_problems),
            screenshots=_screenshot_views(screenshots),
            harness=results.versions.get("careid-harness") or "?",
        )
    )
