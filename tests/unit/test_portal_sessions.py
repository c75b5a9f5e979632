"""Attack: anonymous "Log in with my Care Identity" starts must not pile up portal sessions.

Each start stores a pre-sign-in session; they live as long as the sign-in transaction and are
purged once expired, so the table stays small however many starts come in. Live sessions stay.
Also the helpers the other portal attack tests share (an in-process portal over "HTTPS").
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from reference_service.directory.passwords import hash_password
from reference_service.directory.portal import PortalCore
from reference_service.directory.server import build_app
from reference_service.directory.settings import PortalSettings
from reference_service.directory.store import Directory
from tests.unit.test_directory_store import account
from tests.unit.test_nhsmail_backchannel import CLIENT, ISSUER, provider

ORIGINS = {"nhsmail": "https://127.0.0.1:9444", "myidentity": "https://127.0.0.1:9445"}
PASSWORD = "Harbour!Lantern42"
MFA_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
HASH = hash_password(PASSWORD)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def make_portal(
    tmp_path: Path, portal: str = "nhsmail", clock: Clock | None = None
) -> tuple[PortalCore, FastAPI]:
    settings = PortalSettings(
        portal=portal,
        base_url=ORIGINS[portal],
        database=tmp_path / "d.sqlite3",
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret="s" * 32,
        ca_bundle=tmp_path / "ca.pem",
    )
    directory = Directory(settings.database)
    directory.put_account(account("jo.bloggs@nhs.net", password_hash=HASH))
    directory.put_account(account("mfa.user@nhs.net", password_hash=HASH, mfa_secret=MFA_SECRET))
    transport = httpx.MockTransport(provider)
    core = PortalCore(
        settings,
        directory,
        clock=clock or Clock(),
        http=lambda: httpx.Client(transport=transport),
    )
    return core, build_app(settings, core)


def client_for(app: FastAPI, portal: str = "nhsmail") -> TestClient:
    return TestClient(
        app, base_url=ORIGINS[portal], raise_server_exceptions=False, follow_redirects=False
    )


def session_rows(core: PortalCore) -> int:
    with sqlite3.connect(core.settings.database) as db:
        return int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


STARTS = 2000


def test_anonymous_starts_are_purged_and_live_sessions_kept(tmp_path: Path) -> None:
    clock = Clock()
    core, app = make_portal(tmp_path, clock=clock)
    client = client_for(app)
    live = core.new_session({"stage": "signed_in"})
    core.directory.update_session(live, email="jo.bloggs@nhs.net")
    origin = {"Origin": ORIGINS["nhsmail"]}
    for _ in range(STARTS):
        answer = client.post("/login/care-identity", headers=origin)
        assert answer.status_code == 303, answer.text
        client.cookies.clear()
    before = session_rows(core)
    assert before >= STARTS  # each start holds its sign-in state until it expires
    clock.now += 3600.0  # past a sign-in transaction's lifetime, well inside a session's
    assert client.post("/login/care-identity", headers=origin).status_code == 303
    after = session_rows(core)
    print(f"session rows: {before} after {STARTS} starts, {after} after the purge")
    assert after <= 3, after  # the live session and the newest start
    assert core.signed_in(live) is not None, "a live session was purged"
    clock.now += core.settings.session_lifetime
    client.cookies.clear()
    client.post("/login/care-identity", headers=origin)
    assert core.signed_in(live) is None and session_rows(core) <= 2


def test_a_pending_start_lasts_as_long_as_its_sign_in(tmp_path: Path) -> None:
    clock = Clock()
    core, app = make_portal(tmp_path, clock=clock)
    client = client_for(app)
    client.post("/login/care-identity", headers={"Origin": ORIGINS["nhsmail"]})
    token = client.cookies.get("__Host-nhsmail_session")
    session = core.session(token)
    assert session is not None
    assert session.expires - session.created <= 600.0
