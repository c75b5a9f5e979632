"""The reference CIS2 provider end to end in process: smartcard sign-in, tokens, userinfo."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from conformance.oidc.flow import sign_in
from conformance.oidc.reference import BASE_URL, ReferenceWorld, authorize_url, token_form
from reference_service.cis2 import ISSUER_PATH
from reference_service.cis2.pkce import s256

ISSUER = BASE_URL + ISSUER_PATH


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReferenceWorld:
    return ReferenceWorld.create(tmp_path_factory.mktemp("cis2"))


@pytest.fixture
def http(world: ReferenceWorld) -> Iterator[TestClient]:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def redeem(world: ReferenceWorld, http: TestClient, code: str, rp: str = "secret", **extra: str):  # type: ignore[no-untyped-def]
    return http.post(f"{ISSUER}/access_token", data=token_form(world, code, rp, **extra))


def test_discovery_names_the_cis2_endpoints(http: TestClient) -> None:
    document = http.get(f"{ISSUER}/.well-known/openid-configuration").json()
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == f"{ISSUER}/access_token"
    assert document["jwks_uri"] == f"{ISSUER}/connect/jwk_uri"
    assert document["end_session_endpoint"] == f"{ISSUER}/connect/endSession"
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_smartcard_sign_in_gives_code_tokens_and_claims(
    world: ReferenceWorld, http: TestClient
) -> None:
    result = sign_in(
        http,
        authorize_url(world),
        world.clients["secret"].client.redirect_uris[0],
        world.card("alice"),
    )
    assert result.params["state"] == "st-123"
    assert result.params["iss"] == ISSUER
    assert result.pages == ["smartcard"]  # AAL3_ANY: one mechanism, no chooser
    answer = redeem(world, http, result.code or "")
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert answer.headers["cache-control"] == "no-store"
    keys = KeySet.import_key_set(http.get(f"{ISSUER}/connect/jwk_uri").json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "555000000101"
    assert claims["aud"] == world.clients["secret"].client.client_id
    assert claims["nonce"] == "n-456"
    assert claims["acr"] == "AAL3_ANY"
    assert claims["amr"] == ["N3_SMARTCARD"]
    assert claims["authentication_assurance_level"] == "3"
    assert claims["id_assurance_level"] == claims["idassurancelevel"] == "3"
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    info = http.get(
        f"{ISSUER}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert info == {
        "sub": "555000000101",
        "name": "Alice Smith",
        "family_name": "Smith",
        "given_name": "Alice",
        "uid": "555000000101",
    }


def test_sso_session_is_reused_without_a_card(world: ReferenceWorld, http: TestClient) -> None:
    redirect = world.clients["secret"].client.redirect_uris[0]
    sign_in(http, authorize_url(world), redirect, world.card("alice"))
    again = sign_in(http, authorize_url(world), redirect, None)
    assert again.pages == [] and again.code


def test_pkce_client_with_es256_tokens(world: ReferenceWorld, http: TestClient) -> None:
    verifier = "v" * 50
    result = sign_in(
        http,
        authorize_url(world, "pkce", code_challenge=s256(verifier), code_challenge_method="S256"),
        world.clients["pkce"].client.redirect_uris[0],
        world.card("alice"),
    )
    answer = redeem(world, http, result.code or "", "pkce", code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    header = json.loads(base64.urlsafe_b64decode(answer.json()["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"


def test_role_selection_list(world: ReferenceWorld, http: TestClient) -> None:
    result = sign_in(
        http,
        authorize_url(world, scope="openid selectedrole nationalrbacaccess"),
        world.clients["secret"].client.redirect_uris[0],
        world.card("bob"),
        role="555100000202",
    )
    assert result.pages == ["smartcard", "role"]
    tokens = redeem(world, http, result.code or "").json()
    info = http.get(
        f"{ISSUER}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert info["selected_roleid"] == "555100000202"
    assert len(info["nhsid_nrbac_roles"]) == 3


def test_the_service_never_imports_the_simulator() -> None:
    import subprocess
    import sys

    code = (
        "import sys, reference_service.cis2.server, reference_service.cis2.app;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'simulator'))"
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == "[]"
