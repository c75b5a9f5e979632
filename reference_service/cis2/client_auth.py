"""Client authentication at the token endpoint: `client_secret_post` and `private_key_jwt`.

`private_key_jwt` (RFC 7523): the assertion is signed RS256 or RS512 with a key from the
client's JWKS (fetched from its `jwks_uri`, cached, refetched once for an unknown key), `iss`
and `sub` are the client id, `aud` is the token endpoint exactly as in discovery, it has not
expired, lives at most 10 minutes, and its `jti` is never accepted twice. Any failure is
`invalid_client` "JWT is not valid", as CIS2 answers.
"""

from __future__ import annotations

import hmac
import json
import ssl
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from reference_service.cis2.clients import Client, ClientRegistry
from reference_service.cis2.errors import InvalidClient, InvalidRequest
from reference_service.cis2.store import Store

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("RS256", "RS512")
MAX_ASSERTION_LIFETIME = 600
MAX_ASSERTION_CHARS = 8192
CLOCK_SKEW = 60
JWKS_TTL = 300.0
JWT_NOT_VALID = "JWT is not valid"

FetchJwks = Callable[[str], dict[str, Any]]


def https_jwks_fetcher(trust: Path, timeout: float = 5.0) -> FetchJwks:
    def fetch(uri: str) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(trust)) if trust.exists() else True
        with httpx.Client(verify=context, timeout=timeout) as client:
            answer = client.get(uri)
            answer.raise_for_status()
            document = answer.json()
        if not isinstance(document, dict):
            raise ValueError("a JWK set is a JSON object")
        return document

    return fetch


class ClientAuthenticator:
    def __init__(
        self,
        registry: ClientRegistry,
        store: Store,
        clock: Callable[[], float],
        token_endpoint: str,
        fetch_jwks: FetchJwks,
    ) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.token_endpoint = token_endpoint
        self.fetch_jwks = fetch_jwks
        self._jwks_cache: dict[str, tuple[float, KeySet]] = {}
        self._lock = threading.Lock()

    def authenticate(self, form: Mapping[str, str], authorization: str | None) -> Client:
        if authorization:
            raise InvalidClient(
                "client authentication by Authorization header is not supported: "
                "use client_secret_post or private_key_jwt"
            )
        if "client_assertion" in form or "client_assertion_type" in form:
            return self._private_key_jwt(form)
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        if not client_id:
            raise InvalidClient("client authentication is required")
        client = self.registry.get(client_id)
        if client is None:
            raise InvalidClient("unknown client")
        method = client.token_endpoint_auth_method
        if method != "client_secret_post":
            raise InvalidClient(f"this client authenticates by {method}")
        expected = (client.client_secret or "").encode()
        if secret is None or not hmac.compare_digest(secret.encode(), expected):
            raise InvalidClient("client authentication failed")
        return client

    # -- private_key_jwt ------------------------------------------------------------------

    def _private_key_jwt(self, form: Mapping[str, str]) -> Client:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(JWT_NOT_VALID)
        assertion = form.get("client_assertion") or ""
        if "client_secret" in form:
            raise InvalidRequest("use one client authentication method")
        if not assertion or len(assertion) > MAX_ASSERTION_CHARS:
            raise InvalidClient(JWT_NOT_VALID)
        try:
            unverified = json.loads(jws.extract_compact(assertion.encode()).payload)
        except Exception:  # joserfc: several error types for garbage
            raise InvalidClient(JWT_NOT_VALID) from None
        if not isinstance(unverified, dict):
            raise InvalidClient(JWT_NOT_VALID)
        client_id = unverified.get("iss")
        if not isinstance(client_id, str) or (
            "client_id" in form and form["client_id"] != client_id
        ):
            raise InvalidClient(JWT_NOT_VALID)
        client = self.registry.get(client_id)
        if client is None or client.token_endpoint_auth_method != "private_key_jwt":  # noqa: S105
            raise InvalidClient(JWT_NOT_VALID)
        claims = self._verified_claims(client, assertion)
        now = self.clock()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        exp, iat = claims.get("exp"), claims.get("iat", now)
        jti = claims.get("jti")
        if (
            claims.get("sub") != client_id
            or self.token_endpoint not in audiences
            or not isinstance(exp, int | float)
            or isinstance(exp, bool)
            or exp <= now
            or exp > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW
            or not isinstance(iat, int | float)
            or iat > now + CLOCK_SKEW
            or not isinstance(jti, str)
            or not jti
            or len(jti) > 512
        ):
            raise InvalidClient(JWT_NOT_VALID)
        if not self.store.remember_once(f"assertion:{client_id}:{jti}", float(exp) + 60, now):
            raise InvalidClient(JWT_NOT_VALID)
        return client

    def _verified_claims(self, client: Client, assertion: str) -> dict[str, Any]:
        for refresh in (False, True):
            keys = self._client_keys(client, refresh=refresh)
            if keys is None:
                break
            try:
                token = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGS))
            except Exception:  # joserfc: bad signature, unknown kid, wrong alg ...
                if client.jwks_uri is None:
                    break
                continue
            return dict(token.claims)
        raise InvalidClient(JWT_NOT_VALID)

    def _client_keys(self, client: Client, *, refresh: bool) -> KeySet | None:
        try:
            if client.jwks is not None:
                return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
            uri = client.jwks_uri
            if uri is None:
                return None
            now = self.clock()
            with self._lock:
                cached = self._jwks_cache.get(uri)
            if cached is not None and not refresh and now - cached[0] < JWKS_TTL:
                return cached[1]
            if cached is not None and refresh and now - cached[0] < 10:
                return cached[1]  # refetched moments ago: do not let a client hammer it
            keys = KeySet.import_key_set(self.fetch_jwks(uri))  # type: ignore[arg-type]
            with self._lock:
                self._jwks_cache[uri] = (now, keys)
            return keys
        except Exception:  # unreachable JWKS URI, bad JSON, bad keys: authentication fails
            return None
