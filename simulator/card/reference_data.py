"""PIN and PUK: stored as salted digests, with retry counters (the card's reference data)."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from simulator.piv.constants import PIN_FIELD_LENGTH, PIN_LENGTH_MAX, PIN_LENGTH_MIN, PIN_PAD


def is_well_formed_pin(field: bytes) -> bool:
    """6–8 ASCII digits padded to 8 bytes with FF (card-profile.md)."""
    if len(field) != PIN_FIELD_LENGTH:
        return False
    digits = field.rstrip(bytes((PIN_PAD,)))
    return PIN_LENGTH_MIN <= len(digits) <= PIN_LENGTH_MAX and digits.isdigit()


@dataclass
class ReferenceData:
    """One secret (PIN or PUK). The card file holds only its salted digest, never the value."""

    salt: bytes
    digest: bytes
    tries_left: int
    limit: int

    @classmethod
    def create(cls, field: bytes, limit: int, tries_left: int | None = None) -> ReferenceData:
        salt = os.urandom(16)
        return cls(salt, _digest(salt, field), limit if tries_left is None else tries_left, limit)

    @property
    def blocked(self) -> bool:
        return self.tries_left <= 0

    def matches(self, field: bytes) -> bool:
        return hmac.compare_digest(self.digest, _digest(self.salt, field))

    def replace(self, field: bytes) -> None:
        self.salt = os.urandom(16)
        self.digest = _digest(self.salt, field)
        self.tries_left = self.limit


def _digest(salt: bytes, field: bytes) -> bytes:
    return hmac.new(salt, field, hashlib.sha256).digest()
