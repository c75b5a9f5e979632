"""Scopes and the claims each releases (cis2.md: Scopes and claims)."""

from __future__ import annotations

from typing import Any

from reference_service.cis2.users import User

SCOPES = (
    "openid",
    "profile",
    "email",
    "nhsperson",
    "associatedorgs",
    "nationalrbacaccess",
    "organisationalmemberships",
    "professionalmemberships",
    "selectedrole",
)

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "family_name", "given_name", "uid"),
    "email": ("email",),
    "nhsperson": (
        "nhsid_useruid",
        "title",
        "idassurancelevel",
        "initials",
        "middle_names",
        "display_name",
    ),
    "associatedorgs": ("nhsid_user_orgs",),
    "nationalrbacaccess": ("nhsid_nrbac_roles",),
    "organisationalmemberships": ("nhsid_org_memberships",),
    "professionalmemberships": ("nhsid_professional_memberships",),
    "selectedrole": ("selected_roleid",),
}

CLAIMS_SUPPORTED = sorted(
    {claim for claims in SCOPE_CLAIMS.values() for claim in claims}
    | {
        "iss",
        "aud",
        "azp",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "acr",
        "amr",
        "sid",
        "id_assurance_level",
        "authentication_assurance_level",
        "realm",
        "tokenType",
        "auditTrackingId",
    }
)


def userinfo_claims(user: User, scopes: list[str], selected_roleid: str | None) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": user.uuid}
    if "profile" in scopes:
        claims.update(
            name=user.name,
            family_name=user.family_name,
            given_name=user.given_name,
            uid=user.uuid,
        )
    if "email" in scopes and user.email:
        claims["email"] = user.email
    if "nhsperson" in scopes:
        claims.update(
            nhsid_useruid=user.uuid,
            title=user.title or "",
            idassurancelevel=user.id_assurance_level,
            initials=user.given_name[:1],
            middle_names="",
            display_name=user.display_name,
        )
    if "associatedorgs" in scopes:
        claims["nhsid_user_orgs"] = [
            {"org_code": o.org_code, "org_name": o.org_name} for o in user.organisations
        ]
    if "nationalrbacaccess" in scopes:
        claims["nhsid_nrbac_roles"] = [
            {
                "org_code": r.org_code,
                "person_orgid": f"{r.org_code}-{user.uuid}",
                "person_roleid": r.person_roleid,
                "role_code": r.role_code,
                "role_name": r.role_name,
            }
            for r in user.roles
        ]
    if "organisationalmemberships" in scopes:
        claims["nhsid_org_memberships"] = [
            {
                "org_code": o.org_code,
                "org_name": o.org_name,
                "person_orgid": f"{o.org_code}-{user.uuid}",
            }
            for o in user.organisations
        ]
    if "professionalmemberships" in scopes:
        claims["nhsid_professional_memberships"] = []
    if "selectedrole" in scopes and selected_roleid:
        claims["selected_roleid"] = selected_roleid
    return claims
