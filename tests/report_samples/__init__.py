"""A hand-made careid-results/1 run (16 card requirements, every outcome, a detection table)
and helpers to copy it into a test's folder and change it."""

from __future__ import annotations

import json
import shutil
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
