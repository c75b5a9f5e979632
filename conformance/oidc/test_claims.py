"""Userinfo, claims per scope, and the CIS2 claims."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conformance.oidc.rp import RelyingParty

PROFILE = ("name", "family_name", "given_name", "middle_name", "nickname", "preferred_username")
STRINGS = (*PROFILE, "email", "profile", "picture", "website", "gender", "zoneinfo", "locale")


def _userinfo(rp: RelyingParty, scope: str, **params: Any) -> tuple[dict[str, Any], Any]:
    tokens = rp.redeem(rp.sign_in(scope=scope, **params))
    answer = rp.userinfo(tokens.access_token)
    assert answer.status_code == 200, f"userinfo: {answer.status_code} {answer.text}"
    assert answer.headers.get("content-type", "").startswith("application/json")
    info: dict[str, Any] = answer.json()
    return info, tokens


@pytest.mark.requirement("OIDC-USERINFO-001")
def test_userinfo_sub_matches(rp: RelyingParty) -> None:
    """Userinfo answers the access token with the ID token's sub."""
    info, tokens = _userinfo(rp, "openid profile")
    assert info.get("sub") == tokens.claims["sub"]
    if rp.provider.expected_sub is not None:
        assert info["sub"] == rp.provider.expected_sub


@pytest.mark.requirement("OIDC-USERINFO-002")
@pytest.mark.parametrize("token", [None, "not-a-token-" + "x" * 20], ids=["missing", "unknown"])
def test_userinfo_refuses_bad_tokens(rp: RelyingParty, token: str | None) -> None:
    """A missing or unknown token is 401 with WWW-Authenticate: Bearer."""
    answer = rp.userinfo(token)
    assert answer.status_code == 401, f"{answer.status_code} {answer.text}"
    assert answer.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.requirement("OIDC-SCOPE-001")
def test_claims_follow_scopes(rp: RelyingParty) -> None:
    """openid alone releases no profile or email claims; profile and email claims are typed."""
    bare, _ = _userinfo(rp, "openid")
    leaked = sorted(set(bare) & {*PROFILE, "email", "email_verified"})
    assert not leaked, f"scope openid released {leaked}"
    full, _ = _userinfo(rp, "openid profile email")
    for claim in STRINGS:
        if claim in full:
            assert isinstance(full[claim], str), f"{claim} is {type(full[claim]).__name__}"
    if "email_verified" in full:
        assert isinstance(full["email_verified"], bool)
    if "updated_at" in full:
        assert isinstance(full["updated_at"], int)


@pytest.mark.requirement("CIS2-IDT-001")
def test_cis2_id_token_claims(rp: RelyingParty) -> None:
    """RS256 and the CIS2 ID token claims."""
    signin = rp.sign_in(scope="openid profile")
    tokens = rp.redeem(signin)
    claims = tokens.claims
    if signin.client.id_token_alg in (None, "RS256"):
        assert tokens.header["alg"] == "RS256"
    assert re.fullmatch(r"[0-9]{12}", str(claims.get("sub"))), claims.get("sub")
    for claim in ("azp", "auth_time", "at_hash", "acr", "amr", "sid", "auditTrackingId"):
        assert claim in claims, f"the ID token lacks {claim}"
    assert isinstance(claims["amr"], list)
    assert claims.get("id_assurance_level") == claims.get("idassurancelevel") is not None
    assert claims.get("authentication_assurance_level") in ("0", "1", "2", "3")
    assert claims.get("realm") == "/NHSIdentity/Healthcare"
    assert claims.get("tokenType") == "JWTToken"


@pytest.mark.requirement("CIS2-CLAIMS-001")
def test_cis2_person_claims(rp: RelyingParty) -> None:
    """profile, email and nhsperson release the CIS2 claims."""
    info, _ = _userinfo(rp, "openid profile email nhsperson")
    for claim in ("name", "family_name", "given_name", "uid"):
        assert isinstance(info.get(claim), str), f"profile: {claim} is {info.get(claim)!r}"
    assert info["uid"] == info["sub"]
    assert "email" not in info or "@" in str(info["email"])
    for claim in ("nhsid_useruid", "title", "idassurancelevel", "initials", "middle_names"):
        assert claim in info, f"nhsperson: no {claim}"
    assert "display_name" in info
    assert info["nhsid_useruid"] == info["sub"]


@pytest.mark.requirement("CIS2-CLAIMS-002")
def test_cis2_organisation_and_role_claims(rp: RelyingParty) -> None:
    """associatedorgs, nationalrbacaccess and the membership scopes release their lists."""
    scope = (
        "openid associatedorgs nationalrbacaccess organisationalmemberships professionalmemberships"
    )
    info, _ = _userinfo(rp, scope)
    orgs = info.get("nhsid_user_orgs")
    assert isinstance(orgs, list)
    for org in orgs:
        assert {"org_code", "org_name"} <= set(org), org
    roles = info.get("nhsid_nrbac_roles")
    assert isinstance(roles, list)
    for role in roles:
        assert {"org_code", "person_orgid", "person_roleid", "role_code", "role_name"} <= set(role)
        assert re.fullmatch(r"S[0-9]+(:G[0-9]+)?(:R[0-9]+)?", role["role_code"]), role
    assert isinstance(info.get("nhsid_org_memberships"), list)
    assert isinstance(info.get("nhsid_professional_memberships"), list)


@pytest.mark.requirement("CIS2-CLAIMS-003")
def test_cis2_selected_role(rp: RelyingParty) -> None:
    """selectedrole gives selected_roleid, one of the user's roles."""
    info, tokens = _userinfo(rp, "openid selectedrole nationalrbacaccess", prompt="login")
    roles = [role["person_roleid"] for role in info.get("nhsid_nrbac_roles", [])]
    if not roles:
        assert "selected_roleid" not in info
        return
    assert info.get("selected_roleid") in roles
    assert tokens.claims.get("selected_roleid") == info["selected_roleid"]
