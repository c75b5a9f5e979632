"""Confirm killed at random points: a link is whole (row + audit line) or absent, never half.

A child process runs exactly what Confirm runs (`Directory.link`, then the admin's `unlink`)
in a loop over many accounts against a file database; the test SIGKILLs it at a random moment,
then checks the database: integrity, and every link row matched by its `link.created` audit
line and vice versa. Repeated 40 times on the same database.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from reference_service.directory.passwords import hash_password
from reference_service.directory.store import Account, Directory

ACCOUNTS = 50
ROUNDS = 40

CHILD = textwrap.dedent(
    """
    import sys, time
    from reference_service.directory.errors import DirectoryError
    from reference_service.directory.store import Directory
    directory = Directory(sys.argv[1])
    n = int(sys.argv[2])
    print("ready", flush=True)
    i = 0
    while True:
        email, uuid = f"user{i % n}@nhs.net", f"5550{i % n:08d}"
        try:
            directory.link(uuid, email, time.time(), email, via="my_identity_portal")
        except DirectoryError:
            directory.unlink(time.time(), "helpdesk", uuid=uuid, reason="loop")
        i += 1
    """
)


def check(path: Path) -> tuple[int, int]:
    directory = Directory(path)
    try:
        db = directory._db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = {r["link_id"]: (r["uuid"], r["email"]) for r in db.execute("SELECT * FROM links")}
        events: Counter[tuple[str, str]] = Counter()
        pairs = {}
        for event in directory.audit_events():
            if event["event"] in ("link.created", "link.removed"):
                link_id = event["detail"]["link_id"]
                events[(link_id, event["event"])] += 1
                pairs[link_id] = (event["uuid"], event["email"])
        created = {k for (k, e), c in events.items() if e == "link.created"}
        removed = {k for (k, e), c in events.items() if e == "link.removed"}
        assert all(count == 1 for count in events.values())
        assert removed <= created
        assert set(rows) == created - removed, "a link row without its audit line, or reverse"
        assert all(pairs[k] == rows[k] for k in rows)
        return len(created), len(rows)
    finally:
        directory.close()


def test_kill_during_confirm_leaves_whole_links_or_none(tmp_path: Path) -> None:
    path = tmp_path / "directory.sqlite3"
    directory = Directory(path)
    password = hash_password("Seed!Password1")
    for i in range(ACCOUNTS):
        directory.put_account(
            Account(
                f"user{i}@nhs.net",
                f"User {i}",
                "NHS Test Trust",
                "RX1",
                password,
                (),
                None,
                None,
                True,
                "active",
                0,
            )
        )
    directory.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(7)
    started = time.monotonic()
    total = 0
    for _ in range(ROUNDS):
        child = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", CHILD, str(path), str(ACCOUNTS)],
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.0, 0.15))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        total, _ = check(path)
    assert total > ROUNDS, "the child made too few links for the kills to mean anything"
    assert time.monotonic() - started < 120
