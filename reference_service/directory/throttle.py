"""The portals' limits on guessing an account's password or MFA code.

One counter per secret kind and account, kept by `AttemptLimiter` in the directory's database:
spent before the comparison, given back by a match. The account is named by a digest of its
normalised address, so whatever was typed in the address box (a password, sometimes) is never
stored, and an unknown address is limited exactly like a known one.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from reference_service.common.attempts import attempt_key

Secret = Literal["password", "mfa"]
KINDS: tuple[Secret, ...] = ("password", "mfa")


def account_key(kind: Secret, email: str) -> str:
    """The counter key of this secret kind for this address (any case, any spaces)."""
    normalised = email.strip().lower().encode("utf-8", "surrogatepass")
    return attempt_key(kind, "account", hashlib.sha256(normalised).hexdigest())


def account_keys(email: str) -> tuple[str, ...]:
    """Every counter of one account (cleared when the helpdesk unlocks it)."""
    return tuple(account_key(kind, email) for kind in KINDS)
