"""The persona data model: who a test user is, which accounts they hold and which card they carry.

Models are frozen and reject unknown fields and type coercion (a PIN written as a TOML
integer would silently lose its leading zeros), so a typo in the personas file is an error
rather than a default. Secrets (PIN, PUK, password, MFA secret) are left out of repr() and
str(), and out of every validation message, so personas can be logged safely.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from simulator.pki import CertState

FaultMode = Literal[
    "wrong_sw_on_wrong_pin", "counter_not_decremented", "slow", "drop_connection", "tearing_unsafe"
]
"""Card misbehaviours for testing the agent and the suites themselves (off unless listed)."""

AccountStatus = Literal["active", "locked", "disabled"]

PIN_MIN, PIN_MAX, PUK_LENGTH = 6, 8, 8
PASSWORD_MIN = 8
PASSWORD_CLASSES_NEEDED = 3
MFA_SECRET_MIN = 16  # base32 characters: 80 bits, the shortest secret authenticator apps use
USERNAME_PART_MIN = 3  # shorter pieces of a user name ("jo") are too common to forbid

_DIGITS = re.compile(r"[0-9]+")
_SLUG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_ORG_CODE = re.compile(r"[A-Z0-9]{3,10}")
_ROLE_CODE = re.compile(r"S[0-9]{4,5}:G[0-9]{4,5}:R[0-9]{4,5}")
_EMAIL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._'+-]*[A-Za-z0-9])?@nhs\.net")
_BASE32 = re.compile(r"[A-Z2-7]+=*")


def _digits(value: object, *, what: str, low: int, high: int) -> str:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value) or not low <= len(value) <= high:
        count = f"{low} to {high}" if low != high else f"exactly {low}"
        hint = "" if isinstance(value, str) else ", written as a quoted string"
        raise ValueError(f"{what} is {count} digits{hint}")
    return value


def _check_pin(value: object) -> str:
    return _digits(value, what="a PIN", low=PIN_MIN, high=PIN_MAX)


def _check_puk(value: object) -> str:
    return _digits(value, what="a PUK", low=PUK_LENGTH, high=PUK_LENGTH)


def _check_uuid(value: object) -> str:
    return _digits(value, what="a Care Identity UUID", low=12, high=12)


def _check_role_id(value: object) -> str:
    return _digits(value, what="a person_roleid", low=12, high=12)


def _check_text(value: str) -> str:
    """One non-blank line: these strings end up in HTML pages, claims and report cells."""
    if not value.strip():
        raise ValueError("must not be blank")
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")
    return value


def _check_slug(value: str) -> str:
    if not _SLUG.fullmatch(value) or len(value) > 40:
        raise ValueError("a persona name is lower-case letters, digits and single hyphens")
    return value


def _check_org_code(value: str) -> str:
    if not _ORG_CODE.fullmatch(value):
        raise ValueError("an ODS organisation code is 3 to 10 upper-case letters or digits")
    return value


def _check_role_code(value: str) -> str:
    if not _ROLE_CODE.fullmatch(value):
        raise ValueError("a role code looks like S8000:G8000:R8000")
    return value


Text = Annotated[str, AfterValidator(_check_text)]
Pin = Annotated[str, BeforeValidator(_check_pin)]
Puk = Annotated[str, BeforeValidator(_check_puk)]
CareIdentityUuid = Annotated[str, BeforeValidator(_check_uuid)]
PersonRoleId = Annotated[str, BeforeValidator(_check_role_id)]
OrgCode = Annotated[str, AfterValidator(_check_org_code)]
RoleCode = Annotated[str, AfterValidator(_check_role_code)]
Slug = Annotated[str, AfterValidator(_check_slug)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Organisation(_Model):
    """An organisation the user is associated with (the `associatedorgs` claim)."""

    org_code: OrgCode
    org_name: Text


class Role(_Model):
    """A national RBAC role (an entry of the `nhsid_nrbac_roles` claim)."""

    org_code: OrgCode
    org_name: Text
    role_code: RoleCode
    role_name: Text
    person_roleid: PersonRoleId


class CareIdentity(_Model):
    """The user's NHS Care Identity: the UUID on their card, their name, roles and organisations."""

    uuid: CareIdentityUuid
    title: Text | None = None
    given_name: Text
    family_name: Text
    # Declared before `roles` so that the roles validator can see them.
    organisations: tuple[Organisation, ...] = Field(default=(), strict=False)
    roles: tuple[Role, ...] = Field(default=(), strict=False)

    @property
    def display_name(self) -> str:
        """ "Dr Alice Smith": the name shown on pages and in the `display_name` claim."""
        parts = (self.title, self.given_name, self.family_name)
        return " ".join(part for part in parts if part)

    @field_validator("organisations")
    @classmethod
    def _unique_organisations(cls, value: tuple[Organisation, ...]) -> tuple[Organisation, ...]:
        codes = [org.org_code for org in value]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"organisation listed twice: {', '.join(duplicates)}")
        return value

    @field_validator("roles")
    @classmethod
    def _roles_match_organisations(
        cls, value: tuple[Role, ...], info: ValidationInfo
    ) -> tuple[Role, ...]:
        organisations = info.data.get("organisations")
        if organisations is not None:  # None: they failed validation, reported already
            names = {org.org_code: org.org_name for org in organisations}
            for index, role in enumerate(value):
                if role.org_code not in names:
                    raise ValueError(
                        f"roles[{index}].org_code {role.org_code!r} is not among the organisations"
                    )
                if role.org_name != names[role.org_code]:
                    raise ValueError(
                        f"roles[{index}].org_name {role.org_name!r} differs from the organisation's"
                        f" name {names[role.org_code]!r}"
                    )
        ids = [role.person_roleid for role in value]
        duplicates = sorted({rid for rid in ids if ids.count(rid) > 1})
        if duplicates:
            raise ValueError(f"person_roleid used twice: {', '.join(duplicates)}")
        return value


def password_problem(password: str, username: str | None) -> str | None:
    """Why `password` breaks the NHSmail rule (≥8 characters, 3 of 4 character classes, not
    containing the user name), or None when it complies."""
    if len(password) < PASSWORD_MIN:
        return f"a password has at least {PASSWORD_MIN} characters"
    classes = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < PASSWORD_CLASSES_NEEDED:
        return "a password mixes 3 of: lower case, upper case, digits, symbols"
    if username:
        lowered = password.lower()
        pieces = {username.lower(), *re.split(r"[._'+-]", username.lower())}
        if any(len(piece) >= USERNAME_PART_MIN and piece in lowered for piece in pieces):
            return "a password must not contain the user name"
    return None


class NhsMailAccount(_Model):
    """The user's nhs.net account as the NHSmail portal holds it."""

    email: str
    password: str = Field(repr=False)
    mfa_secret: str | None = Field(default=None, repr=False)
    """Base32 TOTP secret; None means MFA is off for this account."""
    aup_accepted: bool = True
    status: AccountStatus = "active"
    linked: bool = False
    """The Care Identity is already linked to this account in My Identity Portal."""

    @property
    def username(self) -> str:
        return self.email.split("@", 1)[0]

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_secret is not None

    @field_validator("email")
    @classmethod
    def _nhs_net_address(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError("an NHSmail address looks like first.last@nhs.net")
        return value

    @field_validator("password")
    @classmethod
    def _nhsmail_password_rule(cls, value: str, info: ValidationInfo) -> str:
        email = info.data.get("email")
        problem = password_problem(value, email.split("@", 1)[0] if email else None)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("mfa_secret")
    @classmethod
    def _base32_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        message = f"an MFA secret is base32 (A-Z, 2-7), at least {MFA_SECRET_MIN} characters"
        if not _BASE32.fullmatch(value) or len(value.rstrip("=")) < MFA_SECRET_MIN:
            raise ValueError(message)
        try:
            base64.b32decode(value + "=" * (-len(value) % 8))
        except binascii.Error:
            raise ValueError(message) from None
        return value


class CardSpec(_Model):
    """How the persona's smartcard is issued: series, secrets, certificate state, faults."""

    series: Literal[8, 9, 10] = 9
    pin: Pin = Field(repr=False)
    puk: Puk = Field(repr=False)
    puk_tries: int = Field(default=3, ge=1, le=10)
    certificate: CertState = "valid"
    locked: bool = False
    """Issue the card with no PIN tries left (blocked until unlocked with the PUK)."""
    faults: tuple[FaultMode, ...] = Field(default=(), strict=False)

    @field_validator("faults")
    @classmethod
    def _no_duplicate_faults(cls, value: tuple[FaultMode, ...]) -> tuple[FaultMode, ...]:
        duplicates = sorted({fault for fault in value if value.count(fault) > 1})
        if duplicates:
            raise ValueError(f"fault listed twice: {', '.join(duplicates)}")
        return value


class Persona(_Model):
    """A named test user: a Care Identity, maybe an NHSmail account, and a card."""

    name: Slug
    purpose: Text
    """One line: what this persona is for (shown by `careid personas`)."""
    care_identity: CareIdentity
    nhsmail: NhsMailAccount | None = None
    """None: the user has no NHSmail account at all."""
    card: CardSpec
