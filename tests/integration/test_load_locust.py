"""Locust load runs against the reference provider, Locust always in child processes.

* one process: a short headless run of the smartcard and TOTP flows with zero failures and
  Locust's CSV/HTML/JSON outputs, the SLO verdict and the harness's load page;
* distributed: a master and two workers on loopback doing a fixed number of sign-ins per
  user make exactly the totals one process makes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.pool import Pool, ensure_pool
from loadtests.run import LocustRun, run_locust
from loadtests.slo import check, load_locust_json, parse_slo, total
from loadtests.target import ReferenceProcess, start_reference

USERS = 4
ITERATIONS = 3
# per user: discovery once, then per sign-in: card insert, authorize, login, smartcard page,
# challenge, card sign, smartcard answer, token, and the `flow` row
PER_USER = 1 + ITERATIONS * 9


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Pool]:
    data_dir = tmp_path_factory.mktemp("careid-load-data")
    return data_dir, ensure_pool(data_dir, 40)


@pytest.fixture(scope="module")
def reference(
    pool: tuple[Path, Pool], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReferenceProcess]:
    data_dir, cards = pool
    running = start_reference(data_dir, tmp_path_factory.mktemp("careid-load-ref"), cards)
    try:
        yield running
    finally:
        running.stop()


def _run(reference: ReferenceProcess, pool: Pool, run_dir: Path, **options: object) -> int:
    workers = int(options.get("workers", 0))  # type: ignore[call-overload]
    iterations = int(options.pop("iterations", 0))  # type: ignore[call-overload]
    config = reference.run_config(pool, iterations=iterations, workers=max(1, workers))
    run_dir.mkdir(parents=True)
    run_file = config.save(run_dir / "run.json")
    return run_locust(LocustRun(run_file, run_dir, **options))  # type: ignore[arg-type]


def test_locust_is_not_imported_in_the_test_process() -> None:
    assert "locust" not in sys.modules


def test_headless_run_has_no_failures_and_leaves_reports(
    reference: ReferenceProcess, pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    status = _run(
        reference,
        pool[1],
        run_dir,
        users=3,
        spawn_rate=3,
        run_time=6,
        flows=("smartcard", "totp"),
    )
    assert status == 0, (run_dir / "locust.out").read_text()[-3000:]
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.html", "locust.json"):
        assert (run_dir / name).stat().st_size > 0, name
    entries = load_locust_json(run_dir / "locust.json")
    rows = {e.key: e for e in entries}
    assert rows["flow smartcard sign-in"].num_requests > 0
    assert rows["card sign"].num_requests > 0 and rows["card insert"].num_requests > 0
    assert total(entries).num_failures == 0
    verdict = check(
        parse_slo('[total]\nerror_rate = 0.0\n[requests."card sign"]\nmin_requests = 1\n'), entries
    )
    assert verdict.ok, verdict.checks

    from conformance.report.load_report import write_load_report

    page = write_load_report(run_dir, entries, verdict, locust_status=status).read_text()
    assert "SLOs held" in page and "<svg" in page and "smartcard sign-in" in page


def test_master_and_two_workers_make_the_same_totals_as_one_process(
    reference: ReferenceProcess, pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    counts = {}
    for workers in (0, 2):
        run_dir = tmp_path / f"workers-{workers}"
        status = _run(
            reference,
            pool[1],
            run_dir,
            users=USERS,
            spawn_rate=USERS,
            run_time=60,
            workers=workers,
            iterations=ITERATIONS,
            quit_when_done=True,
        )
        assert status == 0, (run_dir / "locust.out").read_text()[-3000:]
        entries = load_locust_json(run_dir / "locust.json")
        assert total(entries).num_failures == 0
        counts[workers] = {e.key: e.num_requests for e in entries}
    assert counts[0] == counts[2]
    assert counts[2]["flow smartcard sign-in"] == USERS * ITERATIONS
    assert sum(counts[2].values()) == USERS * PER_USER
    assert json.loads((tmp_path / "workers-2" / "run.json").read_text())["workers"] == 2
