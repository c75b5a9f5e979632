"""`careid load --vpcd`: a Locust user whose card sits in a real vpcd slot behind pcscd, its
agent core's PC/SC calls in gevent's threadpool, beside in-process smartcard users."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtests.slo import load_locust_json
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration
ITERATIONS = 3


def test_vpcd_user_signs_in_beside_in_process_users(
    stack: ReaderStack, issue: Callable[..., Path], tmp_path: Path
) -> None:
    slot = stack.layout.slots[0]
    stack.control.insert(issue("alice"), slot.index)
    reports = tmp_path / "reports"
    careid = str(Path(sys.executable).with_name("careid"))
    done = subprocess.run(  # noqa: S603 - our own CLI
        [
            careid,
            "load",
            "--data-dir",
            str(stack.data_dir),
            "--flow",
            "smartcard",
            "--vpcd",
            f"alice@{slot.reader}",
            "--users",
            "2",
            "--spawn-rate",
            "2",
            "--iterations",
            str(ITERATIONS),
            "--time",
            "90s",
            "--pool",
            "10",
            "--report-dir",
            str(reports),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {
        (entry.request_type, entry.name): entry
        for entry in load_locust_json((reports / "latest" / "locust.json").resolve())
    }
    vpcd_flow = rows[("flow", "smartcard sign-in (vpcd)")]
    assert (vpcd_flow.num_requests, vpcd_flow.num_failures) == (ITERATIONS, 0)
    assert rows[("card", "sign (vpcd)")].num_requests == ITERATIONS
    in_process = rows[("flow", "smartcard sign-in")]
    assert (in_process.num_requests, in_process.num_failures) == (ITERATIONS, 0)


def test_vpcd_flow_needs_a_slot(tmp_path: Path) -> None:
    careid = str(Path(sys.executable).with_name("careid"))
    done = subprocess.run(  # noqa: S603 - our own CLI
        [careid, "load", "--flow", "vpcd", "--report-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "--vpcd PERSONA@READER" in done.stderr
