"""The relying party's side of the OIDC suite: requests, token calls and ID token checks."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode, urljoin

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, import_key

from conformance.oidc.flow import FlowResult
from conformance.oidc.target import ProviderUnderTest, RegisteredClient

HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


def jose_header(token: str) -> dict[str, Any]:
    segment = token.split(".", maxsplit=1)[0]
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return value


def token_hash(value: str, alg: str) -> str:
    """at_hash / c_hash: the left half of the alg's SHA-2 digest, base64url (Core 3.1.3.6)."""
    digest = (HASHES.get(alg[-3:]) or hashlib.sha512)(value.encode()).digest()
    return b64url(digest[: len(digest) // 2])


@dataclass
class SignIn:
    """One completed authorization request: what was sent and where the browser ended."""

    client: RegisteredClient
    state: str
    nonce: str
    verifier: str | None
    result: FlowResult
    http: httpx.Client

    @property
    def code(self) -> str:
        code = self.result.params.get("code")
        assert code, f"no code in the authorization response: {self.result.url}"
        return code


@dataclass
class Tokens:
    answer: httpx.Response
    body: dict[str, Any]
    claims: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def access_token(self) -> str:
        return str(self.body["access_token"])

    @property
    def id_token(self) -> str:
        return str(self.body["id_token"])


class RelyingParty:
    """The suite acting as a relying party of `provider`."""

    def __init__(self, provider: ProviderUnderTest, discovery: dict[str, Any]) -> None:
        self.provider = provider
        self.discovery = discovery
        self._keys: KeySet | None = None

    # -- endpoints -------------------------------------------------------------------------

    def endpoint(self, name: str) -> str:
        value = self.discovery.get(name)
        assert isinstance(value, str) and value, f"discovery has no {name}"
        return value

    @property
    def keys(self) -> KeySet:
        if self._keys is None:
            with self.provider.http() as http:
                self._keys = KeySet.import_key_set(http.get(self.endpoint("jwks_uri")).json())
        return self._keys

    # -- authorization -----------------------------------------------------------------------

    def authorize_url(
        self,
        client: RegisteredClient | None = None,
        *,
        pkce: bool = True,
        state: str | None = None,
        nonce: str | None = None,
        verifier: str | None = None,
        **params: str,
    ) -> tuple[str, dict[str, str]]:
        """(URL, the parameters sent); PKCE S256 unless `pkce=False`."""
        client = client or self.provider.main
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": "openid",
            "state": state or secrets.token_urlsafe(16),
            "nonce": nonce or secrets.token_urlsafe(16),
        }
        if pkce:
            query["code_verifier"] = verifier or secrets.token_urlsafe(48)
            query["code_challenge"] = s256(query["code_verifier"])
            query["code_challenge_method"] = "S256"
        query.update(params)
        sent = dict(query)
        query.pop("code_verifier", None)
        url = self.endpoint("authorization_endpoint")
        return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}", sent

    def sign_in(
        self,
        client: RegisteredClient | None = None,
        *,
        http: httpx.Client | None = None,
        pkce: bool = True,
        **params: str,
    ) -> SignIn:
        """Authorize with the login driver; returns where the browser came back."""
        client = client or self.provider.main
        browser = http or self.provider.http()
        url, sent = self.authorize_url(client, pkce=pkce, **params)
        result = self.provider.driver.sign_in(browser, url, client.redirect_uri)
        return SignIn(
            client, sent["state"], sent["nonce"], sent.get("code_verifier"), result, browser
        )

    def authorize_error(
        self, client: RegisteredClient | None = None, *, pkce: bool = True, **params: str
    ) -> tuple[httpx.Response, dict[str, str], dict[str, str] | None]:
        """An authorization request expected to fail before any login page:
        (the answer, the parameters sent, the error parameters when it redirected back)."""
        from conformance.oidc.flow import query_params  # noqa: PLC0415

        client = client or self.provider.main
        url, sent = self.authorize_url(client, pkce=pkce, **params)
        with self.provider.http() as http:
            answer = http.get(url)
            for _ in range(5):
                if not answer.is_redirect:
                    break
                location = urljoin(str(answer.url), answer.headers["location"])
                if location.split("#", 1)[0].split("?", 1)[0] == sent["redirect_uri"]:
                    # Errors come in the query, or in the fragment for response types
                    # whose default response mode is fragment.
                    params = query_params(location)
                    fragment = location.partition("#")[2]
                    params.update(query_params("?" + fragment) if fragment else {})
                    return answer, sent, params
                answer = http.get(location)
            answer.read()
        return answer, sent, None

    # -- tokens -------------------------------------------------------------------------------

    def client_assertion(
        self, client: RegisteredClient, *, key: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        jwk = key or client.private_jwk
        assert jwk is not None, f"{client.client_id} has no private key"
        private = import_key(jwk)
        now = int(time.time())
        body = {
            "iss": client.client_id,
            "sub": client.client_id,
            "aud": self.endpoint("token_endpoint"),
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 120,
        }
        body.update(claims)
        alg = jwk.get("alg") or ("ES256" if jwk.get("kty") == "EC" else "RS256")
        header = {"alg": alg, "typ": "JWT"}
        if jwk.get("kid"):
            header["kid"] = jwk["kid"]
        return jwt.encode(header, body, private, algorithms=[alg])

    def authentication(self, client: RegisteredClient) -> dict[str, str]:
        if client.auth_method == "private_key_jwt":
            return {
                "client_id": client.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.client_assertion(client),
            }
        return {"client_id": client.client_id, "client_secret": client.client_secret or ""}

    def token_request(
        self,
        signin: SignIn,
        *,
        auth: dict[str, str] | None = None,
        http: httpx.Client | None = None,
        **extra: str | None,
    ) -> httpx.Response:
        form: dict[str, str] = {
            "grant_type": "authorization_code",
            "code": signin.code,
            "redirect_uri": signin.client.redirect_uri,
        }
        if signin.verifier:
            form["code_verifier"] = signin.verifier
        form.update(auth if auth is not None else self.authentication(signin.client))
        for key, value in extra.items():
            if value is None:
                form.pop(key, None)
            else:
                form[key] = value
        if http is not None:
            return http.post(self.endpoint("token_endpoint"), data=form)
        with self.provider.http() as client:
            return client.post(self.endpoint("token_endpoint"), data=form)

    def redeem(self, signin: SignIn, **extra: str | None) -> Tokens:
        """Redeem the code; asserts success and validates the ID token's signature."""
        answer = self.token_request(signin, **cast("dict[str, Any]", extra))
        assert answer.status_code == 200, f"token endpoint: {answer.status_code} {answer.text}"
        body = answer.json()
        assert "id_token" in body, f"no id_token in the token response: {sorted(body)}"
        header, claims = self.verify_id_token(body["id_token"])
        return Tokens(answer, body, claims, header)

    def verify_id_token(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        header = jose_header(token)
        alg = str(header.get("alg", ""))
        assert alg and alg.lower() != "none", f"ID token alg {alg!r}"
        advertised = self.discovery.get("id_token_signing_alg_values_supported") or []
        assert alg in advertised, f"ID token alg {alg} is not advertised ({advertised})"
        decoded = jwt.decode(token, self.keys, algorithms=[alg])
        return dict(decoded.header), dict(decoded.claims)

    def userinfo(self, access_token: str | None, **headers: str) -> httpx.Response:
        with self.provider.http() as http:
            sent = dict(headers)
            if access_token is not None:
                sent["Authorization"] = f"Bearer {access_token}"
            return http.get(self.endpoint("userinfo_endpoint"), headers=sent)


def oauth_error(answer: httpx.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return str(body.get("error")) if isinstance(body, dict) and "error" in body else None
