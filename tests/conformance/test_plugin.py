"""The careid pytest plugin: activation, targets, self-check, skips, waivers, results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CATALOG = """
[[requirement]]
id = "DEMO-A-001"
statement = "The first thing holds."
source = "test"
profiles = ["virtual", "physical"]

[[requirement]]
id = "DEMO-A-002"
statement = "The second thing holds (changes the card)."
source = "test"
profiles = ["virtual", "physical"]
destructive = true

[[requirement]]
id = "DEMO-A-003"
statement = "Only the virtual card does the third thing."
source = "test"
profiles = ["virtual"]
"""

TESTS = """
import pytest

@pytest.mark.requirement("DEMO-A-001", expected="one is one")
def test_first():
    '''The first thing.'''
    assert 1 == 1

@pytest.mark.requirement("DEMO-A-002")
def test_second():
    '''The second thing.

    two is two
    '''
    assert 2 == 2

@pytest.mark.requirement("DEMO-A-003")
def test_third():
    '''The third thing.'''
    assert 3 == 3
"""


def _setup(pytester: pytest.Pytester, tests: str = TESTS, catalog: str = CATALOG) -> list[str]:
    pytester.makefile(".toml", catalog=catalog)
    pytester.makepyfile(test_demo=tests)
    run_dir = pytester.path / "run"
    return [
        f"--careid-catalog={pytester.path / 'catalog.toml'}",
        f"--careid-run-dir={run_dir}",
        "-p",
        "no:cacheprovider",
    ]


def _results(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "run" / "results.json").read_text())
    return data


def _by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {test["name"]: test for test in results["tests"]}


def test_inert_in_ordinary_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "self-check" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_results_file_and_expected_texts(inner: pytest.Pytester) -> None:
    args = _setup(inner)
    result = inner.runpytest("--careid-in-process", *args)
    result.assert_outcomes(passed=3)
    results = _results(inner)
    assert results["schema"] == "careid-results/1"
    assert results["suite"] == "demo"
    assert results["target"]["kind"] == "in-process"
    assert results["mode"] == "destructive"
    assert results["self_check"] == {"ok": True, "problems": []}
    assert [r["id"] for r in results["requirements"]] == ["DEMO-A-001", "DEMO-A-002", "DEMO-A-003"]
    assert results["requirements"][1]["profiles"] == ["virtual", "physical", "destructive"]
    tests = _by_name(results)
    assert tests["test_first"]["expected"] == "one is one"
    assert tests["test_second"]["expected"] == "two is two"  # the docstring's second line
    assert tests["test_third"]["expected"] == "Only the virtual card does the third thing."
    assert tests["test_first"]["description"] == "The first thing."
    assert tests["test_first"]["actual"] == "as expected"
    assert (inner.path / "run" / "junit.xml").exists()


def test_unknown_requirement_fails_the_self_check(inner: pytest.Pytester) -> None:
    args = _setup(
        inner, TESTS + '\n@pytest.mark.requirement("DEMO-Z-999")\ndef test_z():\n    pass\n'
    )
    result = inner.runpytest("--careid-in-process", *args)
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*self-check FAILED*", "*unknown requirement ID DEMO-Z-999*"])
    assert _results(inner)["self_check"]["ok"] is False


def test_requirement_without_test_fails_the_self_check(inner: pytest.Pytester) -> None:
    tests = TESTS.split('@pytest.mark.requirement("DEMO-A-003")', maxsplit=1)[0]
    result = inner.runpytest("--careid-in-process", *_setup(inner, tests))
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*requirement DEMO-A-003 has no test*"])


def test_partial_run_does_not_check_coverage(inner: pytest.Pytester) -> None:
    args = _setup(inner)
    inner.makepyfile(test_other="import pytest\n")
    result = inner.runpytest("--careid-in-process", *args, "test_demo.py::test_first")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--careid-in-process", "--careid-reader=R"], "give one target"),
        (["--careid-reader=R", "--careid-fault=slow"], "--careid-fault needs a virtual target"),
        (["--careid-reader=R", "--careid-destructive"], "needs the card's --careid-pin"),
        (["--careid-fault=nonsense"], "not a fault mode"),
    ],
)
def test_bad_target_options(inner: pytest.Pytester, options: list[str], message: str) -> None:
    result = inner.runpytest(*options, *_setup(inner))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_later_suite_options_are_accepted(inner: pytest.Pytester) -> None:
    options = [
        "--careid-issuer=https://127.0.0.1:1",
        "--careid-agent=http://127.0.0.1:2",
        "--careid-portal=https://127.0.0.1:3",
        "--careid-myidentity=https://127.0.0.1:4",
    ]
    result = inner.runpytest("--careid-in-process", *options, *_setup(inner))
    result.assert_outcomes(passed=3)


def test_waivers(inner: pytest.Pytester) -> None:
    failing = TESTS.replace("assert 2 == 2", "assert 2 == 3, 'two is not three'")
    args = _setup(inner, failing)
    inner.makefile(
        ".toml",
        waivers='[[waiver]]\ntest = "DEMO-A-002"\njustification = "known card defect (ticket 7)"\n',
    )
    result = inner.runpytest(
        "--careid-in-process", f"--careid-waivers={inner.path / 'waivers.toml'}", *args
    )
    result.assert_outcomes(passed=2, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*waived:*test_second*known card defect (ticket 7)*"])
    second = _by_name(_results(inner))["test_second"]
    assert second["outcome"] == "waived"
    assert second["waiver"] == "known card defect (ticket 7)"
    assert "two is not three" in second["actual"]


def test_waiver_without_justification_is_refused(inner: pytest.Pytester) -> None:
    args = _setup(inner)
    inner.makefile(".toml", waivers='[[waiver]]\ntest = "DEMO-A-002"\n')
    result = inner.runpytest(
        "--careid-in-process", f"--careid-waivers={inner.path / 'waivers.toml'}", *args
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "waiver #1, justification: a waiver needs a justification" in result.stderr.str()


def test_failure_is_reported_with_its_message(inner: pytest.Pytester) -> None:
    failing = TESTS.replace("assert 1 == 1", "assert 1 == 2, 'one is not two'")
    result = inner.runpytest("--careid-in-process", *_setup(inner, failing))
    result.assert_outcomes(passed=2, failed=1)
    first = _by_name(_results(inner))["test_first"]
    assert first["outcome"] == "failed"
    assert first["actual"].startswith("AssertionError: one is not two")


def test_physical_target_skips_with_reasons(inner: pytest.Pytester, careid_data_dir: Path) -> None:
    from tests.conformance import fake_card

    fake_card.load(careid_data_dir)
    args = _setup(inner)
    result = inner.runpytest("--careid-transport=tests.conformance.fake_card:make_transport", *args)
    result.assert_outcomes(passed=1, skipped=2)
    tests = _by_name(_results(inner))
    assert tests["test_second"]["outcome"] == "skipped"
    assert "read-only run on a physical card" in tests["test_second"]["actual"]
    assert "--careid-destructive" in tests["test_second"]["actual"]
    assert tests["test_third"]["outcome"] == "skipped"
    assert "DEMO-A-003 apply to the virtual profile only" in tests["test_third"]["actual"]
    results = _results(inner)
    assert results["target"]["kind"] == "physical"
    assert results["mode"] == "read-only"
