"""Client authentication at the token endpoint."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from conformance.oidc.rp import RelyingParty, oauth_error
from conformance.oidc.target import RegisteredClient


def _other_key(client: RegisteredClient) -> dict[str, Any]:
    private = client.private_jwk or {}
    kid = str(private.get("kid", "other"))
    if private.get("kty") == "EC":
        return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True).as_dict(
            private=True
        )
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True).as_dict(private=True)


@pytest.mark.requirement("OIDC-AUTH-001")
def test_client_secret_post(rp: RelyingParty) -> None:
    """The right secret gets tokens; a wrong one is invalid_client."""
    client = rp.provider.main
    if client.auth_method != "client_secret_post":
        pytest.skip(f"the main client uses {client.auth_method}")
    wrong = rp.token_request(
        rp.sign_in(), auth={"client_id": client.client_id, "client_secret": "not-the-secret"}
    )
    assert wrong.status_code in (400, 401), f"{wrong.status_code} {wrong.text}"
    assert oauth_error(wrong) == "invalid_client", wrong.text
    assert "access_token" not in wrong.text
    rp.redeem(rp.sign_in())


@pytest.mark.requirement("OIDC-AUTH-002")
def test_private_key_jwt(rp: RelyingParty, client_of: Callable[[str], RegisteredClient]) -> None:
    """An assertion signed with the registered key gets tokens; another key is invalid_client."""
    client = client_of("jwt")
    forged = rp.client_assertion(client, key=_other_key(client))
    refused = rp.token_request(
        rp.sign_in(client),
        auth={
            "client_id": client.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": forged,
        },
    )
    assert refused.status_code in (400, 401), f"{refused.status_code} {refused.text}"
    assert oauth_error(refused) == "invalid_client", refused.text
    tokens = rp.redeem(rp.sign_in(client))
    assert tokens.claims["aud"] == client.client_id or client.client_id in tokens.claims["aud"]


@pytest.mark.requirement("CIS2-AUTH-001")
def test_cis2_client_authentication_errors(
    rp: RelyingParty, client_of: Callable[[str], RegisteredClient]
) -> None:
    """A bad assertion is `JWT is not valid`; an Authorization header is refused."""
    client = client_of("jwt")
    bad = rp.token_request(
        rp.sign_in(client),
        auth={
            "client_id": client.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": rp.client_assertion(client, key=_other_key(client)),
        },
    )
    assert bad.json() == {"error": "invalid_client", "error_description": "JWT is not valid"}
    main = rp.provider.main
    basic = base64.b64encode(f"{main.client_id}:{main.client_secret}".encode()).decode()
    signin = rp.sign_in()
    with rp.provider.http() as http:
        answer = http.post(
            rp.endpoint("token_endpoint"),
            data={
                "grant_type": "authorization_code",
                "code": signin.code,
                "redirect_uri": main.redirect_uri,
                "code_verifier": signin.verifier or "",
            },
            headers={"Authorization": f"Basic {basic}"},
        )
    assert oauth_error(answer) == "invalid_client", answer.text
