"""PKCE (RFC 7636), S256 only: `plain` is refused, verifiers are compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from reference_service.cis2.errors import InvalidGrant, InvalidRequest

# RFC 7636 §4.1/4.2: 43-128 characters of [A-Z a-z 0-9 - . _ ~].
VERIFIER_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256(verifier: str) -> str:
    hashed = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> None:
    """Authorization request side. Raises InvalidRequest."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        if required:
            raise InvalidRequest("this client must use PKCE (code_challenge, S256)")
        return
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not VERIFIER_PATTERN.fullmatch(challenge):
        raise InvalidRequest("code_challenge is not a base64url S256 value")


def check_verifier(challenge: str | None, verifier: str | None) -> None:
    """Token request side. Raises InvalidGrant (RFC 7636 §4.6) or InvalidRequest."""
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier given but the authorization used no PKCE")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required (PKCE)")
    if not VERIFIER_PATTERN.fullmatch(verifier):
        raise InvalidGrant("code_verifier is malformed")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
