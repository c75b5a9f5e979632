"""Attack: cross-site request forgery of the portals' state-changing posts.

The victim's browser holds a My Identity Portal session waiting at the confirmation page (the
Care Identity sign-in done); another site makes it post Confirm. Without the page's anti-CSRF
token, or from another origin, or with neither Origin nor `Sec-Fetch-Site: same-origin`, the
post is refused with a 403 page and nothing is linked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reference_service.directory.portal import PortalCore
from tests.unit.test_portal_sessions import (
    ORIGINS,
    PASSWORD,
    Clock,
    client_for,
    make_portal,
)

UUID = "555000000777"
EMAIL = "jo.bloggs@nhs.net"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def at_confirmation(tmp_path: Path) -> tuple[PortalCore, TestClient, str]:
    """A browser signed in to My Identity Portal with a Care Identity waiting for Confirm."""
    clock = Clock()
    core, app = make_portal(tmp_path, "myidentity", clock)
    client = client_for(app, "myidentity")
    login = client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD},
        headers={"Origin": ORIGINS["myidentity"]},
    )
    assert login.status_code == 303 and login.headers["location"] == "/home", login.text
    token = client.cookies.get("__Host-myidentity_session")
    session = core.session(token)
    assert token and session is not None
    candidate = {"uuid": UUID, "name": "Jo Bloggs", "organisations": "", "at": clock()}
    core.directory.update_session(token, data={**session.data, "candidate": candidate})
    page = client.get("/link/confirm")
    assert page.status_code == 200 and 'id="ci-uuid">555000000777<' in page.text
    return core, client, page.text


FORGED = {
    "no Origin, no token": {},
    "foreign Origin": {"Origin": "https://evil.example"},
    "foreign Origin, cross-site fetch": {
        "Origin": "https://evil.example",
        "Sec-Fetch-Site": "cross-site",
    },
    "Origin null": {"Origin": "null"},
    "own Origin but no token": {"Origin": ORIGINS["myidentity"]},
    "same-origin fetch but no token": {"Sec-Fetch-Site": "same-origin"},
}


@pytest.mark.parametrize("headers", FORGED.values(), ids=FORGED.keys())
def test_forged_confirm_is_refused_and_links_nothing(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    core, client, _ = at_confirmation(tmp_path)
    answer = client.post("/link/confirm", headers=headers)
    assert answer.status_code == 403, (answer.status_code, answer.headers.get("location"))
    assert 'id="error-code">cross_site_request<' in answer.text
    assert core.directory.link_for_uuid(UUID) is None
    assert core.directory.link_for_email(EMAIL) is None
    assert "555000000777" not in client.get("/home").text  # the account shows no linked card


@pytest.mark.parametrize("token", ["", "x" * 43, "\u00e9" * 10])
def test_a_wrong_token_is_refused(tmp_path: Path, token: str) -> None:
    core, client, _ = at_confirmation(tmp_path)
    answer = client.post(
        "/link/confirm", data={"csrf_token": token}, headers={"Origin": ORIGINS["myidentity"]}
    )
    assert answer.status_code == 403 and core.directory.link_for_uuid(UUID) is None


def test_another_sessions_token_is_refused(tmp_path: Path) -> None:
    core, client, _ = at_confirmation(tmp_path)
    other = core.new_session({"stage": "signed_in"})
    stolen = core.session(other)
    assert stolen is not None
    answer = client.post(
        "/link/confirm",
        data={"csrf_token": str(stolen.data.get("csrf"))},
        headers={"Origin": ORIGINS["myidentity"]},
    )
    assert answer.status_code == 403 and core.directory.link_for_uuid(UUID) is None


@pytest.mark.parametrize(
    "headers", [{"Origin": ORIGINS["myidentity"]}, {"Sec-Fetch-Site": "same-origin"}]
)
def test_the_pages_own_post_links(tmp_path: Path, headers: dict[str, str]) -> None:
    core, client, page = at_confirmation(tmp_path)
    found = CSRF.search(page)
    assert found, "the Confirm form carries the anti-CSRF token"
    answer = client.post("/link/confirm", data={"csrf_token": found.group(1)}, headers=headers)
    assert answer.status_code == 303 and answer.headers["location"] == "/link/done"
    link = core.directory.link_for_uuid(UUID)
    assert link is not None and link.email == EMAIL


def test_session_cookies_are_samesite_lax(tmp_path: Path) -> None:
    _, client, _ = at_confirmation(tmp_path)
    client.cookies.clear()
    answer = client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD},
        headers={"Origin": ORIGINS["myidentity"]},
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "samesite=lax" in cookie and "secure" in cookie and "httponly" in cookie


# Every state-changing post of both portals (the back-channel logout is server to server,
# authenticated by its signed token, and carries no cookie).
SIGNED_IN_POSTS = {
    "nhsmail": ["/logout", "/aup", "/account/mfa", "/account/password", "/login/care-identity"],
    "myidentity": ["/logout", "/link/care-identity", "/link/confirm"],
}


@pytest.mark.parametrize(
    ("portal", "path"),
    [(portal, path) for portal, paths in SIGNED_IN_POSTS.items() for path in paths],
)
def test_every_post_of_a_session_needs_its_token(tmp_path: Path, portal: str, path: str) -> None:
    core, app = make_portal(tmp_path, portal)
    client = client_for(app, portal)
    own = {"Origin": ORIGINS[portal]}
    login = client.post("/login", data={"email": EMAIL, "password": PASSWORD}, headers=own)
    assert login.status_code == 303
    token = client.cookies.get(f"__Host-{portal}_session")
    before = core.session(token)
    assert before is not None
    answer = client.post(path, data={"old": PASSWORD, "new": "Another!Pass55"}, headers=own)
    assert answer.status_code == 403, (path, answer.status_code)
    assert core.session(token) == before, "the session changed"
    account = core.directory.account(EMAIL)
    assert account is not None and account.password_hash.startswith("scrypt$")
    assert core.accounts.password_login(EMAIL, PASSWORD, portal)  # password unchanged
