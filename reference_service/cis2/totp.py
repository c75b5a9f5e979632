"""RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits): the authenticator-app mechanism (AAL2)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

STEP = 30
DIGITS = 6


def secret_bytes(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("a TOTP secret is base32") from None


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(secret: str, now: float, digits: int = DIGITS) -> str:
    return hotp(secret_bytes(secret), int(now // STEP), digits)


def matching_step(secret: str, code: str, now: float, window: int = 1) -> int | None:
    """The time step `code` belongs to (within ±`window` steps), compared in constant time."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = secret_bytes(secret)
    current = int(now // STEP)
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(hotp(key, step), code):
            found = step
    return found
