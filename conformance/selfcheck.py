"""The suite self-check: run the card suite against the virtual card in each fault mode.

A suite that passes a broken card proves nothing. Each fault mode of the virtual card
(docs/card.md: Fault modes) must make at least one named requirement fail; the detection
table says which.

    python -m conformance.selfcheck reports/<run-id>      # writes "detection" into results.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conformance.results import read_results, write_results
from simulator.card.faults import Fault

FAULT_MODES = tuple(fault.value for fault in Fault)
CAUGHT_OUTCOMES = {"failed", "error"}
SUBRUN_TIMEOUT = 600


def _fault_command(mode: str, run_dir: Path, data_dir: Path | None) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "conformance.card",
        "--careid-in-process",
        f"--careid-fault={mode}",
        f"--careid-run-dir={run_dir}",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    if data_dir is not None:
        command.append(f"--careid-data-dir={Path(data_dir).resolve()}")
    return command


def _run_fault(mode: str, run_dir: Path, data_dir: Path | None) -> dict[str, Any]:
    sub_dir = run_dir / "selfcheck" / mode
    sub_dir.mkdir(parents=True, exist_ok=True)
    log = sub_dir / "pytest.log"
    with log.open("w", encoding="utf-8") as out:
        subprocess.run(  # noqa: S603 - our own argv
            _fault_command(mode, sub_dir.resolve(), data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=SUBRUN_TIMEOUT,
            check=False,
        )
    try:
        results = read_results(sub_dir / "results.json")
    except (OSError, ValueError) as exc:
        print(f"selfcheck: the {mode} run wrote no results ({exc}); see {log}", file=sys.stderr)
        return {"fault": mode, "caught_by": [], "failed_tests": []}
    failed = [t for t in results["tests"] if t["outcome"] in CAUGHT_OUTCOMES]
    caught = sorted({rid for test in failed for rid in test["requirements"]})
    return {"fault": mode, "caught_by": caught, "failed_tests": [t["nodeid"] for t in failed]}


def run_detection(run_dir: Path, *, data_dir: Path | None = None) -> dict[str, Any]:
    """Run the card suite in-process once per fault mode (in parallel); the detection table.

    Each sub-run writes `<run_dir>/selfcheck/<mode>/`. When `<run_dir>/results.json` exists
    its `detection` is filled in. `ok` is true when every fault is caught by a requirement.
    """
    run_dir = Path(run_dir)
    with ThreadPoolExecutor(max_workers=len(FAULT_MODES)) as pool:
        faults = list(pool.map(lambda mode: _run_fault(mode, run_dir, data_dir), FAULT_MODES))
    detection = {"faults": faults, "ok": all(fault["caught_by"] for fault in faults)}
    main_results = run_dir / "results.json"
    if main_results.exists():
        document = read_results(main_results)
        document["detection"] = detection
        write_results(main_results, document)
    return detection


def format_detection(detection: dict[str, Any]) -> str:
    """The detection table as text, one fault per line."""
    width = max(len(fault["fault"]) for fault in detection["faults"]) + 2
    lines = [f"{'fault':<{width}}caught by"]
    for fault in detection["faults"]:
        caught = ", ".join(fault["caught_by"]) or "NOT CAUGHT"
        tests = len(fault["failed_tests"])
        lines.append(f"{fault['fault']:<{width}}{caught} ({tests} failing tests)")
    lines.append("every fault caught: " + ("yes" if detection["ok"] else "NO"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("run_dir", type=Path, help="the run directory (reports/<run-id>)")
    parser.add_argument("--data-dir", type=Path, default=None, help="data dir with the test PKI")
    args = parser.parse_args(argv)
    detection = run_detection(args.run_dir, data_dir=args.data_dir)
    print(format_detection(detection))
    return 0 if detection["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
