"""The smartcard sign-in protocol as the agent speaks it (docs/signin-protocol.md).

Pure helpers shared by the agent core, its HTTP face and the agent suite: the message the
card signs, challenge and origin checks, and the errors with their stable codes and HTTP
statuses.
"""

from __future__ import annotations

import base64
import re
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

AGENT_NAME = "careid-agent"
DEFAULT_PORT = 47201
SIGNIN_PREFIX = b"careid-signin-v1\n"
CHALLENGE_MIN = 16
CHALLENGE_MAX = 512
MAX_WAIT = 25.0  # seconds a long poll may wait
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Policy(StrEnum):
    """What pulling the card does, and how often the PIN is asked."""

    LEGACY = "legacy"  # Identity Agent: PIN once per insertion; removal ends the session
    CONNECT = "connect"  # Smartcard Connect: removal ends nothing; PIN per new origin


class RequestState(StrEnum):
    PIN_REQUIRED = "pin_required"
    SIGNED = "signed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class FailureCode(StrEnum):
    """`error.code` of a sign request that ended without a signature."""

    CANCELLED = "cancelled"
    CARD_REMOVED = "card_removed"
    PIN_LOCKED = "pin_locked"
    NO_CARD = "no_card"
    CARD_ERROR = "card_error"


class SignAlgorithm(StrEnum):
    RSA_PKCS1_SHA256 = "RSA-PKCS1-SHA256"
    ECDSA_P256_SHA256 = "ECDSA-P256-SHA256"


def signin_message(origin: str, challenge: str) -> bytes:
    """What the card signs: bound to the asking origin and the challenge as sent."""
    return SIGNIN_PREFIX + origin.encode() + b"\n" + challenge.encode()


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_challenge(challenge: object) -> str:
    """The challenge as sent, when it is base64url text of 16–512 characters."""
    if not isinstance(challenge, str):
        raise InvalidRequestError("challenge must be a string")
    if not CHALLENGE_MIN <= len(challenge) <= CHALLENGE_MAX:
        raise InvalidRequestError(
            f"challenge must be {CHALLENGE_MIN} to {CHALLENGE_MAX} characters of base64url"
        )
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequestError("challenge must be base64url (A-Z a-z 0-9 - _)")
    return challenge


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in its serialised form (lower case, default port left out), or
    None when `value` is not an http(s) origin (a path, query, user or fragment included)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_of_url(url: str) -> str | None:
    """The origin of an absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or parts.username:
        return None
    netloc = parts.hostname.lower()
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme.lower()]:
        netloc += f":{port}"
    return f"{parts.scheme.lower()}://{netloc}"


def check_session_end_url(url: object, origin: str) -> str:
    """A session-end URL the agent may call: https, on the request's own origin."""
    if not isinstance(url, str) or len(url) > 2048:
        raise InvalidRequestError("session_end_url must be a URL string")
    if not url.lower().startswith("https://"):
        raise InvalidRequestError("session_end_url must be an https URL")
    if origin_of_url(url) != origin:
        raise InvalidRequestError("session_end_url must be on the request's own origin")
    return url


# --- errors --------------------------------------------------------------------------------------


class AgentError(Exception):
    """An answer the agent gives instead of doing what was asked: a stable code and status."""

    code = "agent_error"
    status = 500

    def __init__(self, description: str = "") -> None:
        self.description = description
        super().__init__(f"{self.code}: {description}" if description else self.code)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code}
        if self.description:
            body["error_description"] = self.description
        return body


class OriginNotAllowedError(AgentError):
    code = "origin_not_allowed"
    status = 403


class InvalidRequestError(AgentError):
    code = "invalid_request"
    status = 400


class NoCardError(AgentError):
    code = "no_card"
    status = 409


class PinLockedError(AgentError):
    code = "pin_locked"
    status = 423


class UnknownRequestError(AgentError):
    code = "unknown_request"
    status = 404


class RequestClosedError(AgentError):
    """A PIN or cancel for a request that is no longer waiting for one."""

    code = "request_closed"
    status = 409


class ForbiddenError(AgentError):
    """A dialog form posted from elsewhere, or with a wrong csrf token."""

    code = "forbidden"
    status = 403
