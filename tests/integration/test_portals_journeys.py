"""Both manuals' steps, headless, through the real stack over HTTPS (cis2 + both portals on
their own ports, in-process virtual cards), and every error page the portals have.

Manual 001 (pre-registration) is walked by `bob`, manual 000 (smartcard sign-in) by `alice`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.oidc.flow import FlowError
from conformance.portals.world import Browser, PortalWorld
from reference_service.cis2 import totp
from simulator.personas import get_persona


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalWorld]:
    with PortalWorld(tmp_path_factory.mktemp("portals"), close_on_card_removal=("RX2",)) as w:
        yield w


@pytest.fixture
def browser(world: PortalWorld) -> Iterator[Browser]:
    with world.browser() as b:
        yield b


def code_of(page: str) -> str | None:
    found = re.search(r'id="error-code">([a-z_]+)<', page)
    return found.group(1) if found else None


def test_manual_001_pre_registration_eight_steps(world: PortalWorld, browser: Browser) -> None:
    # 1. Start now >
    start = browser.get("myidentity", "/")
    assert start.status_code == 200 and 'id="start-now" href="/login"' in start.text
    assert "Start now &gt;" in start.text
    # 2. Login with the NHSmail address and password
    home = browser.password_login("myidentity", "bob")
    assert home.url.path == "/home", home.text
    # 3. Home: the NHS Care Identity button
    assert 'id="care-identity"' in home.text and "NHS Care Identity" in home.text
    page = browser.get("myidentity", "/link/care-identity")
    # 4. Continue
    assert 'id="continue"' in page.text
    to_provider = browser.post("myidentity", "/link/care-identity", follow=False)
    # 5-6. Smartcard (chosen when offered) and PIN at the sign-in service
    result, confirm = browser.care_identity("myidentity", to_provider, "bob")
    assert "smartcard" in result.pages
    # 7. Confirmation page with both accounts' details
    assert confirm.url.path == "/link/confirm"
    for expected in (
        'id="nhsmail-name">Bob Jones<',
        'id="nhsmail-email">bob.jones@nhs.net<',
        'id="nhsmail-organisation">NHS Test Trust<',
        'id="ci-name">Bob Jones<',
        'id="ci-uuid">555000000102<',
        "N3_SMARTCARD",
    ):
        assert expected in confirm.text
    assert world.directory().link_for_uuid("555000000102") is None
    done = browser.post("myidentity", "/link/confirm")
    # 8. Success, with the two ways on
    assert done.url.path == "/link/done"
    assert "Go to Link My NHS Accounts Home" in done.text and "Go to NHSmail Portal" in done.text
    assert f'href="{world.url("nhsmail", "")}"' in done.text
    link = world.directory().link_for_uuid("555000000102")
    assert link is not None and link.email == "bob.jones@nhs.net"
    created = [e for e in world.directory().audit_events("link.created") if e["uuid"] == link.uuid]
    assert created and created[-1]["detail"]["via"] == "my_identity_portal"
    assert browser.get("myidentity", "/home").text.count("555000000102") == 1
    # ... and the card now logs in to NHSmail (manual 000)
    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    _, portal = browser.care_identity("nhsmail", to_provider, "bob")
    assert portal.url.path == "/portal" and 'id="email">bob.jones@nhs.net<' in portal.text


def test_manual_000_smartcard_sign_in(world: PortalWorld, browser: Browser) -> None:
    # 1-2. NHSmail Portal, Login top right
    home = browser.get("nhsmail", "/")
    assert 'id="login-link" class="button secondary">Login<' in home.text
    login = browser.get("nhsmail", "/login")
    # 3. Log in with my Care Identity
    assert "Log in with my Care Identity" in login.text
    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    # 4-5. card + PIN; 6. signed in
    _result, portal = browser.care_identity("nhsmail", to_provider, "alice")
    assert portal.url.path == "/portal"
    assert 'id="welcome">Welcome, Alice Smith<' in portal.text
    assert "NHS Care Identity (smartcard)" in portal.text
    # logout ends the session here and at the provider
    out = browser.post("nhsmail", "/logout")
    assert out.url.path == "/signed-out"
    assert browser.get("nhsmail", "/portal").url.path == "/login"


def test_password_login_with_mfa_both_portals(world: PortalWorld, browser: Browser) -> None:
    secret = get_persona("dave").nhsmail.mfa_secret  # type: ignore[union-attr]
    assert secret
    for portal, landing in (("nhsmail", "/portal"), ("myidentity", "/home")):
        page = browser.password_login(portal, "dave")
        assert page.url.path == "/login/mfa"
        wrong = browser.post(portal, "/login/mfa", {"code": "000000"})
        assert wrong.status_code == 401 and "mfa-error" in wrong.text
        step = int(time.time() // 30) + (1 if portal == "myidentity" else 0)
        code = totp.hotp(totp.secret_bytes(secret), step)
        signed = browser.post(portal, "/login/mfa", {"code": code})
        assert signed.url.path == landing, signed.text
        replay = browser.password_login(portal, "dave")
        assert browser.post(portal, "/login/mfa", {"code": code}).status_code == 401
        assert replay.url.path == "/login/mfa"


def test_aup_gate_and_accept(world: PortalWorld, browser: Browser) -> None:
    refused = browser.password_login("myidentity", "carol")
    assert code_of(refused.text) == "aup_not_accepted" and refused.status_code == 403
    assert f'href="{world.url("nhsmail", "/login")}"' in refused.text
    aup = browser.password_login("nhsmail", "carol")
    assert aup.url.path == "/aup" and 'id="accept"' in aup.text
    portal = browser.post("nhsmail", "/aup")
    assert portal.url.path == "/portal"
    assert world.directory().account("carol.taylor@nhs.net").aup_accepted  # type: ignore[union-attr]
    assert browser.password_login("myidentity", "carol").url.path == "/home"


@pytest.mark.parametrize(
    ("persona", "code"), [("niaj", "account_disabled"), ("olivia", "account_locked")]
)
def test_locked_and_disabled_accounts(browser: Browser, persona: str, code: str) -> None:
    for portal in ("nhsmail", "myidentity"):
        assert code_of(browser.password_login(portal, persona).text) == code
    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    _, page = browser.care_identity("nhsmail", to_provider, persona)
    assert code_of(page.text) == code and page.status_code == 403


def test_not_linked_points_to_my_identity_portal(world: PortalWorld, browser: Browser) -> None:
    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    _, page = browser.care_identity("nhsmail", to_provider, "carol")
    assert code_of(page.text) == "not_linked"
    assert f'href="{world.url("myidentity", "")}"' in page.text


def test_lockout_after_repeated_failures(world: PortalWorld, browser: Browser) -> None:
    """Five wrong passwords lock the account's password for a while, at both portals: the
    right one is refused too; the helpdesk's unlock ends the lock."""
    directory = world.directory()
    for attempt in range(1, 5):
        page = browser.password_login("nhsmail", "judy", password=f"Wrong!pass{attempt}")
        assert page.status_code == 401 and "login-error" in page.text
    fifth = browser.password_login("nhsmail", "judy", password="Wrong!5")
    assert code_of(fifth.text) == "too_many_attempts" and fifth.status_code == 429
    assert "Try again later" in fifth.text
    assert code_of(browser.password_login("nhsmail", "judy").text) == "too_many_attempts"
    assert code_of(browser.password_login("myidentity", "judy").text) == "too_many_attempts"
    locked = directory.audit_events("login.locked_out")
    assert [e["email"] for e in locked] == ["judy.wright@nhs.net"]
    assert directory.account("judy.wright@nhs.net").status == "active"  # type: ignore[union-attr]
    directory.set_status("judy.wright@nhs.net", "active", time.time(), "test")
    assert browser.password_login("nhsmail", "judy").url.path == "/portal"


def test_link_conflicts_have_their_pages(world: PortalWorld, browser: Browser) -> None:
    directory = world.directory()
    # mallory's account is linked (seed): "already linked" before even reaching the provider
    browser.password_login("myidentity", "mallory")
    page = browser.get("myidentity", "/link/care-identity")
    assert code_of(page.text) == "account_already_linked"
    # peggy's Care Identity signs in on someone else's account: linked elsewhere
    directory.unlink(time.time(), "test", email="mallory.hughes@nhs.net")
    browser.password_login("myidentity", "mallory")
    to_provider = browser.post("myidentity", "/link/care-identity", follow=False)
    _, page = browser.care_identity("myidentity", to_provider, "alice")
    assert code_of(page.text) == "care_identity_linked_elsewhere" and page.status_code == 409
    # the account got linked meanwhile (another tab): Confirm refuses, nothing half-done
    to_provider = browser.post("myidentity", "/link/care-identity", follow=False)
    _, confirm = browser.care_identity("myidentity", to_provider, "mallory")
    assert confirm.url.path == "/link/confirm"
    directory.link("555000000999", "mallory.hughes@nhs.net", time.time(), "test")
    refused = browser.post("myidentity", "/link/confirm")
    assert code_of(refused.text) == "account_already_linked"
    assert directory.link_for_uuid("555000000111") is None


def test_card_problems_are_reported_by_the_provider(browser: Browser) -> None:
    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    with pytest.raises(FlowError, match="certificate_revoked"):
        browser.care_identity("nhsmail", to_provider, "frank")


def test_session_end_at_card_removal_closes_the_portal_session(
    world: PortalWorld, browser: Browser
) -> None:
    """Legacy policy: the agent ends the provider session; back-channel logout closes ours."""
    import httpx

    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    result, portal = browser.care_identity("nhsmail", to_provider, "alice")
    assert portal.url.path == "/portal" and result.session_end_url
    answer = browser.http.post(result.session_end_url, json={"reason": "card_removed"})
    assert answer.status_code in (200, 204), answer.text
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and browser.get("nhsmail", "/portal").url.path != "/login":
        time.sleep(0.1)
    assert browser.get("nhsmail", "/portal").url.path == "/login"
    closed = world.directory().audit_events("session.closed")
    assert any(e["detail"]["reason"] == "backchannel_logout" for e in closed)
    assert isinstance(httpx, object)


def test_close_on_card_removal_policy(world: PortalWorld, browser: Browser) -> None:
    to_provider = browser.post("nhsmail", "/login/care-identity", follow=False)
    _, portal = browser.care_identity("nhsmail", to_provider, "dave")  # RX2: policy on
    assert 'id="policy"' in portal.text and "/static/portal.js" in portal.text
    closed = browser.post("nhsmail", "/session/card-removed", follow=False)
    assert closed.json() == {"closed": True}
    assert browser.get("nhsmail", "/portal").url.path == "/login"
    with world.browser() as other:  # a new browser: no SSO session of dave's
        to_provider = other.post("nhsmail", "/login/care-identity", follow=False)
        _, portal = other.care_identity("nhsmail", to_provider, "alice")  # RX1: policy off
        assert 'id="policy"' not in portal.text
        assert other.post("nhsmail", "/session/card-removed", follow=False).json() == {
            "closed": False
        }


def test_backchannel_logout_refuses_bad_tokens(world: PortalWorld, browser: Browser) -> None:
    for token in ("", "x.y.z", "a" * 20000):
        answer = browser.post("nhsmail", "/oidc/backchannel-logout", {"logout_token": token})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_no_open_redirect_and_cross_origin_posts(world: PortalWorld, browser: Browser) -> None:
    answer = browser.http.post(
        world.url("nhsmail", "/login/care-identity"), headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    answer = browser.http.get(world.url("nhsmail", "/oidc/callback?state=x&code=y"))
    assert code_of(answer.text) == "state_mismatch"
    out = browser.http.get(world.url("nhsmail", "/signed-out?reason=https://evil.example"))
    assert "evil" not in out.text


def test_pin_never_reaches_the_portals(world: PortalWorld) -> None:
    pins = {p.card.pin for p in (get_persona(n) for n in ("alice", "bob", "dave"))}
    database = Path(world.portals["nhsmail"].database)
    blobs = b"".join(path.read_bytes() for path in database.parent.iterdir() if path.is_file())
    assert not any(pin.encode() in blobs for pin in pins if len(pin) >= 6)
