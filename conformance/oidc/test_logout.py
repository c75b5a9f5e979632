"""RP-initiated and back-channel logout."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest
from joserfc import jwt

from conformance.oidc.flow import query_params
from conformance.oidc.rp import RelyingParty, SignIn, Tokens, jose_header

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _end_session(rp: RelyingParty, signin: SignIn, tokens: Tokens, **params: str) -> Any:
    url = rp.endpoint("end_session_endpoint")
    answer = signin.http.get(url, params={"id_token_hint": tokens.id_token, **params})
    return rp.provider.driver.confirm_logout(signin.http, answer)


def _signed_in(rp: RelyingParty) -> tuple[SignIn, Tokens]:
    if not rp.discovery.get("end_session_endpoint"):
        pytest.skip("the provider advertises no end_session_endpoint")
    signin = rp.sign_in()
    return signin, rp.redeem(signin)


@pytest.mark.requirement("OIDC-LOGOUT-001")
def test_rp_initiated_logout(rp: RelyingParty) -> None:
    """endSession redirects to the registered post-logout URI with the state; the session ends."""
    client = rp.provider.main
    if client.post_logout_redirect_uri is None:
        pytest.skip("no post_logout_redirect_uri is registered for the suite's client")
    signin, tokens = _signed_in(rp)
    final = _end_session(
        rp, signin, tokens, post_logout_redirect_uri=client.post_logout_redirect_uri,
        state="bye-123", client_id=client.client_id,
    )  # fmt: skip
    assert final.is_redirect, f"no redirect after logout: {final.status_code}"
    location = urljoin(str(final.url), final.headers["location"])
    assert location.split("?", 1)[0] == client.post_logout_redirect_uri
    assert query_params(location).get("state") == "bye-123"
    url, _ = rp.authorize_url(prompt="none")
    answer = signin.http.get(url)
    hops = 0
    while answer.is_redirect and hops < 5:
        location = urljoin(str(answer.url), answer.headers["location"])
        if location.split("?", 1)[0] == client.redirect_uri:
            break
        answer = signin.http.get(location)
        hops += 1
    assert answer.is_redirect, f"prompt=none after logout: {answer.status_code}"
    error = query_params(urljoin(str(answer.url), answer.headers["location"]))
    assert error.get("error") in ("login_required", "interaction_required"), error
    signin.http.close()


@pytest.mark.requirement("OIDC-LOGOUT-002")
def test_no_redirect_to_unregistered_post_logout_uri(rp: RelyingParty) -> None:
    """An unregistered post_logout_redirect_uri is never redirected to."""
    signin, tokens = _signed_in(rp)
    attacker = "https://attacker.example.test/bye"
    final = _end_session(rp, signin, tokens, post_logout_redirect_uri=attacker)
    if final.is_redirect:
        assert not final.headers["location"].startswith(attacker)
    else:
        assert final.status_code < 500
    signin.http.close()


@pytest.mark.requirement("OIDC-LOGOUT-003")
def test_logout_without_hint_needs_the_users_confirmation(rp: RelyingParty) -> None:
    """A cross-site end-session request without id_token_hint, not confirmed, leaves the
    session alive: prompt=none still gets a code."""
    signin, _ = _signed_in(rp)
    url = rp.endpoint("end_session_endpoint")
    host = urlparse(url).netloc
    # What a link or image on another site makes the browser send; nothing is confirmed.
    answer = signin.http.get(url, headers={"Sec-Fetch-Site": "cross-site"})
    for _ in range(5):
        if not answer.is_redirect:
            break
        location = urljoin(str(answer.url), answer.headers["location"])
        if urlparse(location).netloc != host:
            break
        answer = signin.http.get(location, headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code < 500, f"end_session answered {answer.status_code}"
    authorize, _ = rp.authorize_url(prompt="none")
    back = signin.http.get(authorize)
    for _ in range(5):
        if not back.is_redirect:
            break
        location = urljoin(str(back.url), back.headers["location"])
        if location.split("?", 1)[0] == rp.provider.main.redirect_uri:
            params = query_params(location)
            assert "code" in params, (
                f"the session ended without the user's confirmation: prompt=none got {params}"
            )
            signin.http.close()
            return
        back = signin.http.get(location)
    pytest.fail(f"prompt=none did not come back to the client: {back.status_code}")


def _logout_token(rp: RelyingParty) -> tuple[str, dict[str, Any], str]:
    client = rp.provider.main
    receiver = rp.provider.receiver
    if receiver is None or client.backchannel_path is None:
        pytest.skip("no back-channel logout receiver is registered (backchannel_uri)")
    before = len(receiver.tokens(client.backchannel_path))
    signin, tokens = _signed_in(rp)
    _end_session(rp, signin, tokens)
    signin.http.close()
    received = receiver.wait(client.backchannel_path, before + 1)
    assert len(received) > before, "no logout token arrived within 15 s"
    return received[-1], tokens.claims, client.client_id


@pytest.mark.requirement("OIDC-BCL-001")
def test_backchannel_logout_token(rp: RelyingParty) -> None:
    """The logout token is signed and has iss, aud, iat, jti, sub or sid, the event, no nonce."""
    token, id_claims, client_id = _logout_token(rp)
    header = jose_header(token)
    assert header.get("alg") and header["alg"] != "none"
    claims = dict(jwt.decode(token, rp.keys, algorithms=[header["alg"]]).claims)
    assert claims.get("iss") == rp.discovery["issuer"]
    audience = claims.get("aud")
    assert client_id in (audience if isinstance(audience, list) else [audience])
    assert isinstance(claims.get("iat"), int) and abs(claims["iat"] - time.time()) < 300
    assert claims.get("jti")
    assert "sub" in claims or "sid" in claims
    if "sub" in claims:
        assert claims["sub"] == id_claims["sub"]
    if "sid" in claims and "sid" in id_claims:
        assert claims["sid"] == id_claims["sid"]
    assert isinstance(claims.get("events"), dict) and EVENT in claims["events"]
    assert "nonce" not in claims


@pytest.mark.requirement("CIS2-BCL-001")
def test_cis2_logout_token_form(rp: RelyingParty) -> None:
    """RS256, typ logout+jwt, both sub and sid."""
    token, _, _ = _logout_token(rp)
    header = jose_header(token)
    assert header.get("alg") == "RS256"
    assert header.get("typ") == "logout+jwt"
    claims = dict(jwt.decode(token, rp.keys, algorithms=["RS256"]).claims)
    assert "sub" in claims and "sid" in claims
