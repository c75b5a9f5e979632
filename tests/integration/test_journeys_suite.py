"""`careid conform --suite journeys`: both manuals and their refusals in Debian's Chromium over
the whole real stack (the session's pcscd + vpcd, the reference agent, sign-in service and
portals), and the report's picture strips that follow the manuals step by step."""

from __future__ import annotations

import json
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

from conformance.journeys.recorder import manuals
from conformance.report.screenshot import CHROMIUM
from simulator.personas import load_personas
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(reader_stack: ReaderStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    reports = tmp_path_factory.mktemp("journey-reports")
    careid = str(Path(sys.executable).with_name("careid"))
    done = subprocess.run(  # noqa: S603 - our own CLI
        [careid, "conform", "--suite", "journeys", "--report-dir", str(reports), "--", "-q"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Verdict       PASS" in done.stdout
    return (reports / "latest").resolve()


def test_every_journey_passed_and_every_requirement_met(run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    outcomes = {test["nodeid"].split("::")[-1]: test["outcome"] for test in results["tests"]}
    assert len(outcomes) == 10 and set(outcomes.values()) == {"passed"}, outcomes
    ids = {req["id"] for req in results["requirements"]}
    assert {"JOURNEY-SIGNIN-001", "JOURNEY-LINK-001", "JOURNEY-REMOVE-003"} <= ids


@pytest.mark.parametrize("manual", ["000", "001"])
def test_each_manual_step_has_its_screenshot(run_dir: Path, manual: str) -> None:
    record = json.loads((run_dir / "journeys" / f"manual-{manual}.json").read_text())
    steps = record["steps"]
    assert record["outcome"] == "passed"
    assert [step["wording"] for step in steps] == list(manuals()[manual].steps)
    for step in steps:
        assert step["shots"], f"manual {manual} step {step['label']} has no screenshot"
        for shot in step["shots"]:
            data = (run_dir / shot["file"]).read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 5000, shot


def test_report_shows_the_strips_beside_the_manuals_words(run_dir: Path) -> None:
    page = (run_dir / "index.html").read_text()
    assert '<section id="journeys">' in page
    for manual in manuals().values():
        section = page.split(f'id="journey-manual-{manual.id}"', 1)[1].split('class="journey"')[0]
        for number, wording in enumerate(manual.steps, start=1):
            assert f"Step {number}." in section
            assert escape(wording) in section, wording
        assert section.count("<img ") >= len(manual.steps)
    for key in ("not-linked", "refused-pin-locked", "removal-close-on-removal"):
        assert f'id="journey-{key}"' in page


def test_no_pin_in_any_file_of_the_run(run_dir: Path) -> None:
    """The PINs typed into the pop-ups, as text or as the hex of a VERIFY, appear nowhere."""
    used = ("alice", "bob", "dave", "peggy", "erin", "frank", "grace")
    pins = [load_personas()[name].card.pin for name in used]
    forms = {form for pin in pins for form in (pin, pin.encode().hex(), pin.encode().hex(" "))}
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text(errors="replace").lower()
            found = [form for form in forms if form in text]
            assert not found, f"{path.relative_to(run_dir)} holds a PIN"
