"""A hand-made careid-results/1 run (16 card requirements, every outcome, a detection table)
and helpers to copy it into a test's folder and change it."""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SAMPLE_RUN = Path(__file__).with_name("card-run")

Document = dict[str, Any]


def copy_sample(reports: Path, run_id: str = "run-1") -> Path:
    """Copy the sample run to `reports/<run_id>/` and return that folder."""
    run_dir = reports / run_id
    shutil.copytree(SAMPLE_RUN, run_dir)
    edit_results(run_dir, lambda doc: doc.update(run_id=run_id))
    return run_dir


def sample_document() -> Document:
    document: Document = json.loads((SAMPLE_RUN / "results.json").read_text(encoding="utf-8"))
    return document


def edit_results(run_dir: Path, change: Callable[[Document], object]) -> None:
    """Apply `change` to run_dir/results.json in place."""
    path = run_dir / "results.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def all_passed(document: Document) -> None:
    """Turn the sample into a clean run: every test passed, every fault mode caught."""
    for test in document["tests"]:
        test["outcome"] = "passed"
        test["waiver"] = None
    if document["detection"] is not None:
        document["detection"]["ok"] = True
        for fault in document["detection"]["faults"]:
            fault["caught_by"] = fault["caught_by"] or ["CARD-SIG-001"]


# --- a run of every suite with one failure among many passes ------------------------------------

MIXED_SUITE = "agent,card,cis2,journeys,oidc"  # as the plugin names an `--suite all` run
MIXED_FAILURE = "conformance/journeys/test_manuals.py::test_manual_000_sign_in[series9]"
MIXED_FAILURE_REQUIREMENT = "JOURNEY-SIGNIN-001"
MIXED_FAILURE_MESSAGE = "the NHSmail inbox never appeared: stopped at step 5 (PIN dialog closed)"
MIXED_TARGET = {
    "issuer": "https://127.0.0.1:9443/openam/oauth2/realms/root/realms/oidc",
    "provider": "reference provider (reference_service.cis2), started by the suite",
    "profile": "cis2",
    "agent": "https://127.0.0.1:7443",
    "origin": "https://127.0.0.1:8443",
    "agent_readers": "Virtual PCD 00 01",
    "journeys_reader": "Virtual PCD 00 02",
    "nhsmail": "https://127.0.0.1:9444/",
    "myidentity": "https://127.0.0.1:9445/",
    "browser": "/usr/bin/chromium 156.0.8078.114",
}
# (suite, module, requirement prefix, how many requirements, tests per requirement)
_MIXED_SUITES = (
    ("card", "test_pin", "CARD-PIN", 12, 4),
    ("agent", "test_sign", "AGENT-SIGN", 8, 4),
    ("oidc", "test_claims", "CIS2-CLAIMS", 10, 4),
    ("journeys", "test_manuals", "JOURNEY-SIGNIN", 4, 3),
)
# A parameter id with no natural break: the Tests column must wrap it, not clip it.
LONG_PARAM = "persona-alice-" + "9f" * 40


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (the journeys' screenshots in the sample)."""
    row = b"\x00" + bytes(rgb) * width

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    pixels = zlib.compress(row * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def mixed_document() -> Document:
    """Every suite in one run: 130 passing tests and one failed journey (the last suite)."""
    document = sample_document()
    document.update(suite=MIXED_SUITE, detection=None)
    document["target"].update(MIXED_TARGET)
    requirements, tests = [], []
    started = document["started"]
    for suite, module, prefix, count, per in _MIXED_SUITES:
        for number in range(1, count + 1):
            req_id = f"{prefix}-{number:03d}"
            requirements.append(
                {
                    "id": req_id,
                    "statement": f"{suite} behaviour number {number} holds for every persona.",
                    "source": f"careid catalog, {suite} suite",
                    "profiles": ["virtual", "physical"],
                }
            )
            for case in range(per):
                param = LONG_PARAM if (number, case) == (1, 0) else f"case{case}"
                name = f"test_{prefix.lower().replace('-', '_')}_{number:03d}[{param}]"
                transcript = None
                if suite in ("card", "agent"):
                    transcript = "transcripts/000-test_select_piv.txt"
                tests.append(
                    {
                        "nodeid": f"conformance/{suite}/{module}.py::{name}",
                        "name": name,
                        "description": f"{req_id}, case {case}.",
                        "requirements": [req_id],
                        "outcome": "passed",
                        "expected": "as the requirement says",
                        "actual": "as expected",
                        "duration": 0.05,
                        "transcript": transcript,
                        "waiver": None,
                        "started": started,
                    }
                )
    failed = next(t for t in tests if t["requirements"] == [MIXED_FAILURE_REQUIREMENT])
    failed.update(
        nodeid=MIXED_FAILURE,
        name=MIXED_FAILURE.split("::")[1],
        outcome="failed",
        actual=MIXED_FAILURE_MESSAGE,
    )
    document["requirements"] = requirements
    document["tests"] = tests
    return document


def write_mixed_run(reports: Path, run_id: str = "run-mixed") -> Path:
    """`reports/<run_id>/`: mixed_document() with the failed journey's record and screenshots."""
    run_dir = copy_sample(reports, run_id)
    document = mixed_document()
    document["run_id"] = run_id
    (run_dir / "results.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    shots = run_dir / "screenshots" / "journeys"
    shots.mkdir(parents=True)
    steps = []
    for number, (caption, colour) in enumerate(
        [("The NHSmail Portal", (40, 90, 160)), ("PIN dialog", (160, 60, 40))], start=1
    ):
        file = f"screenshots/journeys/manual-000-{number:02d}.png"
        (run_dir / file).write_bytes(_png(320, 200, colour))
        steps.append(
            {
                "label": str(number),
                "wording": caption,
                "shots": [{"file": file, "caption": caption}],
            }
        )
    record = {
        "schema": "careid-journey/1",
        "key": "manual-000",
        "title": "Sign in with a smartcard",
        "manual": {"id": "000", "title": "Sign In", "source": "000_89104e18e0060c69.txt"},
        "requirement": MIXED_FAILURE_REQUIREMENT,
        "test": MIXED_FAILURE,
        "outcome": "failed",
        "message": MIXED_FAILURE_MESSAGE,
        "steps": steps,
    }
    (run_dir / "journeys").mkdir()
    (run_dir / "journeys" / "manual-000.json").write_text(json.dumps(record), encoding="utf-8")
    return run_dir
