"""The authorization code flow, tokens, the ID token and PKCE."""

from __future__ import annotations

import time

import pytest

from conformance.oidc.rp import RelyingParty, oauth_error, token_hash

CLOCK_SKEW = 300


@pytest.mark.requirement("OIDC-CODE-001")
def test_code_and_exact_state_come_back(rp: RelyingParty) -> None:
    """The redirect carries a code and the request's state unchanged.
    redirect to the registered redirect_uri with code and the same state"""
    state = "st.~-_" + "x" * 40  # unreserved characters survive unchanged
    signin = rp.sign_in(state=state)
    assert signin.result.url.split("?", 1)[0] == signin.client.redirect_uri
    assert signin.result.params.get("state") == state
    assert signin.result.params.get("code")
    assert "error" not in signin.result.params


@pytest.mark.requirement("OIDC-CODE-002")
def test_iss_in_the_authorization_response(rp: RelyingParty) -> None:
    """An iss in the authorization response is the issuer (RFC 9207)."""
    signin = rp.sign_in()
    iss = signin.result.params.get("iss")
    if rp.discovery.get("authorization_response_iss_parameter_supported"):
        assert iss is not None, "discovery promises iss in the authorization response"
    if iss is not None:
        assert iss == rp.discovery["issuer"]


@pytest.mark.requirement("OIDC-TOKEN-001", "OIDC-IDT-001")
def test_token_response(rp: RelyingParty) -> None:
    """The token response has access_token, Bearer, id_token and no-store; the ID token's
    signature verifies with the provider's JWK Set."""
    tokens = rp.redeem(rp.sign_in())
    assert tokens.answer.headers.get("content-type", "").startswith("application/json")
    assert tokens.body.get("access_token")
    assert str(tokens.body.get("token_type", "")).lower() == "bearer"
    assert "no-store" in tokens.answer.headers.get("cache-control", "")
    assert tokens.header["alg"] in rp.discovery["id_token_signing_alg_values_supported"]


@pytest.mark.requirement("OIDC-IDT-002", "OIDC-IDT-003", "OIDC-IDT-004", "OIDC-IDT-005")
def test_id_token_claims(rp: RelyingParty) -> None:
    """iss, aud, azp, sub, exp, iat, nonce and at_hash of the ID token are right."""
    signin = rp.sign_in(nonce="nonce-" + "n" * 30)
    tokens = rp.redeem(signin)
    claims = tokens.claims
    client_id = signin.client.client_id
    assert claims.get("iss") == rp.discovery["issuer"]
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    assert client_id in audiences, f"aud {audience!r}"
    if len(audiences) > 1 or "azp" in claims:
        assert claims.get("azp") == client_id
    assert isinstance(claims.get("sub"), str) and claims["sub"]
    now = time.time()
    assert isinstance(claims.get("exp"), int) and claims["exp"] > now
    assert isinstance(claims.get("iat"), int) and abs(claims["iat"] - now) < CLOCK_SKEW
    assert claims["exp"] > claims["iat"]
    assert claims.get("nonce") == signin.nonce
    if "at_hash" in claims:
        assert claims["at_hash"] == token_hash(tokens.access_token, tokens.header["alg"])


@pytest.mark.requirement("OIDC-IDT-006")
def test_max_age_gives_auth_time(rp: RelyingParty) -> None:
    """With max_age the ID token has auth_time within it."""
    tokens = rp.redeem(rp.sign_in(max_age="300"))
    auth_time = tokens.claims.get("auth_time")
    assert isinstance(auth_time, int), f"auth_time {auth_time!r}"
    now = time.time()
    assert now - 300 - CLOCK_SKEW <= auth_time <= now + CLOCK_SKEW


@pytest.mark.requirement("OIDC-PKCE-001")
def test_pkce_s256_verifier_redeems(rp: RelyingParty) -> None:
    """The right code_verifier redeems a code requested with S256."""
    signin = rp.sign_in()
    assert signin.verifier
    rp.redeem(signin)


@pytest.mark.requirement("OIDC-PKCE-002")
@pytest.mark.parametrize("verifier", ["wrong", None], ids=["wrong-verifier", "no-verifier"])
def test_pkce_bad_verifier_is_refused(rp: RelyingParty, verifier: str | None) -> None:
    """A wrong or missing code_verifier is invalid_grant."""
    signin = rp.sign_in()
    bad = None if verifier is None else "w" * 43 + "rong"
    answer = rp.token_request(signin, code_verifier=bad)
    assert answer.status_code == 400, f"{answer.status_code} {answer.text}"
    assert oauth_error(answer) == "invalid_grant", answer.text


@pytest.mark.requirement("OIDC-PKCE-003")
def test_pkce_required_client_without_challenge(rp: RelyingParty, client_of: object) -> None:
    """A client registered as requiring PKCE cannot get a code without a challenge."""
    client = next((c for c in rp.provider.clients.values() if c.require_pkce), None)
    if client is None:
        pytest.skip("no client registered as requiring PKCE")
    answer, sent, error = rp.authorize_error(client, pkce=False)
    assert error is not None, f"not redirected back with an error: {answer.status_code}"
    assert error.get("error") == "invalid_request", error
    assert error.get("state") == sent["state"]
