"""Authentication assurance: the `acr_values` CIS2 knows, the mechanisms that satisfy them.

An `acr_values` list is satisfied by a mechanism when one of its values names it. A relying
party asking for AAL2 accepts AAL2 and AAL3 (cis2.md). The `acr` claim echoes the first
requested value the used mechanism satisfies.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_service.cis2.errors import AccessDenied, InvalidRequest

DEFAULT_ACR = "AAL3_ANY"


@dataclass(frozen=True)
class Mechanism:
    name: str
    title: str
    description: str
    level: int
    amr: str


SMARTCARD = Mechanism(
    "smartcard", "Smartcard", "Your NHS smartcard in a card reader, and its PIN", 3, "N3_SMARTCARD"
)
TOTP = Mechanism(
    "totp", "Authenticator app", "A 6-digit code from your authenticator app", 2, "TOTP"
)
MECHANISMS = {m.name: m for m in (SMARTCARD, TOTP)}

# Known acr values -> mechanisms this provider implements that satisfy them. Values for
# mechanisms the reference does not implement (FIDO2, iPad app, NHS.net Connect, password)
# are known, but nothing here satisfies them.
ACR_VALUES: dict[str, tuple[str, ...]] = {
    "AAL3_ANY": ("smartcard",),
    "AAL2_OR_AAL3_ANY": ("smartcard", "totp"),
    "AAL2_ANY": ("smartcard", "totp"),
    "AAL3_N3_SMARTCARD": ("smartcard",),
    "AAL3_CIS2_SMARTCARD": ("smartcard",),
    "AAL3_FIDO2": (),
    "AAL3_IOS": (),
    "AAL2_TOTP": ("totp",),
    "AAL2_NHSMAIL": (),
    "AAL1_USERPASS": (),
}


def parse_acr_values(value: str | None) -> list[str]:
    """The requested values, in order (default AAL3_ANY). Raises on unknown or unusable ones."""
    if value is None:
        return [DEFAULT_ACR]
    values = list(dict.fromkeys(value.split()))
    if not values:
        raise InvalidRequest("acr_values is empty")
    unknown = [v for v in values if v not in ACR_VALUES]
    if unknown:
        raise InvalidRequest(f"unknown acr_values: {' '.join(unknown[:5])[:200]}")
    if not mechanisms_for(values):
        raise AccessDenied(
            "no authentication mechanism of this provider satisfies the requested acr_values"
        )
    return values


def mechanisms_for(acr_values: list[str]) -> list[Mechanism]:
    names = dict.fromkeys(name for value in acr_values for name in ACR_VALUES.get(value, ()))
    return [MECHANISMS[name] for name in names]


def satisfied_acr(acr_values: list[str], mechanism: str) -> str | None:
    """The first requested value `mechanism` satisfies, or None."""
    return next((v for v in acr_values if mechanism in ACR_VALUES.get(v, ())), None)
