"""`careid conform` with run_suite and run_detection replaced by fakes that copy a sample run."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conformance.cli import main
from conformance.cli.conform import new_run_id
from tests.report_samples import SAMPLE_RUN, Document, all_passed, sample_document


@dataclass
class FakeRunner:
    """Stands in for conformance.runner / conformance.selfcheck: records calls, writes a run."""

    change: Callable[[Document], object] = lambda document: None
    status: int = 1
    calls: list[dict[str, Any]] = field(default_factory=list)
    detection_calls: list[Path] = field(default_factory=list)

    def run_suite(self, suite: str = "card", *, run_dir: Path, **options: Any) -> int:
        self.calls.append({"suite": suite, "run_dir": run_dir, **options})
        shutil.copytree(SAMPLE_RUN / "transcripts", run_dir / "transcripts")
        document = sample_document()
        document.update(run_id=run_dir.name, detection=None)
        self.change(document)
        (run_dir / "results.json").write_text(json.dumps(document), encoding="utf-8")
        return self.status

    def run_detection(self, run_dir: Path, **options: Any) -> dict[str, Any]:
        self.detection_calls.append(run_dir)
        detection: dict[str, Any] = sample_document()["detection"]
        return detection


# The module, not the `conform` command that conformance.cli exports under the same name.
conform_module = importlib.import_module("conformance.cli.conform")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    runner = FakeRunner()
    monkeypatch.setattr(conform_module, "run_suite", runner.run_suite)
    monkeypatch.setattr(conform_module, "run_detection", runner.run_detection)
    return runner


def conform(tmp_path: Path, *args: str) -> Any:
    reports = tmp_path / "reports"
    return CliRunner().invoke(main, ["conform", "--report-dir", str(reports), *args])


def test_failing_run_summarises_and_exits_non_zero(tmp_path: Path, fake: FakeRunner) -> None:
    result = conform(tmp_path)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "Tests         12 passed, 1 failed, 1 error, 1 waived, 1 skipped" in out
    assert "Requirements  11 passed, 3 failed, 1 waived, 1 skipped (of 16 in scope)" in out
    assert "failed      CARD-PIN-003, CARD-PIN-004, CARD-SW-002" in out
    assert "test_wrong_pin[series9]: 69 82" in out
    assert "Detection     not run (add --self-check)" in out
    assert "Verdict       FAIL" in out
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.name != "latest"]
    assert f"Report        {run_dir / 'index.html'}" in out
    assert (run_dir / "results.csv").exists()
    assert (tmp_path / "reports" / "latest").readlink() == Path(run_dir.name)
    assert fake.calls[0]["run_dir"] == run_dir and not fake.detection_calls


def test_clean_run_exits_zero(tmp_path: Path, fake: FakeRunner) -> None:
    fake.change, fake.status = all_passed, 0
    result = conform(tmp_path)
    assert result.exit_code == 0, result.output
    assert "Verdict       PASS" in result.output


def test_pytest_failure_is_not_hidden_by_clean_results(tmp_path: Path, fake: FakeRunner) -> None:
    fake.change, fake.status = all_passed, 3
    result = conform(tmp_path)
    assert result.exit_code == 1
    assert "pytest exited with status 3" in result.output


def test_options_reach_the_runner(tmp_path: Path, fake: FakeRunner) -> None:
    waivers = tmp_path / "waivers.toml"
    waivers.write_text("", encoding="utf-8")
    conform(tmp_path, "--reader", "ACS ACR39U 00 00", "--waivers", str(waivers), "--", "-k", "pin")
    call = fake.calls[0]
    assert call["suite"] == "card"
    assert call["reader"] == "ACS ACR39U 00 00" and call["in_process"] is False
    assert list(call["extra_args"]) == ["--careid-waivers", str(waivers), "-k", "pin"]


def test_self_check_adds_the_detection_table(tmp_path: Path, fake: FakeRunner) -> None:
    result = conform(tmp_path, "--in-process", "--self-check")
    assert "Detection     3 of 4 fault modes caught; missed: slow" in result.output
    assert fake.calls[0]["in_process"] is True
    assert len(fake.detection_calls) == 1
    html = (tmp_path / "reports" / "latest" / "index.html").read_text(encoding="utf-8")
    assert "counter_not_decremented" in html


@pytest.mark.parametrize(
    "args",
    [
        ("--reader", "X", "--in-process"),
        ("--reader", "X", "--persona", "bob"),
        ("--suite", "agent", "--self-check"),  # the fault modes are the card's
    ],
)
def test_conflicting_targets_are_refused(
    tmp_path: Path, fake: FakeRunner, args: tuple[str, ...]
) -> None:
    result = conform(tmp_path, *args)
    assert result.exit_code == 2
    assert not fake.calls


def test_malformed_results_give_a_clear_error(tmp_path: Path, fake: FakeRunner) -> None:
    fake.change = lambda document: document["target"].update(kind="robot")
    result = conform(tmp_path)
    assert result.exit_code == 1
    assert "target.kind: Input should be 'virtual', 'in-process' or 'physical'" in result.output
    assert "pytest exited with status 1" in result.output


def test_run_ids_sort_by_time() -> None:
    run_id = new_run_id("card", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert re.fullmatch(r"20250102-030405-card-[0-9a-f]{4}", run_id)
