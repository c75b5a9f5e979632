"""Locust load runs against the reference stack, Locust always in child processes.

* one process: a short headless run of the smartcard and TOTP flows with zero failures and
  Locust's CSV/HTML/JSON outputs, the SLO verdict and the harness's load page;
* distributed: a master and two workers on loopback doing a fixed number of sign-ins per
  user make exactly the totals one process makes;
* the portal flows (NHSmail sign-in with Care Identity, linking, password + MFA), each in a
  run bounded by iterations: no failure and the expected rows; a weighted mix; the links in
  the directory after linking (and linked again through an audited unlink); a broken link
  counted as a failure.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.accounts import email, linking_personas, signed_in_personas
from loadtests.pool import Pool, ensure_pool
from loadtests.run import LocustRun, parse_flows, run_locust
from loadtests.slo import EntryStats, check, load_locust_json, parse_slo, total
from loadtests.target import ReferenceStack, start_reference
from reference_service.directory.store import Directory

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
) -> Iterator[ReferenceStack]:
    data_dir, cards = pool
    running = start_reference(data_dir, tmp_path_factory.mktemp("careid-load-ref"), cards)
    try:
        yield running
    finally:
        running.stop()


def _run(reference: ReferenceStack, pool: Pool, run_dir: Path, **options: object) -> int:
    workers = int(options.get("workers", 0))  # type: ignore[call-overload]
    iterations = int(options.pop("iterations", 0))  # type: ignore[call-overload]
    weights = options.pop("weights", {})
    config = reference.run_config(
        pool,
        iterations=iterations,
        workers=max(1, workers),
        weights=weights,  # type: ignore[arg-type]
    )
    run_dir.mkdir(parents=True)
    run_file = config.save(run_dir / "run.json")
    return run_locust(LocustRun(run_file, run_dir, **options))  # type: ignore[arg-type]


def _bounded(
    reference: ReferenceStack,
    pool: Pool,
    run_dir: Path,
    flows: tuple[str, ...],
    *,
    users: int = 2,
    iterations: int = 2,
    workers: int = 0,
) -> tuple[int, dict[str, EntryStats]]:
    """A run of `users` × `iterations` of the flows (`name[:weight]`); status and rows."""
    names, weights = parse_flows(flows)
    status = _run(
        reference,
        pool,
        run_dir,
        users=users,
        spawn_rate=users,
        run_time=60,
        flows=names,
        weights=weights,
        iterations=iterations,
        workers=workers,
        quit_when_done=True,
    )
    return status, {e.key: e for e in load_locust_json(run_dir / "locust.json")}


def test_locust_is_not_imported_in_the_test_process() -> None:
    assert "locust" not in sys.modules


def test_headless_run_has_no_failures_and_leaves_reports(
    reference: ReferenceStack, pool: tuple[Path, Pool], tmp_path: Path
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
    reference: ReferenceStack, pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    counts = {}
    for workers in (0, 2):
        run_dir = tmp_path / f"workers-{workers}"
        status, rows = _bounded(
            reference,
            pool[1],
            run_dir,
            ("smartcard",),
            users=USERS,
            iterations=ITERATIONS,
            workers=workers,
        )
        assert status == 0, (run_dir / "locust.out").read_text()[-3000:]
        assert total(list(rows.values())).num_failures == 0
        counts[workers] = {key: entry.num_requests for key, entry in rows.items()}
    assert counts[0] == counts[2]
    assert counts[2]["flow smartcard sign-in"] == USERS * ITERATIONS
    assert sum(counts[2].values()) == USERS * PER_USER
    assert json.loads((tmp_path / "workers-2" / "run.json").read_text())["workers"] == 2


# Portal flows: rows each iteration makes (besides the provider's smartcard steps).
PORTAL_ROWS = {
    "nhsmail": [
        "flow nhsmail sign-in",
        "card insert",
        "card sign",
        "GET nhsmail /login",
        "POST nhsmail /login/care-identity",
        "GET nhsmail /oidc/callback",
        "GET nhsmail /portal",
        "POST /login/{id}/smartcard",
    ],
    "linking": [
        "flow linking",
        "card insert",
        "card sign",
        "POST myidentity /login",
        "GET myidentity /home",
        "POST myidentity /link/care-identity",
        "GET myidentity /oidc/callback",
        "POST myidentity /link/confirm",
        "GET myidentity /link/done",
    ],
    "password": [
        "flow password sign-in",
        "GET nhsmail /login",
        "POST nhsmail /login",
        "POST nhsmail /login/mfa",
        "GET nhsmail /portal",
    ],
}
FLOW_ROWS = {
    "nhsmail": "flow nhsmail sign-in",
    "linking": "flow linking",
    "password": "flow password sign-in",
}


@pytest.mark.parametrize("flow", ["nhsmail", "password"])
def test_portal_flow_runs_without_failures(
    reference: ReferenceStack, pool: tuple[Path, Pool], tmp_path: Path, flow: str
) -> None:
    status, rows = _bounded(reference, pool[1], tmp_path / "run", (flow,))
    assert status == 0, (tmp_path / "run" / "locust.out").read_text()[-3000:]
    assert total(list(rows.values())).num_failures == 0
    missing = [name for name in PORTAL_ROWS[flow] if name not in rows]
    assert not missing, sorted(rows)
    assert rows[FLOW_ROWS[flow]].num_requests == 2 * 2


def test_linking_links_in_the_directory_then_again_after_an_audited_unlink(
    reference: ReferenceStack, pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    personas = linking_personas(pool[1].personas)[:4]  # 2 users × 2: the first four pairs
    directory = Directory(reference.database)
    created_before = len(directory.audit_events("link.created"))
    removed_before = len(directory.audit_events("link.removed"))
    for persona in personas:  # whatever another test left: these pairs start unlinked
        if directory.link_for_uuid(persona.uuid) is not None:
            directory.unlink(time.time(), "test", uuid=persona.uuid)
    for lap in (1, 2):
        run_dir = tmp_path / f"lap{lap}"
        status, rows = _bounded(reference, pool[1], run_dir, ("linking",))
        assert status == 0, (run_dir / "locust.out").read_text()[-3000:]
        assert total(list(rows.values())).num_failures == 0
        missing = [name for name in PORTAL_ROWS["linking"] if name not in rows]
        assert not missing, sorted(rows)
        assert rows["flow linking"].num_requests == 4
        for persona in personas:
            link = directory.link_for_uuid(persona.uuid)
            assert link is not None and link.email == email(persona)
        # each Locust process starts at the first pair: the second lap unlinks them first
        unlinks = rows["directory unlink"].num_requests if "directory unlink" in rows else 0
        assert unlinks == (0 if lap == 1 else 4)
    created = directory.audit_events("link.created")[created_before:]
    removed = directory.audit_events("link.removed")[removed_before:]
    assert {e["detail"].get("via") for e in created} == {"my_identity_portal"}
    assert {e["uuid"] for e in created} == {p.uuid for p in personas} and len(created) == 8
    assert len(removed) == 4 and {e["actor"] for e in removed} == {"careid-load"}


def test_weighted_mix_of_portal_flows(
    reference: ReferenceStack, pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    # 4 users at weights 3:1 are 3 NHSmail users and 1 linking user. (Not the password
    # flow: a new Locust process within 30 s of the password test would offer a TOTP step
    # that test's process already spent on the same account.)
    status, rows = _bounded(
        reference, pool[1], tmp_path / "run", ("nhsmail:3", "linking:1"), users=4
    )
    assert status == 0, (tmp_path / "run" / "locust.out").read_text()[-3000:]
    assert total(list(rows.values())).num_failures == 0
    assert rows["flow nhsmail sign-in"].num_requests == 3 * 2
    assert rows["flow linking"].num_requests == 1 * 2


def test_an_unlinked_card_fails_the_nhsmail_sign_in(
    reference: ReferenceStack, pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    first = signed_in_personas(pool[1].personas)[0]  # the first card a process inserts
    directory = Directory(reference.database)
    directory.unlink(time.time(), "test", uuid=first.uuid, reason="broken on purpose")
    try:
        status, rows = _bounded(reference, pool[1], tmp_path / "run", ("nhsmail",), users=1)
    finally:
        directory.link(first.uuid, email(first), time.time(), "test")
    flow = rows["flow nhsmail sign-in"]
    assert status != 0
    assert (flow.num_requests, flow.num_failures) == (2, 1)
    failures = (tmp_path / "run" / "locust_failures.csv").read_text()
    assert "not_linked" in failures


def test_careid_load_starts_the_whole_stack_and_runs_the_three_portal_flows(
    pool: tuple[Path, Pool], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from conformance.cli.load import load

    data_dir, cards = pool
    arguments = ["--data-dir", str(data_dir), "--pool", str(len(cards.personas))]
    arguments += ["--report-dir", str(tmp_path), "-u", "3", "-r", "3", "--iterations", "1"]
    arguments += ["--flow", "nhsmail:1", "--flow", "linking:1", "--flow", "password:1"]
    result = CliRunner().invoke(load, arguments)
    assert result.exit_code == 0, result.output
    assert "reference stack" in result.output and "My Identity Portal" in result.output
    for row in ("nhsmail sign-in: 1 (0 failed)", "linking: 1 (0 failed)", "password sign-in: 1"):
        assert row in result.output
    run = json.loads((tmp_path / "latest" / "run.json").read_text())
    assert run["weights"] == {"nhsmail": 1, "linking": 1, "password": 1}
