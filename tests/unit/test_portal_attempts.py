"""Attack: guessing an account's password or MFA code at the NHSmail portal.

After N failures in the window the account's password (or code) is locked for a while: the
right one is refused too, with a "too many attempts" page, until the lock is over. The attempt
is counted before the comparison, unknown addresses are limited the same way, and no secret
reaches the audit trail.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reference_service.cis2 import totp
from reference_service.directory import accounts
from reference_service.directory.errors import TooManyAttempts
from tests.unit.test_portal_sessions import (
    MFA_SECRET,
    ORIGINS,
    PASSWORD,
    Clock,
    client_for,
    make_portal,
)

OWN = {"Origin": ORIGINS["nhsmail"]}
N = 5


def code_of(text: str) -> str | None:
    found = re.search(r'id="error-code">([a-z_]+)<', text)
    return found.group(1) if found else None


def test_n_wrong_passwords_then_the_right_one_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    core, app = make_portal(tmp_path, clock=clock)
    client = client_for(app)
    login = {"email": "jo.bloggs@nhs.net", "password": "Wrong!Guess0"}
    for attempt in range(N):
        login["password"] = f"Wrong!Guess{attempt}"
        answer = client.post("/login", data=login, headers=OWN)
        assert answer.status_code in (401, 429), answer.status_code
    right = client.post("/login", data={**login, "password": PASSWORD}, headers=OWN)
    assert right.status_code == 429, (right.status_code, right.headers.get("location"))
    assert code_of(right.text) == "too_many_attempts"
    assert "Try again later" in right.text and "__Host-nhsmail_session" not in right.headers.get(
        "set-cookie", ""
    )
    # the lock is for a while, not for ever
    clock.now += core.settings.lockout_seconds + 1
    again = client.post("/login", data={**login, "password": PASSWORD}, headers=OWN)
    assert again.status_code == 303 and again.headers["location"] == "/portal"


def test_an_unknown_address_gets_the_same_answers(tmp_path: Path) -> None:
    _, app = make_portal(tmp_path)
    client = client_for(app)
    for address in ("jo.bloggs@nhs.net", "nobody.here@nhs.net"):
        answers = [
            client.post("/login", data={"email": address, "password": "Wrong!1"}, headers=OWN)
            for _ in range(N + 1)
        ]
        assert [a.status_code for a in answers] == [401] * (N - 1) + [429, 429], address


def test_n_wrong_mfa_codes_then_the_right_one_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    core, app = make_portal(tmp_path, clock=clock)
    client = client_for(app)
    login = {"email": "mfa.user@nhs.net", "password": PASSWORD}
    right = totp.totp(MFA_SECRET, clock())
    wrong = "000000" if right != "000000" else "111111"
    for attempt in range(N):
        # a fresh password login between guesses must not give the guesses back
        if attempt % 2 == 0:
            client.cookies.clear()
            answer = client.post("/login", data=login, headers=OWN)
            assert answer.headers.get("location") == "/login/mfa", answer.text
        form = {"code": wrong, **csrf(client)}
        assert client.post("/login/mfa", data=form, headers=OWN).status_code in (401, 429)
    client.cookies.clear()
    client.post("/login", data=login, headers=OWN)
    answer = client.post("/login/mfa", data={"code": right, **csrf(client)}, headers=OWN)
    assert answer.status_code == 429, (answer.status_code, answer.headers.get("location"))
    assert code_of(answer.text) == "too_many_attempts"
    session = core.session(client.cookies.get("__Host-nhsmail_session"))
    assert session is None or session.data.get("stage") != "signed_in"


def test_the_attempt_is_spent_before_the_comparison(tmp_path: Path) -> None:
    """A request cut off after the comparison (here: the comparison itself blows up) has
    still cost its attempt."""
    core, _ = make_portal(tmp_path)
    calls = []

    def exploding(password: str, stored: str) -> bool:
        calls.append(1)
        raise KeyboardInterrupt

    original = accounts.verify_password
    accounts.verify_password = exploding  # type: ignore[assignment]
    try:
        for _ in range(N):
            with contextlib.suppress(KeyboardInterrupt):
                core.password_login("jo.bloggs@nhs.net", PASSWORD)
    finally:
        accounts.verify_password = original
    assert len(calls) == N
    with pytest.raises(TooManyAttempts):
        core.password_login("jo.bloggs@nhs.net", PASSWORD)


def test_no_secret_in_the_audit_trail(tmp_path: Path) -> None:
    core, app = make_portal(tmp_path)
    client = client_for(app)
    for _ in range(N + 1):
        client.post(
            "/login", data={"email": "jo.bloggs@nhs.net", "password": "Secret!Guess9"}, headers=OWN
        )
        client.post("/login", data={"email": "Typed!Password7", "password": "x"}, headers=OWN)
    with sqlite3.connect(core.settings.database) as db:
        dump = "\n".join(db.iterdump())
    assert "Secret!Guess9" not in dump and "Typed!Password7" not in dump
    events = {e["event"] for e in core.directory.audit_events()}
    assert "login.too_many_attempts" in events, events
    assert all("Guess" not in json.dumps(e) for e in core.directory.audit_events())


def csrf(client: TestClient) -> dict[str, str]:
    """The anti-CSRF token of the client's current session, from the MFA page."""
    page = client.get("/login/mfa")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    return {"csrf_token": found.group(1)} if found else {}
