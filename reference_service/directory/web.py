"""The web face both portals share: page rendering, headers, cookies, forms and common routes.

Pages are Jinja2 (autoescaped) in the look of the sign-in service's pages, with no inline
script (the Content-Security-Policy forbids it). Every refusal is a page with a fixed title,
sentence and code per `DirectoryError` / `RelyingPartyError` code; nothing from the request
is reflected. Every answer gets the security headers (`SecurityHeaders`, installed by
`secure_app`).

Cross-site request forgery (OWASP CSRF Prevention Cheat Sheet): a state-changing post
(`checked_form`) must come from the portal's own origin (the `Origin` header, RFC 6454, or
without one `Sec-Fetch-Site: same-origin`, Fetch Metadata) and, when the browser has a
session, carry that session's anti-CSRF token (the pages' hidden `csrf_token` field, or the
`X-CSRF-Token` header of a script's fetch). Session cookies are SameSite=Lax: Strict would
drop the cookie on the provider's redirect back to `/oidc/callback` whenever the provider is
on another site, and Lax already keeps it off cross-site posts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from reference_service.common.security_headers import SecurityHeaders
from reference_service.directory.errors import (
    CrossSiteRequest,
    DirectoryError,
    InvalidCredentials,
    MfaInvalid,
)
from reference_service.directory.portal import CSRF_KEY, PortalCore
from reference_service.directory.relying_party import RelyingPartyError

MAX_FORM = 16 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ service }}{% endblock %} - {{ service }}</title>
<style>
 body{font-family:Arial,Helvetica,sans-serif;margin:0;background:#f0f4f5;color:#212b32}
 header{background:#005eb8;color:#fff;padding:14px 24px;font-weight:bold;font-size:19px;
   display:flex;justify-content:space-between;align-items:center}
 header a,header button{color:#fff;font-size:17px}
 main{max-width:720px;margin:32px auto;background:#fff;padding:24px 32px;border-radius:4px}
 h1{font-size:28px;margin-top:0} .hint{color:#4c6272}
 button,.button{background:#007f3b;color:#fff;border:0;padding:12px 18px;font-size:17px;
   border-radius:4px;cursor:pointer;text-decoration:none;display:inline-block;margin:4px 0}
 button.secondary,.button.secondary{background:#4c6272}
 header button{background:transparent;border:1px solid #fff;padding:6px 12px}
 .error{border-left:6px solid #d5281b;padding:8px 16px;background:#fff4f4}
 .ok{border-left:6px solid #007f3b;padding:8px 16px;background:#f2fbf5}
 dl{display:grid;grid-template-columns:14em auto;gap:6px} dt{font-weight:bold}
 input[type=text],input[type=email],input[type=password]{font-size:17px;padding:8px;width:70%}
 table{border-collapse:collapse}
 td,th{padding:6px 12px;border-bottom:1px solid #d8dde0;text-align:left}
</style></head>
<body><header><span id="service">{{ service }} (reference)</span>
<span>{% block nav %}{% endblock %}</span></header>
<main>{% block main %}{% endblock %}</main>
{% block scripts %}{% endblock %}</body></html>
"""

ERROR = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block main %}
<h1 id="title">{{ title }}</h1>
<div class="error" role="alert"><p id="message">{{ message }}</p></div>
<p class="hint">Reference: <code id="error-code">{{ code }}</code></p>
{% for label, href, ident in links %}
<p><a class="button" id="{{ ident }}" href="{{ href }}">{{ label }}</a></p>
{% endfor %}
{% endblock %}
"""

LOGIN = """{% extends "base.html" %}
{% block title %}Log in{% endblock %}
{% block main %}
<h1>Log in</h1>
{% if error %}<div class="error" role="alert"><p id="login-error">{{ error }}</p></div>{% endif %}
<form method="post" action="/login">{{ csrf_field(csrf) }}
<p><label>Email address<br><input type="email" name="email" id="email" autocomplete="username"
  maxlength="254" placeholder="user@nhs.net"></label></p>
<p><label>Password<br><input type="password" name="password" id="password"
  autocomplete="current-password" maxlength="256"></label></p>
<p><button type="submit" id="login">Log in</button></p>
</form>
{% if care_identity %}
<form method="post" action="/login/care-identity">{{ csrf_field(csrf) }}<p>
<button type="submit" class="secondary" id="care-identity-login">
Log in with my Care Identity</button>
</p></form>
{% endif %}
{% endblock %}
"""

MFA = """{% extends "base.html" %}
{% block title %}Enter your code{% endblock %}
{% block main %}
<h1>Multifactor authentication</h1>
{% if error %}<div class="error" role="alert"><p id="mfa-error">{{ error }}</p></div>{% endif %}
<form method="post" action="/login/mfa">{{ csrf_field(csrf) }}
<p><label>6-digit code from your authenticator app<br><input type="text" name="code" id="code"
  inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label></p>
<p><button type="submit" id="verify">Verify</button></p>
</form>
{% endblock %}
"""

SIGNED_OUT = """{% extends "base.html" %}
{% block title %}You have logged out{% endblock %}
{% block main %}<h1 id="title">You have logged out</h1>
{% if reason == "card_removed" %}<p id="reason">Your session was closed because your smartcard
was removed from the reader (your organisation's policy).</p>{% endif %}
<p><a class="button" id="login-again" href="/login">Log in again</a></p>{% endblock %}
"""

COMMON_TEMPLATES = {
    "base.html": BASE,
    "error.html": ERROR,
    "login.html": LOGIN,
    "mfa.html": MFA,
    "signed_out.html": SIGNED_OUT,
}


class Web:
    """Rendering and responses of one portal."""

    def __init__(self, core: PortalCore, service: str, templates: dict[str, str]) -> None:
        self.core = core
        self.service = service
        self.env = Environment(
            loader=DictLoader({**COMMON_TEMPLATES, **templates}),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.cookie = f"{'__Host-' if core.settings.secure else ''}{core.portal}_session"
        agent = core.settings.agent_url
        self.csp = (
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; "
            f"connect-src 'self' {agent}; img-src 'self' data:; form-action 'self' "
            f"{_origin(core.settings.issuer)}; frame-ancestors 'none'; base-uri 'none'"
        )

        self.env.globals["csrf_field"] = csrf_field

    def page(
        self, template: str, status: int = 200, *, request: Request | None = None, **context: Any
    ) -> HTMLResponse:
        """A page; given the request, its forms carry the session's anti-CSRF token."""
        csrf = self.csrf(request) if request is not None else None
        body = self.env.get_template(template).render(service=self.service, csrf=csrf, **context)
        response = HTMLResponse(body, status)
        self.harden(response)
        response.headers["Content-Security-Policy"] = self.csp
        return response

    @staticmethod
    def harden(response: Response) -> None:
        # the other security headers come from SecurityHeaders, on every answer
        response.headers["Cache-Control"] = "no-store"

    def csrf(self, request: Request) -> str | None:
        """The anti-CSRF token of the browser's session (None without one)."""
        session = self.core.session(self.token(request))
        value = session.data.get(CSRF_KEY) if session is not None else None
        return value if isinstance(value, str) else None

    def redirect(self, location: str, token: str | None = None, *, clear: bool = False) -> Response:
        """A 303 to a path of this portal (or a URL the portal built itself)."""
        response = RedirectResponse(location, status_code=303)
        self.harden(response)
        if token is not None:
            response.set_cookie(
                self.cookie,
                token,
                max_age=int(self.core.settings.session_lifetime),
                path="/",
                secure=self.core.settings.secure,
                httponly=True,
                samesite="lax",
            )
        if clear:
            response.delete_cookie(
                self.cookie,
                path="/",
                secure=self.core.settings.secure,
                httponly=True,
                samesite="lax",
            )
        return response

    def token(self, request: Request) -> str | None:
        return request.cookies.get(self.cookie)

    def error_page(
        self, code: str, title: str, message: str, status: int, links: list[tuple[str, str, str]]
    ) -> HTMLResponse:
        return self.page("error.html", status, code=code, title=title, message=message, links=links)

    def same_origin(self, request: Request) -> bool:
        """Whether a post comes from this portal's own pages: its `Origin` is this origin, or,
        without one (or `null`), Fetch Metadata says same-origin. Missing both: refused."""
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        if origin is not None and origin != "null":
            return origin == self.core.settings.origin and site in (None, "same-origin")
        return site == "same-origin"

    async def checked_form(self, request: Request) -> dict[str, str]:
        """The form of a state-changing post, once it passed the CSRF checks (else raises
        `CrossSiteRequest`, audited): own origin, and the session's token if it has one."""
        if not self.same_origin(request):
            self.refuse("origin")
        values = await form(request)
        session = self.core.session(self.token(request))
        if session is not None:
            given = values.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
            if not self.core.csrf_ok(session, given):
                self.refuse("token")
        return values

    def refuse(self, why: str) -> None:
        self.core.directory.audit(self.core.clock(), "post.refused", self.core.portal, why=why)
        raise CrossSiteRequest(why)


async def form(request: Request) -> dict[str, str]:
    """The urlencoded body (bounded, last value wins; bad bytes replaced)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


RP_PAGES: dict[str, tuple[str, str]] = {
    "state_mismatch": (
        "Your sign-in could not be completed",
        "This sign-in was not started in this browser, or it took too long. Start again.",
    ),
    "issuer_mismatch": (
        "Your sign-in could not be completed",
        "The sign-in answer did not come from the NHS Care Identity service.",
    ),
    "signin_access_denied": (
        "Sign-in with your Care Identity was refused",
        "The NHS Care Identity service did not sign you in. Check that your smartcard is in "
        "the reader and valid, then try again. For a locked, expired or revoked smartcard "
        "contact your local Registration Authority.",
    ),
    "signin_login_required": (
        "You need to sign in",
        "Sign in with your smartcard to continue.",
    ),
    "provider_unavailable": (
        "The NHS Care Identity service is not available",
        "The NHS Care Identity service could not be reached. Try again later.",
    ),
    "token_failed": (
        "Your sign-in could not be completed",
        "The NHS Care Identity service did not confirm your sign-in. Start again.",
    ),
    "token_invalid": (
        "Your sign-in could not be completed",
        "The NHS Care Identity service's answer could not be verified.",
    ),
    "code_missing": (
        "Your sign-in could not be completed",
        "The NHS Care Identity service's answer was incomplete. Start again.",
    ),
}


def rp_error_page(web: Web, error: RelyingPartyError) -> HTMLResponse:
    title, message = RP_PAGES.get(
        error.code,
        ("Your sign-in could not be completed", "The NHS Care Identity service refused it."),
    )
    code = error.code if error.code in RP_PAGES else "signin_failed"
    web.core.directory.audit(
        web.core.clock(), "signin.refused", web.core.portal, code=error.code, detail=error.detail
    )
    status = error.status if error.status >= 400 else 400
    return web.error_page(code, title, message, status, [("Start again", "/login", "retry")])


def csrf_field(token: str | None) -> Markup:
    """The hidden field every form of a page carries: `{{ csrf_field(csrf) }}` (nothing while
    the browser has no session)."""
    if not token:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


def secure_app(app: FastAPI, web: Web) -> FastAPI:
    """Every answer of the portal (pages, redirects, JSON, errors) gets the security headers;
    the pages keep their own Content-Security-Policy."""
    app.add_middleware(SecurityHeaders, secure=web.core.settings.secure)
    return app


def add_common_routes(
    app: FastAPI,
    web: Web,
    *,
    care_identity_login: bool,
    after_login: Callable[[str], Response],
    error_links: Callable[[DirectoryError], list[tuple[str, str, str]]],
) -> None:
    """Login (+ MFA), logout, signed-out, back-channel logout and the error handlers."""
    core = web.core

    def directory_page(error: DirectoryError) -> HTMLResponse:
        return web.error_page(
            error.code, error.title, error.message, error.status, error_links(error)
        )

    @app.exception_handler(DirectoryError)
    async def _directory(request: Request, error: DirectoryError) -> Response:
        return directory_page(error)

    @app.exception_handler(RelyingPartyError)
    async def _rp(request: Request, error: RelyingPartyError) -> Response:
        return rp_error_page(web, error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return web.error_page(
            "bad_request", "Bad request", "The request could not be understood.", 400, []
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        titles = {404: "Page not found", 405: "Not allowed"}
        return web.error_page(
            "not_found" if error.status_code == 404 else "bad_request",
            titles.get(error.status_code, "Bad request"),
            "There is nothing here." if error.status_code == 404 else "Not allowed here.",
            error.status_code,
            [("Home", "/", "home")],
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:  # pragma: no cover
        return web.error_page(
            "internal_error", "Something went wrong", "The portal could not do this.", 500, []
        )

    @app.get("/login")
    async def login_page(request: Request) -> Response:
        return web.page("login.html", request=request, care_identity=care_identity_login)

    @app.post("/login")
    async def login(request: Request) -> Response:
        values = await web.checked_form(request)
        try:
            token, stage = core.password_login(values.get("email", ""), values.get("password", ""))
        except InvalidCredentials as error:
            return web.page(
                "login.html",
                error.status,
                request=request,
                error=error.message,
                care_identity=care_identity_login,
            )
        if stage == "mfa":
            return web.redirect("/login/mfa", token)
        return after_login(token)

    @app.get("/login/mfa")
    async def mfa_page(request: Request) -> Response:
        session = core.session(web.token(request))
        if session is None or session.data.get("stage") != "mfa":
            return web.redirect("/login")
        return web.page("mfa.html", request=request)

    @app.post("/login/mfa")
    async def mfa(request: Request) -> Response:
        values = await web.checked_form(request)
        token = web.token(request)
        session = core.session(token)
        if token is None or session is None or session.data.get("stage") != "mfa":
            return web.redirect("/login")
        try:
            core.mfa(token, values.get("code", ""))
        except MfaInvalid as error:
            return web.page("mfa.html", error.status, request=request, error=error.message)
        return after_login(token)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await web.checked_form(request)
        end_session = core.logout(web.token(request))
        return web.redirect(end_session or "/signed-out", clear=True)

    @app.get("/signed-out")
    async def signed_out(request: Request) -> Response:
        reason = request.query_params.get("reason")
        return web.page(
            "signed_out.html", reason="card_removed" if reason == "card_removed" else ""
        )

    @app.post("/oidc/backchannel-logout")
    async def backchannel_logout(request: Request) -> Response:
        values = await form(request)
        token = values.get("logout_token", "")
        headers = {"Cache-Control": "no-store"}
        try:
            closed = core.backchannel_logout(token)
        except RelyingPartyError as error:
            core.directory.audit(
                core.clock(),
                "backchannel.refused",
                core.portal,
                code=error.code,
                detail=error.detail,
            )
            body = {"error": "invalid_request", "error_description": error.code}
            return JSONResponse(body, 400, headers=headers)
        return JSONResponse({"closed": closed}, 200, headers=headers)


def _origin(url: str) -> str:
    from urllib.parse import urlsplit  # noqa: PLC0415

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
