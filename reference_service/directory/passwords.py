"""NHSmail passwords: salted scrypt hashes, constant-time checks and the published rules.

Rules (NHSmail's published guidance): at least 8 characters; characters from at least 3 of
the 4 classes (upper case, lower case, digits, symbols); must not contain the user name (the
part of the address before `@`, or any of its dot-separated parts of 3+ characters); must not
be one of the last 4 passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
PREFIX = "scrypt"
HISTORY = 4
MIN_LENGTH = 8
MAX_LENGTH = 256


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(
        (
            PREFIX,
            str(N),
            str(R),
            str(P),
            base64.b64encode(salt).decode(),
            base64.b64encode(key).decode(),
        )
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; the derived keys are compared in constant time."""
    try:
        prefix, n, r, p, salt, key = stored.split("$")
        if prefix != PREFIX:
            return False
        expected = base64.b64decode(key)
        derived = hashlib.scrypt(
            password.encode("utf-8", "surrogatepass"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, expected)


# A hash of no real password: verified against when the account does not exist, so a login
# for an unknown address costs the same time as one for a known address.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def rule_problems(password: str, email: str, history: list[str] = []) -> list[str]:  # noqa: B006
    """The published rules this password breaks (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    classes = sum(
        (
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        problems.append("characters from 3 of: upper case, lower case, digits, symbols")
    user = email.split("@", 1)[0].lower()
    parts = [user, *user.replace("_", ".").replace("-", ".").split(".")]
    if any(len(part) >= 3 and part in password.lower() for part in parts):
        problems.append("must not contain your user name")
    if any(verify_password(password, old) for old in history[:HISTORY]):
        problems.append(f"must not be one of your last {HISTORY} passwords")
    return problems
