"""Discovery and the JWK Set."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.oidc.rp import RelyingParty
from conformance.oidc.target import CIS2_ISSUER_PATH, ProviderUnderTest

REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
    "registration_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
)
PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


@pytest.mark.requirement("OIDC-DISC-001")
def test_discovery_has_the_required_metadata(discovery: dict[str, Any]) -> None:
    """The discovery document names the required metadata.
    issuer, endpoints, response types with code, subject types, ID token algs with RS256."""
    missing = [name for name in REQUIRED if not discovery.get(name)]
    assert not missing, f"discovery lacks {missing}"
    assert "code" in discovery["response_types_supported"]
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    assert all(isinstance(v, str) for v in discovery["subject_types_supported"])


@pytest.mark.requirement("OIDC-DISC-002")
def test_issuer_matches_exactly(provider: ProviderUnderTest, discovery: dict[str, Any]) -> None:
    """The discovery issuer is the issuer URL, character for character."""
    assert discovery["issuer"] == provider.issuer, (
        f"discovery says {discovery['issuer']!r}, fetched for {provider.issuer!r}"
    )


@pytest.mark.requirement("OIDC-DISC-003")
def test_endpoints_are_https(discovery: dict[str, Any]) -> None:
    """Every endpoint is an absolute https URL without a fragment."""
    for name in ENDPOINTS:
        value = discovery.get(name)
        if value is None:
            continue
        parts = urlsplit(str(value))
        assert parts.scheme == "https" and parts.netloc, f"{name} is {value!r}"
        assert not parts.fragment, f"{name} has a fragment"


@pytest.mark.requirement("OIDC-JWKS-001")
def test_jwks_has_public_verification_keys(rp: RelyingParty, discovery: dict[str, Any]) -> None:
    """The JWK Set has a public key for each advertised signing algorithm family."""
    with rp.provider.http() as http:
        answer = http.get(discovery["jwks_uri"])
    assert answer.status_code == 200
    keys = answer.json()["keys"]
    assert keys, "the JWK Set is empty"
    kids = [key.get("kid") for key in keys]
    for key in keys:
        assert key.get("kty") in ("RSA", "EC", "OKP"), key.get("kty")
        leaked = [name for name in PRIVATE if name in key]
        assert not leaked, f"key {key.get('kid')} carries private parameters {leaked}"
    if len(keys) > 1:
        assert None not in kids and len(set(kids)) == len(kids), f"kids {kids}"
    families = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
    for alg in discovery["id_token_signing_alg_values_supported"]:
        family = families.get(str(alg)[:2])
        if family is not None:
            assert any(key["kty"] == family for key in keys), f"no {family} key for {alg}"


@pytest.mark.requirement("CIS2-DISC-001")
def test_cis2_issuer_path_and_endpoint_names(
    provider: ProviderUnderTest, discovery: dict[str, Any]
) -> None:
    """The CIS2 issuer path and endpoint names."""
    issuer = discovery["issuer"]
    assert urlsplit(issuer).path == CIS2_ISSUER_PATH
    expected = {
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/access_token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/connect/jwk_uri",
        "end_session_endpoint": f"{issuer}/connect/endSession",
    }
    assert {name: discovery.get(name) for name in expected} == expected


@pytest.mark.requirement("CIS2-DISC-002")
def test_cis2_capabilities(discovery: dict[str, Any]) -> None:
    """Client authentication, PKCE, scopes, acr values and back-channel logout of CIS2."""
    methods = set(discovery.get("token_endpoint_auth_methods_supported") or [])
    assert {"client_secret_post", "private_key_jwt"} <= methods
    assert "S256" in (discovery.get("code_challenge_methods_supported") or [])
    scopes = set(discovery.get("scopes_supported") or [])
    cis2_scopes = {
        "openid", "profile", "email", "nhsperson", "associatedorgs", "nationalrbacaccess",
        "organisationalmemberships", "professionalmemberships", "selectedrole",
    }  # fmt: skip
    assert cis2_scopes <= scopes, f"missing scopes {sorted(cis2_scopes - scopes)}"
    acr = set(discovery.get("acr_values_supported") or [])
    assert {"AAL3_ANY", "AAL2_OR_AAL3_ANY", "AAL2_ANY", "AAL3_N3_SMARTCARD"} <= acr
    assert discovery.get("backchannel_logout_supported") is True
    assert discovery.get("backchannel_logout_session_supported") is True
