"""Security headers on every answer of the agent (pure ASGI): JSON, errors, refusals, CORS
preflights, 404/405 and crash answers alike.

The agent's origin is the one that can make the card sign, so none of its answers may be
framed (clickjacking: CSP Level 2 frame-ancestors, RFC 7034 X-Frame-Options) or sniffed
into something executable (nosniff). A header a route set itself wins: the dialog page
sends its own nonce CSP and `Referrer-Policy: same-origin`.

No Strict-Transport-Security: the agent speaks plain HTTP on 127.0.0.1, and browsers ignore
HSTS received over HTTP (RFC 6797 §8.1).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    # For JSON and plain answers: nothing may load, nothing may frame them.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in DEFAULTS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
