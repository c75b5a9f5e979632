"""Attack: logout CSRF. An end-session request that cannot be tied to the browser's session
(no id_token_hint, or a hint for another session) only shows a confirmation page; the session
ends on the confirmed same-origin POST carrying the session's anti-CSRF token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conformance.oidc.drivers import parse_forms
from conformance.oidc.flow import query_params, sign_in
from conformance.oidc.reference import BASE_URL, ReferenceWorld, authorize_url, token_form
from reference_service.cis2.provider import SESSION_COOKIE

EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReferenceWorld:
    return ReferenceWorld.create(tmp_path_factory.mktemp("cis2-logout-csrf"))


@pytest.fixture
def http(world: ReferenceWorld) -> Iterator[TestClient]:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as client:
        sign_in(
            client,
            authorize_url(world),
            world.clients["secret"].client.redirect_uris[0],
            world.card("alice"),
        )
        yield client


def end_session_url(world: ReferenceWorld) -> str:
    return f"{world.settings.issuer}/connect/endSession"


def still_signed_in(world: ReferenceWorld, http: TestClient) -> bool:
    """prompt=none gets a code only while the SSO session is alive."""
    answer = http.get(authorize_url(world, prompt="none"))
    return answer.is_redirect and "code" in query_params(answer.headers["location"])


def id_token(world: ReferenceWorld, http: TestClient) -> str:
    answer = http.get(authorize_url(world, prompt="none"))
    code = query_params(answer.headers["location"])["code"]
    issued = http.post(f"{world.settings.issuer}/access_token", data=token_form(world, code))
    return str(issued.json()["id_token"])


def confirmation_form(page: str) -> dict[str, str]:
    forms = [f for f in parse_forms(page) if f.method == "post"]
    assert len(forms) == 1, page
    return {name: value for _, name, value in forms[0].fields}


def test_cross_site_get_without_hint_leaves_the_session_alive(
    world: ReferenceWorld, http: TestClient
) -> None:
    answer = http.get(end_session_url(world), headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 200
    assert "Do you want to sign out" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert still_signed_in(world, http)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {}, {"Origin": BASE_URL, "Sec-Fetch-Site": "cross-site"}],
    ids=["foreign-origin", "no-origin", "cross-site"],
)
def test_forged_posts_leave_the_session_alive(
    world: ReferenceWorld, http: TestClient, headers: dict[str, str]
) -> None:
    url = end_session_url(world)
    forged = http.post(url, data={"confirm": "yes"}, headers=headers)
    assert forged.status_code in (200, 403) and still_signed_in(world, http)
    guessed = http.post(url, data={"confirm": "yes", "csrf_token": "x" * 43}, headers=headers)
    assert guessed.status_code == 403 and still_signed_in(world, http)
    # Even the real token does not help a request that is not same-origin.
    form = confirmation_form(http.get(url).text)
    replayed = http.post(url, data={**form, "confirm": "yes"}, headers=headers)
    assert replayed.status_code == 403 and still_signed_in(world, http)


def test_a_token_of_another_session_is_refused(world: ReferenceWorld, http: TestClient) -> None:
    url = end_session_url(world)
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as other:
        sign_in(
            other,
            authorize_url(world),
            world.clients["secret"].client.redirect_uris[0],
            world.card("bob"),
        )
        theirs = confirmation_form(other.get(url).text)
    answer = http.post(url, data={**theirs, "confirm": "yes"}, headers={"Origin": BASE_URL})
    assert answer.status_code == 403 and still_signed_in(world, http)


def test_a_hint_for_another_session_asks_too(world: ReferenceWorld, http: TestClient) -> None:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as other:
        sign_in(
            other,
            authorize_url(world),
            world.clients["secret"].client.redirect_uris[0],
            world.card("bob"),
        )
        bobs = id_token(world, other)
    answer = http.get(end_session_url(world), params={"id_token_hint": bobs})
    assert answer.status_code == 200 and "Do you want to sign out" in answer.text
    assert still_signed_in(world, http)


def test_the_confirmed_post_ends_the_session_and_redirects(
    world: ReferenceWorld, http: TestClient
) -> None:
    client = world.clients["secret"].client
    target = client.post_logout_redirect_uris[0]
    url = end_session_url(world)
    page = http.get(
        url,
        params={"client_id": client.client_id, "post_logout_redirect_uri": target, "state": "s1"},
    )
    form = confirmation_form(page.text)
    assert form["post_logout_redirect_uri"] == target and form["state"] == "s1"
    stay = http.post(url, data={**form, "confirm": "no"}, headers={"Origin": BASE_URL})
    assert stay.status_code == 200 and still_signed_in(world, http)
    done = http.post(url, data={**form, "confirm": "yes"}, headers={"Origin": BASE_URL})
    assert done.status_code == 302 and done.headers["location"] == f"{target}?state=s1"
    assert not still_signed_in(world, http)


def test_the_suite_driver_confirms(world: ReferenceWorld, http: TestClient) -> None:
    from conformance.oidc.drivers import DriverContext, smartcard

    driver = smartcard(DriverContext(workdir=Path()))
    final = driver.confirm_logout(http, http.get(end_session_url(world)))
    assert final.status_code == 200 and "You have signed out" in final.text
    assert not still_signed_in(world, http)


def test_a_hint_for_this_session_ends_it_at_once(world: ReferenceWorld, http: TestClient) -> None:
    answer = http.get(end_session_url(world), params={"id_token_hint": id_token(world, http)})
    assert answer.status_code == 200 and "You have signed out" in answer.text
    assert not still_signed_in(world, http)
