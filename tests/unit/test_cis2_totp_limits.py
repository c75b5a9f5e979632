"""Attack: guessing authenticator-app (TOTP) codes. Failed codes are limited per sign-in
transaction and per Care Identity number; a locked second factor refuses the right code too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conformance.oidc.reference import BASE_URL, ReferenceWorld, authorize_url
from reference_service.cis2.config import Settings, load_settings
from reference_service.cis2.totp import STEP, totp

DAVE_UUID = "555000000104"  # the persona with an authenticator app
NOBODY_UUID = "555000000999"  # no such Care Identity


@pytest.fixture
def world(tmp_path: Path) -> ReferenceWorld:
    return ReferenceWorld.create(tmp_path)  # a fresh database: counters do not leak


@pytest.fixture
def http(world: ReferenceWorld) -> Iterator[TestClient]:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def secret_of(world: ReferenceWorld, uuid: str = DAVE_UUID) -> str:
    users = json.loads(world.settings.users.read_text())["users"]
    return str(next(u for u in users if u["uuid"] == uuid)["totp_secret"])


def right_code(world: ReferenceWorld) -> str:
    return totp(secret_of(world), world.clock())


def wrong_code(world: ReferenceWorld) -> str:
    """A code no step of the accepted window (-1, 0, +1) matches."""
    secret = secret_of(world)
    valid = {totp(secret, world.clock() + d * STEP) for d in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1000, 2000) if f"{n:06d}" not in valid)


def totp_page(world: ReferenceWorld, http: TestClient) -> str:
    """A new sign-in transaction, through the chooser to the authenticator-app page."""
    url = authorize_url(world, acr_values="AAL2_ANY", prompt="login")  # never the SSO session
    login = http.get(url).headers["location"]
    chosen = http.post(login, data={"mechanism": "totp"})
    assert chosen.is_redirect and chosen.headers["location"].endswith("/totp")
    return str(chosen.headers["location"])


def signed_in(answer: object) -> bool:
    location = getattr(answer, "headers", {}).get("location", "")
    return "code=" in location


def test_many_wrong_codes_in_one_transaction_then_the_right_code_is_refused(
    world: ReferenceWorld, http: TestClient
) -> None:
    page = totp_page(world, http)
    answers = [
        http.post(page, data={"uuid": DAVE_UUID, "code": wrong_code(world)}) for _ in range(30)
    ]
    statuses = [a.status_code for a in answers]
    wrong = world.settings.totp_max_failures_per_transaction
    assert statuses[:wrong] == [403] * wrong, statuses
    assert set(statuses[wrong:]) == {429}, statuses  # nothing is compared any more
    right = http.post(page, data={"uuid": DAVE_UUID, "code": right_code(world)})
    assert not signed_in(right) and right.status_code == 429
    assert "Too many wrong codes" in right.text


def test_wrong_codes_across_transactions_lock_the_user_then_the_right_code_is_refused(
    world: ReferenceWorld, http: TestClient
) -> None:
    limit = world.settings.totp_max_failures
    for _ in range(limit):
        page = totp_page(world, http)  # a new transaction each time
        answer = http.post(page, data={"uuid": DAVE_UUID, "code": wrong_code(world)})
        assert answer.status_code == 403
    page = totp_page(world, http)
    right = http.post(page, data={"uuid": DAVE_UUID, "code": right_code(world)})
    assert not signed_in(right)
    assert right.status_code == 429
    assert "Too many wrong codes: try again after " in right.text
    events = [e for e in world.audit_events if e["event"].startswith("totp_")]
    assert [e["event"] for e in events] == ["totp_locked", "totp_refused_locked"]
    assert events[0]["uuid"] == DAVE_UUID and events[0]["until"] > world.clock()
    code = right_code(world)
    assert not any(code in json.dumps(e) for e in world.audit_events)  # never a code
    # The lock ends after the lockout; a right code is accepted then.
    world.clock.advance(world.settings.totp_lockout + STEP)
    page = totp_page(world, http)
    assert signed_in(http.post(page, data={"uuid": DAVE_UUID, "code": right_code(world)}))


def test_a_right_code_forgets_earlier_failures(world: ReferenceWorld, http: TestClient) -> None:
    limit = world.settings.totp_max_failures
    for _ in range(limit - 1):
        http.post(totp_page(world, http), data={"uuid": DAVE_UUID, "code": wrong_code(world)})
    assert signed_in(
        http.post(totp_page(world, http), data={"uuid": DAVE_UUID, "code": right_code(world)})
    )
    answer = http.post(totp_page(world, http), data={"uuid": DAVE_UUID, "code": wrong_code(world)})
    assert answer.status_code == 403  # counted from zero again


def test_an_unknown_number_locks_the_same_way(world: ReferenceWorld, http: TestClient) -> None:
    """The lock page does not tell whether the Care Identity number exists."""
    limit = world.settings.totp_max_failures
    pages = {}
    for uuid in (DAVE_UUID, NOBODY_UUID):
        statuses = []
        for _ in range(limit + 1):
            answer = http.post(totp_page(world, http), data={"uuid": uuid, "code": "000000"})
            statuses.append(answer.status_code)
        assert statuses == [403] * limit + [429]
        pages[uuid] = re.sub(r"/login/[^\"]+", "/login/TX", answer.text)  # the retry link
    assert pages[DAVE_UUID] == pages[NOBODY_UUID]


def test_purge_forgets_counters_after_the_window(world: ReferenceWorld, http: TestClient) -> None:
    http.post(totp_page(world, http), data={"uuid": DAVE_UUID, "code": wrong_code(world)})
    provider = world.provider

    def rows() -> int:
        with provider.store.transaction() as db:
            return int(db.execute("SELECT COUNT(*) FROM failed_attempts").fetchone()[0])

    assert rows() == 2  # the transaction's counter and the user's
    provider.purge(force=True)
    assert rows() == 2
    world.clock.advance(world.settings.totp_window + 1)
    provider.purge(force=True)
    assert rows() == 0


def test_limits_are_settings(tmp_path: Path) -> None:
    path = tmp_path / "cis2.toml"
    path.write_text(
        'base_url = "https://127.0.0.1:9443"\ndata_dir = "d"\nca_bundle = "c"\nusers = "u"\n'
        'clients = "k"\ntotp_max_failures = 7\ntotp_window = 60.0\ntotp_lockout = 120.0\n'
        "totp_max_failures_per_transaction = 2\n"
    )
    settings = load_settings(path)
    assert (settings.totp_max_failures, settings.totp_window, settings.totp_lockout) == (
        7,
        60.0,
        120.0,
    )
    assert settings.totp_max_failures_per_transaction == 2
    defaults = Settings("https://127.0.0.1:9443", Path("d"), Path("c"), Path("u"), Path("k"))
    assert defaults.totp_max_failures == 5 and defaults.totp_lockout == 900.0
