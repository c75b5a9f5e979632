"""OpenID Connect Back-Channel Logout 1.0: logout tokens, and their delivery to relying parties."""

from __future__ import annotations

import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_LIFETIME = 120


@dataclass(frozen=True)
class LogoutDelivery:
    client_id: str
    uri: str
    token: str = ""


def logout_claims(issuer: str, client_id: str, sub: str, sid: str, now: float) -> dict[str, Any]:
    """The claims of a logout token: no nonce, an events claim, both sub and sid."""
    return {
        "iss": issuer,
        "aud": client_id,
        "iat": int(now),
        "exp": int(now) + TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "sid": sid,
        "events": {EVENT: {}},
    }


Deliver = Callable[[LogoutDelivery], int | None]


def https_deliverer(trust: Path, *, attempts: int = 3, timeout: float = 5.0) -> Deliver:
    """POSTs `logout_token` to the RP (TLS verified against `trust`); its final status or None."""

    def deliver(delivery: LogoutDelivery) -> int | None:
        context = ssl.create_default_context(cafile=str(trust)) if trust.exists() else True
        status: int | None = None
        for attempt in range(attempts):
            try:
                with httpx.Client(verify=context, timeout=timeout) as client:
                    answer = client.post(delivery.uri, data={"logout_token": delivery.token})
                status = answer.status_code
                if status < 500:
                    return status
            except httpx.HTTPError:
                status = None
            time.sleep(0.2 * (attempt + 1))
        return status

    return deliver
