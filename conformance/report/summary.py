"""What a run amounts to: counts per outcome, a result per requirement, and one overall verdict.

The HTML page and the `careid conform` summary both show these, so they are computed once here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from conformance.report.model import OUTCOMES, Outcome, Requirement, RunResults, TestResult


class RequirementResult(StrEnum):
    PASSED = "passed"  # at least one test passed, none failed
    FAILED = "failed"  # a test of it failed or errored
    WAIVED = "waived"  # no failure, but a failure was waived
    SKIPPED = "skipped"  # every test of it was skipped (not applicable to this target)
    UNTESTED = "untested"  # no test names it (the self-check reports this too)


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    INCOMPLETE = "INCOMPLETE"  # nothing failed, but no test passed either


@dataclass(frozen=True)
class RequirementRow:
    requirement: Requirement
    result: RequirementResult
    tests: list[TestResult]


@dataclass(frozen=True)
class Summary:
    counts: dict[Outcome, int]
    requirements: list[RequirementRow]
    # requirement IDs that tests name but the run's catalog does not hold
    unknown_requirements: list[str]
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)

    def requirement_counts(self) -> dict[RequirementResult, int]:
        counts = Counter(row.result for row in self.requirements)
        return {result: counts[result] for result in RequirementResult}


def requirement_result(tests: list[TestResult]) -> RequirementResult:
    outcomes = {test.outcome for test in tests}
    if outcomes & {"failed", "error"}:
        return RequirementResult.FAILED
    if "waived" in outcomes:
        return RequirementResult.WAIVED
    if "passed" in outcomes:
        return RequirementResult.PASSED
    if outcomes:
        return RequirementResult.SKIPPED
    return RequirementResult.UNTESTED


def summarise(results: RunResults) -> Summary:
    """Counts, per-requirement results in catalog order, and the verdict with its reasons."""
    tally = Counter(test.outcome for test in results.tests)
    counts: dict[Outcome, int] = {outcome: tally[outcome] for outcome in OUTCOMES}
    by_requirement: dict[str, list[TestResult]] = {req.id: [] for req in results.requirements}
    unknown: list[str] = []
    for test in results.tests:
        for req_id in test.requirements:
            if req_id in by_requirement:
                by_requirement[req_id].append(test)
            elif req_id not in unknown:
                unknown.append(req_id)
    rows = [
        RequirementRow(req, requirement_result(by_requirement[req.id]), by_requirement[req.id])
        for req in results.requirements
    ]

    reasons = []
    if bad := counts["failed"] + counts["error"]:
        reasons.append(f"{bad} test(s) failed or errored")
    if not results.self_check.ok:
        reasons.append("the suite self-check found problems")
    if results.detection is not None and not results.detection.ok:
        missed = [f.fault for f in results.detection.faults if not f.caught]
        reasons.append(f"fault mode(s) not caught: {', '.join(missed) or 'see detection table'}")
    if reasons:
        verdict = Verdict.FAIL
    elif counts["passed"] == 0:
        verdict = Verdict.INCOMPLETE
        reasons.append("no test passed")
    else:
        verdict = Verdict.PASS
    return Summary(counts, rows, unknown, verdict, reasons)
