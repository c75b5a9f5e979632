"""Errors with a stable wire code and HTTP status (authlib-style), and sign-in page errors.

`OAuthError` subclasses are what the protocol endpoints answer: the `error` code of RFC 6749
/ OpenID Connect, a description, and the status. `SignInError` is what the sign-in pages show
(a failed smartcard or authenticator-app check): a stable code, a status and a sentence for a
person; it is audited where it is raised.
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    """An OAuth 2.0 / OpenID Connect error answer."""

    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description

    def to_json(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class LoginRequired(OAuthError):
    error = "login_required"


class RequestNotSupported(OAuthError):
    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"


class InvalidToken(OAuthError):
    """A bad bearer token at userinfo (RFC 6750): 401 with WWW-Authenticate."""

    error = "invalid_token"
    status = 401


class PageError(Exception):
    """An authorization request that must not be redirected (unknown client, unregistered
    redirect_uri): the browser gets an error page instead."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class SignInError(Exception):
    """A failed sign-in step (smartcard or authenticator app), shown to the person."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.message}
