"""SSO sessions, mechanisms, roles, logout and key rotation of the reference provider."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from conformance.oidc.flow import FlowResult, sign_in
from conformance.oidc.reference import BASE_URL, ReferenceWorld, authorize_url, token_form
from reference_service.cis2.backchannel_logout import EVENT
from reference_service.cis2.store import Store
from reference_service.cis2.totp import totp

DAVE_UUID = "555000000104"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReferenceWorld:
    return ReferenceWorld.create(tmp_path_factory.mktemp("cis2-sessions"))


@pytest.fixture
def http(world: ReferenceWorld) -> Iterator[TestClient]:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def tokens(
    world: ReferenceWorld, http: TestClient, code: str, rp: str = "secret"
) -> dict[str, str]:
    answer = http.post(f"{world.settings.issuer}/access_token", data=token_form(world, code, rp))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def claims_of(http: TestClient, world: ReferenceWorld, id_token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(http.get(f"{world.settings.issuer}/connect/jwk_uri").json())
    return dict(jwt.decode(id_token, keys).claims)


def header_of(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".", maxsplit=1)[0] + "==")))


def login(
    world: ReferenceWorld,
    http: TestClient,
    persona: str = "alice",
    rp: str = "secret",
    **params: str,
) -> FlowResult:
    return sign_in(
        http,
        authorize_url(world, rp, **params),
        world.clients[rp].client.redirect_uris[0],
        world.card(persona),
    )


def test_chooser_and_authenticator_app(world: ReferenceWorld, http: TestClient) -> None:
    persona_secret = next(
        u
        for u in __import__("json").loads(world.settings.users.read_text())["users"]
        if u["uuid"] == DAVE_UUID
    )["totp_secret"]
    result = sign_in(
        http,
        authorize_url(world, acr_values="AAL2_OR_AAL3_ANY"),
        world.clients["secret"].client.redirect_uris[0],
        None,
        mechanism="totp",
        totp=(DAVE_UUID, totp(persona_secret, world.clock())),
    )
    assert len(result.pages) == 2 and result.pages[1] == "totp"  # the chooser, then the app
    claims = claims_of(http, world, tokens(world, http, result.code or "")["id_token"])
    assert claims["acr"] == "AAL2_OR_AAL3_ANY"
    assert claims["amr"] == ["TOTP"]
    assert claims["authentication_assurance_level"] == "2"
    # An AAL2 session does not satisfy AAL3_ANY: the smartcard is asked for.
    again = http.get(authorize_url(world))
    assert "/login/" in again.headers["location"]


def test_chooser_page_offers_both_mechanisms(world: ReferenceWorld, http: TestClient) -> None:
    login_url = http.get(authorize_url(world, acr_values="AAL2_ANY")).headers["location"]
    page = http.get(login_url)
    assert "preferred choice of Authentication Mechanism" in page.text
    assert 'value="smartcard"' in page.text and 'value="totp"' in page.text
    only_card = http.get(http.get(authorize_url(world)).headers["location"])
    assert only_card.is_redirect and only_card.headers["location"].endswith("/smartcard")


def test_prompt_login_and_max_age_force_a_new_authentication(
    world: ReferenceWorld, http: TestClient
) -> None:
    first = login(world, http)
    assert first.pages == ["smartcard"]
    assert login(world, http).pages == []
    assert login(world, http, prompt="login").pages == ["smartcard"]
    world.clock.advance(10)
    assert login(world, http, max_age="5").pages == ["smartcard"]
    assert login(world, http, max_age="300").pages == []
    claims = claims_of(http, world, tokens(world, http, login(world, http).code or "")["id_token"])
    assert int(world.clock()) - int(str(claims["auth_time"])) < 300


@pytest.mark.parametrize(
    ("persona", "pages", "roleid"),
    [
        ("alice", ["smartcard"], "555100000101"),
        ("judy", ["smartcard"], None),
        ("bob", ["smartcard", "role"], "555100000201"),
    ],
)
def test_role_selection_none_one_or_list(
    world: ReferenceWorld, persona: str, pages: list[str], roleid: str | None
) -> None:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as http:
        result = login(world, http, persona, scope="openid selectedrole")
        assert result.pages == pages
        claims = claims_of(http, world, tokens(world, http, result.code or "")["id_token"])
        assert claims.get("selected_roleid") == roleid


def test_more_than_five_roles_get_a_search(world: ReferenceWorld) -> None:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as http:
        location = http.get(authorize_url(world, scope="openid selectedrole")).headers["location"]
        page = f"{BASE_URL}{location}/smartcard"
        challenge = http.post(page + "/challenge", json={}).json()["challenge"]
        done = http.post(page, json=world.card("mallory").answer(BASE_URL, challenge)).json()
        roles = http.get(BASE_URL + done["redirect"])
        assert 'id="role-search"' in roles.text
        assert roles.text.count('name="person_roleid"') == 7
        found = http.get(BASE_URL + done["redirect"], params={"q": "clinical"})
        assert 0 < found.text.count('name="person_roleid"') < 7


def test_rp_initiated_logout_sends_backchannel_logout_to_every_rp(
    world: ReferenceWorld, http: TestClient
) -> None:
    world.deliveries.clear()
    first = tokens(world, http, login(world, http).code or "")
    second = tokens(world, http, login(world, http, rp="es256").code or "", "es256")
    sid = claims_of(http, world, first["id_token"])["sid"]
    assert claims_of(http, world, second["id_token"])["sid"] == sid
    target = world.clients["secret"].client.post_logout_redirect_uris[0]
    answer = http.get(
        f"{world.settings.issuer}/connect/endSession",
        params={
            "id_token_hint": first["id_token"],
            "post_logout_redirect_uri": target,
            "state": "bye",
        },
    )
    assert answer.status_code == 302
    assert answer.headers["location"] == f"{target}?state=bye"
    audiences = sorted(str(d.client_id) for d in world.deliveries)
    assert audiences == sorted(world.clients[rp].client.client_id for rp in ("secret", "es256"))
    for delivery in world.deliveries:
        claims = claims_of(http, world, delivery.token)
        assert claims["sid"] == sid and claims["sub"] == "555000000101"
        assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert http.get(f"{world.settings.issuer}/userinfo", headers=bearer).status_code == 401
    assert "/login/" in http.get(authorize_url(world)).headers["location"]


def test_logout_never_redirects_to_an_unregistered_uri(
    world: ReferenceWorld, http: TestClient
) -> None:
    first = tokens(world, http, login(world, http).code or "")
    answer = http.get(
        f"{world.settings.issuer}/connect/endSession",
        params={
            "id_token_hint": first["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert answer.status_code == 400 and "location" not in answer.headers
    bad_hint = http.get(
        f"{world.settings.issuer}/connect/endSession", params={"id_token_hint": "x.y.z"}
    )
    assert bad_hint.status_code == 400


def test_card_removal_session_end_logs_out(world: ReferenceWorld, http: TestClient) -> None:
    world.deliveries.clear()
    result = login(world, http, prompt="login")
    issued = tokens(world, http, result.code or "")
    assert result.session_end_url and result.session_end_url.startswith(world.settings.issuer)
    path = urlsplit(result.session_end_url).path
    wrong = http.post(path, json={"reason": "card_removed", "uuid": "555000000999"})
    assert wrong.status_code == 400
    ended = http.post(
        path, json={"reason": "card_removed", "uuid": "555000000101", "request_id": "r1"}
    )
    assert ended.status_code == 200 and ended.json()["ended"] is True
    assert [d.client_id for d in world.deliveries] == [world.clients["secret"].client.client_id]
    assert http.post(path, json={"reason": "card_removed"}).json().get("already") is True
    unknown = http.post(path[:-4] + "AAAA", json={"reason": "card_removed"})
    assert unknown.status_code == 404
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert http.get(f"{world.settings.issuer}/userinfo", headers=bearer).status_code == 401


def test_key_rotation_keeps_old_keys_for_verification(
    world: ReferenceWorld, http: TestClient
) -> None:
    old = tokens(world, http, login(world, http).code or "")["id_token"]
    old_kid = header_of(old)["kid"]
    new_kid = world.provider.keys.rotate("RS256")
    kids = [k["kid"] for k in http.get(f"{world.settings.issuer}/connect/jwk_uri").json()["keys"]]
    assert old_kid in kids and new_kid in kids
    claims_of(http, world, old)  # still verifies
    fresh = tokens(world, http, login(world, http).code or "")["id_token"]
    assert header_of(fresh)["kid"] == new_kid


def test_store_is_wal_and_survives_reopen(world: ReferenceWorld) -> None:
    store = Store(world.settings.database)
    assert store.journal_mode() == "wal"
    assert store.signing_keys()
    store.close()
