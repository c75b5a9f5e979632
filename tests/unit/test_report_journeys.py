"""Journey records (the journeys suite's picture strips) and how the report shows them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.journeys.recorder import HIGHLIGHT, Journey, manuals
from conformance.report.html_report import render_html
from conformance.report.journeys import load_journeys
from conformance.report.model import RunResults, parse_results
from tests.report_samples import sample_document

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def sample() -> RunResults:
    return parse_results(json.dumps(sample_document()))


class FakePage:
    """Stands in for a Playwright page: 'screenshots' are a few bytes."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def screenshot(self, *, path: str) -> bytes:
        Path(path).write_bytes(PNG)
        self.taken.append(path)
        return PNG


class FakeLocator:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        self.calls.append((expression, arg))


def test_manuals_file_has_every_numbered_step() -> None:
    found = manuals()
    assert len(found["000"].steps) == 6 and len(found["001"].steps) == 8
    assert found["000"].steps[2] == "Click on Log in with my Care Identity button."
    assert found["001"].steps[6].startswith("Review your NHSmail and NHS Care Identity")


def test_manual_journey_record_and_report(tmp_path: Path) -> None:
    page, locator = FakePage(), FakeLocator()
    journey = Journey(tmp_path, "manual-000", "Sign in", manual=manuals()["000"], test="t::x")
    journey.shot(1, page, "The NHSmail Portal")
    journey.shot(2, page, "Login, <top> right", highlight=locator)
    journey.save("failed", "stopped at step 3")
    # The element is outlined for the screenshot and the outline taken off again.
    assert [arg for _, arg in locator.calls] == [HIGHLIGHT, None]
    record = json.loads((tmp_path / "journeys" / "manual-000.json").read_text())
    assert record["schema"] == "careid-journey/1" and record["outcome"] == "failed"
    assert [len(step["shots"]) for step in record["steps"]] == [1, 1, 0, 0, 0, 0]
    assert all(
        (tmp_path / shot["file"]).exists() for step in record["steps"] for shot in step["shots"]
    )

    journeys, problems = load_journeys(tmp_path)
    assert problems == [] and [j.key for j in journeys] == ["manual-000"]
    results = sample()
    page_html = render_html(results, (), journeys, problems)
    assert 'id="journeys"' in page_html
    assert "Click on the Login button in the top-right corner of the page." in page_html
    assert "Login, &lt;top&gt; right" in page_html and "<top>" not in page_html
    assert page_html.count("not reached") == 4  # steps 3-6 have no picture
    assert "stopped at step 3" in page_html


def test_manual_step_must_exist(tmp_path: Path) -> None:
    journey = Journey(tmp_path, "m", "Sign in", manual=manuals()["000"])
    with pytest.raises(ValueError, match="no step 7"):
        journey.shot(7, FakePage(), "beyond the manual")


def test_scenarios_after_manuals_and_bad_files_named(tmp_path: Path) -> None:
    Journey(tmp_path, "removal-legacy", "Removal").save("passed")
    Journey(tmp_path, "manual-001", "Linking", manual=manuals()["001"]).save("passed")
    Journey(tmp_path, "manual-000", "Sign in", manual=manuals()["000"]).save("passed")
    (tmp_path / "journeys" / "broken.json").write_text("{not json")
    (tmp_path / "journeys" / "odd.json").write_text(json.dumps({"schema": "other/1"}))
    journeys, problems = load_journeys(tmp_path)
    assert [j.key for j in journeys] == ["manual-000", "manual-001", "removal-legacy"]
    assert [p.split(":")[0] for p in problems] == ["journeys/broken.json", "journeys/odd.json"]
    results = sample()
    assert "journeys/broken.json" in render_html(results, (), journeys, problems)


def test_no_journeys_no_section(tmp_path: Path) -> None:
    results = sample()
    assert 'id="journeys"' not in render_html(results)
    assert load_journeys(tmp_path) == ([], [])


def test_unsafe_shot_path_is_not_linked(tmp_path: Path) -> None:
    Journey(tmp_path, "x", "X").save("passed")
    path = tmp_path / "journeys" / "x.json"
    record = json.loads(path.read_text())
    record["steps"] = [{"label": "a", "shots": [{"file": "../../etc/passwd", "caption": "c"}]}]
    path.write_text(json.dumps(record))
    journeys, _ = load_journeys(tmp_path)
    page_html = render_html(sample(), (), journeys)
    assert "unsafe path" in page_html and 'src="../../etc/passwd"' not in page_html
