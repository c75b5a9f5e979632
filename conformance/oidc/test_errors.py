"""Error answers: the standard OAuth codes, error pages where a redirect is unsafe, no 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.oidc.rp import RelyingParty, oauth_error


@pytest.mark.requirement("OIDC-ERR-001")
def test_unknown_client_at_token_endpoint(rp: RelyingParty) -> None:
    """An unknown client_id is invalid_client."""
    answer = rp.token_request(
        rp.sign_in(), auth={"client_id": "unknown-client-4711", "client_secret": "nope"}
    )
    assert answer.status_code in (400, 401), f"{answer.status_code} {answer.text}"
    assert oauth_error(answer) == "invalid_client", answer.text


@pytest.mark.requirement("OIDC-ERR-002", "OIDC-ERR-003")
def test_reused_code(rp: RelyingParty) -> None:
    """A code redeemed twice is invalid_grant, and its first access token stops working."""
    signin = rp.sign_in()
    tokens = rp.redeem(signin)
    assert rp.userinfo(tokens.access_token).status_code == 200
    again = rp.token_request(signin)
    assert again.status_code == 400, f"{again.status_code} {again.text}"
    assert oauth_error(again) == "invalid_grant", again.text
    after = rp.userinfo(tokens.access_token)
    assert after.status_code == 401, f"the first access token still works: {after.status_code}"


@pytest.mark.requirement("OIDC-ERR-004")
def test_redirect_uri_mismatch_at_token_endpoint(rp: RelyingParty) -> None:
    """Another redirect_uri at the token endpoint is invalid_grant."""
    signin = rp.sign_in()
    answer = rp.token_request(signin, redirect_uri=signin.client.redirect_uri + "/other")
    assert answer.status_code == 400, f"{answer.status_code} {answer.text}"
    assert oauth_error(answer) == "invalid_grant", answer.text


@pytest.mark.requirement("OIDC-ERR-005")
def test_unsupported_response_type(rp: RelyingParty) -> None:
    """An unsupported response_type comes back as unsupported_response_type with the state."""
    supported = set(rp.discovery.get("response_types_supported") or [])
    candidates = ("token", "code token", "id_token token", "careid_unknown")
    response_type = next(value for value in candidates if value not in supported)
    answer, sent, error = rp.authorize_error(response_type=response_type)
    assert error is not None, f"not redirected back with an error: {answer.status_code}"
    assert error.get("error") == "unsupported_response_type", error
    assert error.get("state") == sent["state"]


@pytest.mark.requirement("OIDC-ERR-006")
@pytest.mark.parametrize("case", ["unregistered-redirect-uri", "unknown-client"])
def test_no_redirect_to_unverified_uri(rp: RelyingParty, case: str) -> None:
    """An error page, never a redirect, for a redirect_uri that cannot be verified."""
    attacker = "https://attacker.example.test/cb"
    params: dict[str, Any] = {"redirect_uri": attacker}
    if case == "unknown-client":
        params["client_id"] = "unknown-client-4711"
    url, _ = rp.authorize_url(**params)
    with rp.provider.http() as http:
        answer = http.get(url)
        hops = 0
        while answer.is_redirect and hops < 5:
            location = answer.headers.get("location", "")
            assert not location.startswith(attacker), f"redirected to {location}"
            answer = http.get(answer.next_request.url if answer.next_request else location)
            hops += 1
    assert 400 <= answer.status_code < 500, f"{answer.status_code}"


@pytest.mark.requirement("OIDC-ERR-007")
def test_malformed_requests_get_4xx(rp: RelyingParty) -> None:
    """Garbage at every endpoint is a 4xx, never a 5xx."""
    token = rp.endpoint("token_endpoint")
    authorize = rp.endpoint("authorization_endpoint")
    userinfo = rp.endpoint("userinfo_endpoint")
    main = rp.provider.main
    requests: list[tuple[str, str, dict[str, str], dict[str, Any] | None]] = [
        ("GET", authorize, {}, None),
        ("GET", authorize, {"client_id": main.client_id}, None),
        ("GET", authorize, {"client_id": "x" * 5000, "response_type": "code"}, None),
        ("POST", token, {}, {"content": b"{not json", "headers": {"content-type": "text/plain"}}),
        ("POST", token, {}, {"data": {}}),
        ("POST", token, {}, {"data": {"grant_type": "authorization_code"}}),
        ("POST", token, {}, {"data": {"grant_type": "nonsense", "client_id": main.client_id}}),
        (
            "POST",
            token,
            {},
            {
                "content": b"\xff\xfe\x00",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
        ),
        ("GET", userinfo, {}, {"headers": {"Authorization": "Bearer"}}),
        ("GET", userinfo, {}, {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}),
    ]
    bad = []
    with rp.provider.http() as http:
        for method, url, params, extra in requests:
            answer = http.request(method, url, params=params, **(extra or {}))
            if not 300 <= answer.status_code < 500:
                bad.append(
                    f"{method} {url.rsplit('/', 1)[-1]} {params or extra}: {answer.status_code}"
                )
    assert not bad, bad


@pytest.mark.requirement("OIDC-PROMPT-001")
def test_prompt_none_without_session(rp: RelyingParty) -> None:
    """prompt=none with no session is login_required at the redirect_uri."""
    answer, sent, error = rp.authorize_error(prompt="none")
    assert error is not None, f"not redirected back: {answer.status_code}"
    assert error.get("error") in ("login_required", "interaction_required"), error
    assert error.get("state") == sent["state"]


@pytest.mark.requirement("OIDC-PROMPT-002")
def test_prompt_login_asks_again(rp: RelyingParty) -> None:
    """prompt=login shows the sign-in again although a session exists."""
    first = rp.sign_in()
    first_claims = rp.redeem(first).claims
    again = rp.sign_in(http=first.http, prompt="login", max_age="300")
    assert again.result.pages, "no sign-in page was shown for prompt=login"
    claims = rp.redeem(again).claims
    assert claims["sub"] == first_claims["sub"]
    if "auth_time" in first_claims:
        assert claims["auth_time"] >= first_claims["auth_time"]
    first.http.close()


@pytest.mark.requirement("CIS2-ERR-001")
def test_unknown_scope_is_invalid_scope(rp: RelyingParty) -> None:
    """An unknown scope is invalid_scope."""
    answer, sent, error = rp.authorize_error(scope="openid careid_unknown_scope")
    assert error is not None, f"not redirected back: {answer.status_code}"
    assert error.get("error") == "invalid_scope", error
    assert error.get("state") == sent["state"]
