"""The authorization request: parsing and checking, in the order that keeps redirects safe.

First the client and its `redirect_uri` are established (a problem there is an error *page*:
redirecting to an unverified URI would be an open redirect); every later problem is sent back
to the relying party's `redirect_uri` with the OAuth error code and the `state`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from reference_service.cis2.assurance import parse_acr_values
from reference_service.cis2.claims import SCOPES
from reference_service.cis2.clients import Client, ClientRegistry
from reference_service.cis2.errors import (
    InvalidRequest,
    InvalidScope,
    OAuthError,
    PageError,
    RequestNotSupported,
    RequestUriNotSupported,
    UnsupportedResponseType,
)
from reference_service.cis2.pkce import check_challenge

MAX_VALUE = 4096
MAX_STATE = 2048
MAX_NONCE = 512
PROMPTS = ("none", "login", "consent", "select_account")


def single_values(params: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(first value of each parameter, names given more than once)."""
    values: dict[str, str] = {}
    repeated: list[str] = []
    for name, value in params:
        if name in values:
            repeated.append(name)
        else:
            values[name] = value
    return values, repeated


@dataclass
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    state: str | None
    scopes: list[str] = field(default_factory=list)
    nonce: str | None = None
    code_challenge: str | None = None
    acr_values: list[str] = field(default_factory=list)
    max_age: int | None = None
    prompt: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "scopes": self.scopes,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "acr_values": self.acr_values,
            "max_age": self.max_age,
            "prompt": self.prompt,
        }


class RedirectableError(Exception):
    """An OAuth error to send to the (verified) redirect_uri."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


def parse_authorization_request(
    params: Sequence[tuple[str, str]], registry: ClientRegistry
) -> AuthorizationRequest:
    """Raises PageError (no safe redirect) or RedirectableError."""
    values, repeated = single_values(params)
    client_id = values.get("client_id")
    if not client_id:
        raise PageError("invalid_request", "The request names no client (client_id).")
    if "client_id" in repeated or len(client_id) > 200:
        raise PageError("invalid_request", "The client_id parameter is malformed.")
    client = registry.get(client_id)
    if client is None:
        raise PageError("invalid_client", "The client is not registered with this service.")
    redirect_uri = values.get("redirect_uri")
    if not redirect_uri or "redirect_uri" in repeated:
        raise PageError("invalid_request", "The request has no single redirect_uri.")
    if redirect_uri not in client.redirect_uris:
        raise PageError(
            "invalid_request",
            "The redirect_uri is not registered for this client, so the service will not "
            "send you there.",
        )
    state = values.get("state")
    try:
        if state is not None and len(state) > MAX_STATE:
            state = None
            raise InvalidRequest("state is too long")
        return _parse_rest(values, repeated, client, redirect_uri, state)
    except OAuthError as error:
        raise RedirectableError(error, redirect_uri, state) from None


def _parse_rest(
    values: dict[str, str],
    repeated: list[str],
    client: Client,
    redirect_uri: str,
    state: str | None,
) -> AuthorizationRequest:
    if repeated:
        raise InvalidRequest(f"parameter repeated: {sorted(set(repeated))[0][:64]}")
    if any(len(value) > MAX_VALUE for value in values.values()):
        raise InvalidRequest("a parameter is too long")
    if "request" in values:
        raise RequestNotSupported("request objects are not supported")
    if "request_uri" in values:
        raise RequestUriNotSupported("request_uri is not supported")
    response_type = values.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code (authorization code flow)")
    response_mode = values.get("response_mode")
    if response_mode not in (None, "query"):
        raise InvalidRequest("only response_mode=query is supported")
    scope = values.get("scope")
    if scope is None:
        raise InvalidScope("scope is required and must include openid")
    scopes = list(dict.fromkeys(scope.split()))
    if "openid" not in scopes:
        raise InvalidScope("scope must include openid")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidScope(f"unknown scope: {unknown[0][:64]}")
    nonce = values.get("nonce")
    if nonce is not None and (not nonce or len(nonce) > MAX_NONCE):
        raise InvalidRequest("nonce must be 1-512 characters")
    check_challenge(
        values.get("code_challenge"),
        values.get("code_challenge_method"),
        required=client.require_pkce,
    )
    max_age: int | None = None
    if "max_age" in values:
        text = values["max_age"]
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise InvalidRequest("max_age is a non-negative number of seconds")
        max_age = int(text)
    prompt = values.get("prompt", "").split()
    if any(p not in PROMPTS for p in prompt):
        raise InvalidRequest("prompt is none, login, consent or select_account")
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    acr_values = parse_acr_values(values.get("acr_values"))
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        nonce=nonce,
        code_challenge=values.get("code_challenge"),
        acr_values=acr_values,
        max_age=max_age,
        prompt=prompt,
    )
