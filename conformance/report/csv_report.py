"""`results.csv`: one row per test in the column set conformance labs already use.

Columns, exactly: `Date,Test Id,Description,Expected Result,Actual Result`.

* Date: when the test started, ISO-8601 to the second, as the plugin recorded it.
* Test Id: the requirement IDs the test checks joined with `+`, then `/`, then the test's name
  (parameters included), e.g. `CARD-PIN-003+CARD-PIN-004/test_wrong_pin[series9]`. Split at
  the first `/` to get the requirements back. A test that names no requirement gets its name.
* Description: the test's description (its docstring's first line).
* Expected Result: what the requirement asks for.
* Actual Result: the outcome in capitals, a colon, then what the card did (for a skipped test
  the plugin records the reason there); a waived test's justification follows in brackets.
  There is no separate result column, so the outcome lives here.

Rows follow the order the tests ran in. A cell that a spreadsheet would take for a formula
(starting with = + - @ or a control character) is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io

from conformance.report.model import RunResults, TestResult

CSV_FILE = "results.csv"
COLUMNS = ("Date", "Test Id", "Description", "Expected Result", "Actual Result")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_test_id(test: TestResult) -> str:
    if not test.requirements:
        return test.name
    return "+".join(test.requirements) + "/" + test.name


def actual_result(test: TestResult) -> str:
    text = f"{test.outcome.upper()}: {test.actual}" if test.actual else test.outcome.upper()
    if test.outcome == "waived" and test.waiver:
        text += f" (waived: {test.waiver})"
    return text


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(results: RunResults) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for test in results.tests:
        row = (
            test.started.isoformat(timespec="seconds"),
            csv_test_id(test),
            test.description,
            test.expected,
            actual_result(test),
        )
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
