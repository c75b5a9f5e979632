"""Which suite each test belongs to, and one line of counts per suite for the report's top.

A run may hold several suites (`careid conform --suite all`): results.json names them only as
one comma-joined `suite` string, so a test's suite is read from where its module lives
(`conformance/<suite>/test_*.py`), else from its requirement IDs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import PurePosixPath

from conformance.report.model import OUTCOMES, Outcome, RunResults, TestResult
from conformance.report.summary import Verdict
from conformance.runner import SUITES

OTHER = "other"
# Requirement ID prefix -> the suite whose tests check it. CIS2 requirements are the oidc
# suite's (the catalog files them under "cis2"), portal ones the journeys suite's.
_PREFIX_SUITES = {
    "CARD": "card",
    "AGENT": "agent",
    "OIDC": "oidc",
    "CIS2": "oidc",
    "JOURNEY": "journeys",
    "PORTAL": "journeys",
}


def _suite_in_path(nodeid: str) -> str | None:
    # `--pyargs` runs name the module by a path that may start anywhere above the package.
    parts = PurePosixPath(nodeid.split("::", 1)[0].replace("\\", "/")).parts
    for here, following in pairwise(parts):
        if here == "conformance" and following in SUITES:
            return following
    return None


def requirement_suite(requirement_id: str) -> str | None:
    """The suite that checks a requirement, from its ID's first segment (CARD-PIN-003: card)."""
    return _PREFIX_SUITES.get(requirement_id.split("-", 1)[0])


def run_suites(results: RunResults) -> list[str]:
    """The suites results.json says ran, in the runner's order, mapped onto test suites."""
    named = [requirement_suite(name.upper()) or name for name in results.suite.split(",")]
    return [suite for suite in dict.fromkeys(named) if suite]


def suite_of(test: TestResult, fallback: str = OTHER) -> str:
    """The suite a test belongs to: its module's folder, else its first known requirement."""
    found = _suite_in_path(test.nodeid)
    if found is not None:
        return found
    for requirement_id in test.requirements:
        suite = requirement_suite(requirement_id)
        if suite is not None:
            return suite
    return fallback


def suites_of_tests(results: RunResults) -> list[str]:
    """`suite_of` each test in run order; a lone suite in results.json is everyone's fallback."""
    named = run_suites(results)
    fallback = named[0] if len(named) == 1 else OTHER
    return [suite_of(test, fallback) for test in results.tests]


@dataclass(frozen=True)
class SuiteLine:
    suite: str
    counts: dict[Outcome, int]
    verdict: Verdict

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _verdict(counts: dict[Outcome, int]) -> Verdict:
    if counts["failed"] or counts["error"]:
        return Verdict.FAIL
    return Verdict.PASS if counts["passed"] else Verdict.INCOMPLETE


def _ordered(suites: Iterable[str]) -> list[str]:
    known = [suite for suite in SUITES if suite in suites]
    return known + sorted(set(suites) - set(known))


def suite_lines(results: RunResults) -> list[SuiteLine]:
    """One line per suite that ran or was named, in the runner's order (card, agent, …)."""
    tallies: dict[str, Counter[Outcome]] = {suite: Counter() for suite in run_suites(results)}
    for test, suite in zip(results.tests, suites_of_tests(results), strict=True):
        tallies.setdefault(suite, Counter())[test.outcome] += 1
    lines = []
    for suite in _ordered(tallies):
        counts: dict[Outcome, int] = {outcome: tallies[suite][outcome] for outcome in OUTCOMES}
        lines.append(SuiteLine(suite, counts, _verdict(counts)))
    return lines
