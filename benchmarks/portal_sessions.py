"""Anonymous "Log in with my Care Identity" starts: portal sessions and memory stay flat.

Each start stores a pre-sign-in session in the portal's SQLite database. The portal core runs
in this process (the provider's discovery document answered in-process: only the portal's
storage is measured); the clock advances 50 ms per start, so 100,000 starts span 83 minutes,
eight times the pre-sign-in lifetime. Every 10 % the table's rows, the database file and this
process's resident memory are printed: all three level off instead of growing with the starts
(rows at the starts one pre-sign-in lifetime holds: 600 s / 50 ms = 12,000).

Run: .venv/bin/python benchmarks/portal_sessions.py [--starts N]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from reference_service.directory.portal import PortalCore
from reference_service.directory.settings import PortalSettings
from reference_service.directory.store import Directory

ISSUER = "https://127.0.0.1:9443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
SECONDS_PER_START = 0.05


def _discovery(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"issuer": ISSUER, "authorization_endpoint": ISSUER + "/a"})


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "directory.sqlite3"
        settings = PortalSettings(
            portal="nhsmail",
            base_url="https://127.0.0.1:9444",
            database=database,
            issuer=ISSUER,
            client_id="nhsmail",
            client_secret="s" * 32,
            ca_bundle=Path(tmp) / "ca.pem",
        )
        clock = Clock()
        transport = httpx.MockTransport(_discovery)
        core = PortalCore(
            settings,
            Directory(database),
            clock=clock,
            http=lambda: httpx.Client(transport=transport),
        )
        print(f"{'starts':>8} {'rows':>7} {'db MiB':>7} {'RSS MiB':>8} {'starts/s':>9}")
        started = time.perf_counter()
        step = max(1, args.starts // 10)
        for done in range(1, args.starts + 1):
            core.begin_care_identity(None, "login")
            clock.now += SECONDS_PER_START
            if done % step == 0:
                with sqlite3.connect(database) as db:
                    rows = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
                size = sum(p.stat().st_size for p in Path(tmp).glob("directory.sqlite3*"))
                rate = done / (time.perf_counter() - started)
                print(f"{done:>8} {rows:>7} {size / 2**20:>7.1f} {_rss_mib():>8.1f} {rate:>9.0f}")


if __name__ == "__main__":
    main()
