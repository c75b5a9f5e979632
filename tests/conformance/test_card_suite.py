"""The real card suite end to end: in-process, over PC/SC, and against every fault mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import default_catalog
from conformance.runner import run_suite
from conformance.selfcheck import FAULT_MODES, format_detection, run_detection
from simulator.personas import get_persona
from simulator.piv.constants import pad_pin


def _results(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def _check_all_pass(results: dict[str, Any], allowed_skips: set[str]) -> None:
    assert results["self_check"] == {"ok": True, "problems": []}
    bad = [t for t in results["tests"] if t["outcome"] not in ("passed", "skipped")]
    assert not bad, [(t["nodeid"], t["actual"]) for t in bad]
    skipped = {r for t in results["tests"] if t["outcome"] == "skipped" for r in t["requirements"]}
    assert skipped <= allowed_skips, skipped
    catalog_ids = {r.id for r in default_catalog().for_suite("card")}
    assert {r["id"] for r in results["requirements"]} == catalog_ids
    tested = {r for t in results["tests"] for r in t["requirements"]}
    assert tested == catalog_ids


def test_card_suite_in_process(tmp_path: Path, careid_data_dir: Path) -> None:
    run_dir = tmp_path / "run"
    code = run_suite(
        "card",
        run_dir=run_dir,
        in_process=True,
        extra_args=[f"--careid-data-dir={careid_data_dir}", "-q"],
    )
    results = _results(run_dir)
    assert code == 0
    assert results["target"]["kind"] == "in-process"
    assert results["target"]["uuid"] == "555000000101"
    assert results["target"]["persona"] == "alice"
    _check_all_pass(results, allowed_skips={"CARD-SEC-005"})  # removal needs a reader
    assert (run_dir / "junit.xml").exists()
    transcript = run_dir / results["tests"][0]["transcript"]
    assert transcript.read_text().startswith("# APDU transcript")


@pytest.mark.integration
def test_card_suite_over_pcsc(tmp_path: Path, careid_data_dir: Path) -> None:
    run_dir = tmp_path / "run"
    code = run_suite(
        "card", run_dir=run_dir, extra_args=[f"--careid-data-dir={careid_data_dir}", "-q"]
    )
    results = _results(run_dir)
    assert code == 0
    assert results["target"]["kind"] == "virtual"
    assert results["target"]["reader"].startswith(("CareID Virtual Reader", "Virtual PCD"))
    _check_all_pass(results, allowed_skips=set())
    # The PIN never reaches a transcript.
    verify_lines = [
        line
        for path in (run_dir / "transcripts").iterdir()
        for line in path.read_text().splitlines()
        if "> 00 20 00 80 08" in line
    ]
    assert verify_lines
    assert all(line.endswith("** ** ** ** ** ** ** **") for line in verify_lines)


def test_every_fault_mode_is_caught(tmp_path: Path, careid_data_dir: Path) -> None:
    (tmp_path / "results.json").write_text(
        json.dumps({"schema": "careid-results/1", "detection": None})
    )
    detection = run_detection(tmp_path, data_dir=careid_data_dir)
    print(format_detection(detection))
    assert [fault["fault"] for fault in detection["faults"]] == list(FAULT_MODES)
    for fault in detection["faults"]:
        assert fault["caught_by"], f"{fault['fault']} was not caught"
        assert fault["failed_tests"]
    assert detection["ok"] is True
    assert _results(tmp_path)["detection"] == detection
    wrong_sw = detection["faults"][0]
    assert "CARD-PIN-004" in wrong_sw["caught_by"]
    # Failing tests print their arguments; the PIN and PUK must not be among what they print.
    persona = get_persona("alice")
    secrets = [persona.card.pin, persona.card.puk]
    secrets += [pad_pin(value).hex(" ").upper() for value in (persona.card.pin, persona.card.puk)]
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "junit.xml" for path in written)
    for path in written:
        text = path.read_text(errors="replace")
        leaked = [value for value in secrets if value in text]
        assert not leaked, f"a PIN or PUK is written in {path.relative_to(tmp_path)}"
