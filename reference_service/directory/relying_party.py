"""The portals as OpenID Connect relying parties of the sign-in service (code flow + PKCE).

`begin()` makes the authorization request and the state to keep in the browser's portal
session; `complete()` checks the response (`state`, `iss`), redeems the code with
`client_secret_post` over HTTPS (the CA bundle file is the trust), validates the ID token with
joserfc (signature from the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`) and
reads userinfo. `logout_token()` validates a back-channel logout token (signature, `iss`,
`aud`, `iat`/`exp` age, `jti` single use, the `events` claim, no `nonce`, `sid` or `sub`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from reference_service.directory.store import Directory

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256", "ES256"]
SCOPE = "openid profile email nhsperson associatedorgs"
LEEWAY = 60.0
LOGOUT_MAX_AGE = 300.0


class RelyingPartyError(Exception):
    """A sign-in response or logout token refused, with a stable code."""

    def __init__(self, code: str, detail: str = "", status: int = 400) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class RpConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    acr_values: str = "AAL2_OR_AAL3_ANY"
    scope: str = SCOPE


@dataclass(frozen=True)
class SignedIn:
    sub: str
    sid: str | None
    claims: dict[str, Any]
    userinfo: dict[str, Any]
    id_token: str = field(repr=False)

    @property
    def name(self) -> str:
        info = self.userinfo
        return str(
            info.get("display_name")
            or info.get("name")
            or f"{info.get('given_name', '')} {info.get('family_name', '')}".strip()
            or self.sub
        )

    @property
    def amr(self) -> list[str]:
        value = self.claims.get("amr") or []
        return [str(item) for item in value] if isinstance(value, list) else [str(value)]

    @property
    def smartcard(self) -> bool:
        return "N3_SMARTCARD" in self.amr


@dataclass(frozen=True)
class LogoutClaims:
    sub: str | None
    sid: str | None
    jti: str


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


class RelyingParty:
    def __init__(
        self,
        config: RpConfig,
        http: Callable[[], httpx.Client],
        clock: Callable[[], float],
        directory: Directory,
    ) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        self.directory = directory
        self._lock = threading.Lock()
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    # -- provider metadata -------------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self.http() as http:
                answer = http.get(url)
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RelyingPartyError("provider_unavailable", str(exc), 502) from None
        if answer.status_code != 200 or not isinstance(body, dict):
            raise RelyingPartyError("provider_unavailable", f"{url}: {answer.status_code}", 502)
        return body

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            cached = self._discovery
        if cached is None:
            cached = self._get_json(f"{self.config.issuer}/.well-known/openid-configuration")
            if cached.get("issuer") != self.config.issuer:
                raise RelyingPartyError("provider_unavailable", "discovery issuer mismatch", 502)
            with self._lock:
                self._discovery = cached
        return cached

    def endpoint(self, name: str) -> str:
        value = self.discovery().get(name)
        if not isinstance(value, str):
            raise RelyingPartyError("provider_unavailable", f"discovery has no {name}", 502)
        return value

    def keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            keys = None if refresh else self._keys
        if keys is None:
            try:
                keys = KeySet.import_key_set(self._get_json(self.endpoint("jwks_uri")))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as exc:
                raise RelyingPartyError("provider_unavailable", f"JWKS: {exc}", 502) from None
            with self._lock:
                self._keys = keys
        return keys

    def _decode(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or len(token) > 16384 or token.count(".") != 2:
            raise RelyingPartyError("token_invalid", "not a compact JWS")
        for refresh in (False, True):
            try:
                decoded = jwt.decode(token, self.keys(refresh=refresh), algorithms=ALGORITHMS)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                if refresh:
                    raise RelyingPartyError("token_invalid", f"signature: {exc}") from None
                continue
            return dict(decoded.claims)
        raise RelyingPartyError("token_invalid", "signature")  # pragma: no cover

    def _audience_ok(self, claims: dict[str, Any]) -> bool:
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        return self.config.client_id in audiences

    # -- sign-in -----------------------------------------------------------------------------

    def begin(self, **extra: str) -> tuple[str, dict[str, str]]:
        """(authorization URL, the pending state to keep in the portal session)."""
        pending = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48),
        }
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_uri,
            "scope": self.config.scope,
            "state": pending["state"],
            "nonce": pending["nonce"],
            "acr_values": self.config.acr_values,
            "code_challenge": _s256(pending["verifier"]),
            "code_challenge_method": "S256",
        }
        query.update(extra)
        url = self.endpoint("authorization_endpoint")
        return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}", pending

    def complete(self, params: dict[str, str], pending: dict[str, str] | None) -> SignedIn:
        if pending is None or not _same(params.get("state", ""), pending.get("state", "")):
            raise RelyingPartyError("state_mismatch", "no sign-in of this browser is pending")
        if "iss" in params and params["iss"] != self.config.issuer:
            raise RelyingPartyError("issuer_mismatch", "the response names another issuer")
        if "error" in params:
            raise RelyingPartyError("signin_" + _safe(params["error"]), "the provider refused")
        code = params.get("code", "")
        if not code or len(code) > 2048:
            raise RelyingPartyError("code_missing", "no authorization code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": pending["verifier"],
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        try:
            with self.http() as http:
                answer = http.post(self.endpoint("token_endpoint"), data=form)
                tokens = answer.json()
                if answer.status_code != 200 or not isinstance(tokens, dict):
                    raise RelyingPartyError("token_failed", f"{answer.status_code}", 502)
                id_token = tokens.get("id_token")
                access = tokens.get("access_token")
                if not isinstance(id_token, str) or not isinstance(access, str):
                    raise RelyingPartyError("token_failed", "no id_token or access_token", 502)
                claims = self.id_token_claims(id_token, pending["nonce"])
                info = http.get(
                    self.endpoint("userinfo_endpoint"),
                    headers={"Authorization": f"Bearer {access}"},
                )
                userinfo = info.json() if info.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise RelyingPartyError("token_failed", str(exc), 502) from None
        if not isinstance(userinfo, dict) or userinfo.get("sub", claims["sub"]) != claims["sub"]:
            raise RelyingPartyError("token_invalid", "userinfo sub differs from the ID token")
        sid = claims.get("sid")
        return SignedIn(str(claims["sub"]), str(sid) if sid else None, claims, userinfo, id_token)

    def id_token_claims(self, token: str, nonce: str) -> dict[str, Any]:
        claims = self._decode(token)
        now = self.clock()
        problems = [
            name
            for name, ok in (
                ("iss", claims.get("iss") == self.config.issuer),
                ("aud", self._audience_ok(claims)),
                ("azp", claims.get("azp", self.config.client_id) == self.config.client_id),
                ("exp", _number(claims.get("exp")) > now - LEEWAY),
                ("iat", _number(claims.get("iat")) < now + LEEWAY),
                ("nonce", _same(str(claims.get("nonce", "")), nonce)),
                ("sub", isinstance(claims.get("sub"), str) and bool(claims.get("sub"))),
            )
            if not ok
        ]
        if problems:
            raise RelyingPartyError("token_invalid", f"ID token claims: {problems}")
        return claims

    # -- back-channel logout -----------------------------------------------------------------

    def logout_token(self, token: str) -> LogoutClaims:
        claims = self._decode(token)
        now = self.clock()
        events = claims.get("events")
        sub, sid, jti = claims.get("sub"), claims.get("sid"), claims.get("jti")
        iat, exp = _number(claims.get("iat")), _number(claims.get("exp"), now + LOGOUT_MAX_AGE)
        problems = [
            name
            for name, ok in (
                ("iss", claims.get("iss") == self.config.issuer),
                ("aud", self._audience_ok(claims)),
                ("iat", now - LOGOUT_MAX_AGE <= iat <= now + LEEWAY),
                ("exp", exp > now - LEEWAY),
                ("events", isinstance(events, dict) and isinstance(events.get(LOGOUT_EVENT), dict)),
                ("nonce", "nonce" not in claims),
                ("sub/sid", isinstance(sub, str) or isinstance(sid, str)),
                ("jti", isinstance(jti, str) and 0 < len(jti) <= 256),
            )
            if not ok
        ]
        if problems:
            raise RelyingPartyError("logout_token_invalid", f"claims: {problems}")
        assert isinstance(jti, str)  # noqa: S101 - checked above
        key = f"{self.config.issuer} {jti}"
        if not self.directory.first_use(key, max(exp, now) + LOGOUT_MAX_AGE, now):
            raise RelyingPartyError("logout_token_replayed", "jti already seen")
        return LogoutClaims(
            sub if isinstance(sub, str) else None, sid if isinstance(sid, str) else None, jti
        )


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings, whatever characters they hold."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _number(value: object, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return default
    return float(value) if isinstance(value, int | float) else default


def _safe(value: str) -> str:
    cleaned = "".join(c for c in value[:40] if c.isalnum() or c == "_")
    return cleaned or "error"
