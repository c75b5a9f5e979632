"""Security headers on every answer of a service, whatever route (or error handler) made it.

A page that needs its own Content-Security-Policy sets it; every other answer (JSON, errors,
redirects, the API docs) gets the strict default, so nothing can be framed, sniffed or
leak its URL to another site, and over HTTPS the browser is told to stay on HTTPS.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000"  # one year; no includeSubDomains: loopback hosts share a name


def baseline_headers(*, secure: bool, csp: str = STRICT_CSP) -> dict[str, str]:
    """The headers every answer carries (a route may replace the CSP with its own)."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` with
        # a page's own form posts, which the services' origin checks must refuse.
        "Referrer-Policy": "same-origin",
    }
    if secure:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """ASGI middleware: adds each baseline header the response does not already have."""

    def __init__(self, app: ASGIApp, *, secure: bool, csp: str = STRICT_CSP) -> None:
        self.app = app
        self.headers = baseline_headers(secure=secure, csp=csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
