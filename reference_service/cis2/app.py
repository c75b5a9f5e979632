"""The provider's HTTP face (FastAPI): each route turns a request into one core call.

Every path sits under the CIS2 issuer path. Errors: `OAuthError` -> its JSON and status;
`SignInError` -> a page (or JSON for the script's endpoints); a malformed request -> 400
`invalid_request`; nothing a client sends is allowed to become a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from reference_service.cis2 import ISSUER_PATH
from reference_service.cis2.api_docs import install_docs
from reference_service.cis2.errors import InvalidRequest, InvalidToken, OAuthError, SignInError
from reference_service.cis2.logout_confirmation import is_confirmation
from reference_service.cis2.outcomes import Outcome, Page, Redirect
from reference_service.cis2.pages import FAILURES, SMARTCARD_JS, render
from reference_service.cis2.provider import BROWSER_COOKIE, SESSION_COOKIE, Provider
from reference_service.common.security_headers import SecurityHeaders

MAX_BODY = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
log = logging.getLogger("careid.cis2")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class BadBody(Exception):
    """The request body cannot be read as the endpoint's format."""


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """The parameters of a form POST (urlencoded), refusing other bodies and huge ones."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _body(request)
    if not body:
        return []
    if content_type != FORM_TYPE:
        raise BadBody("the body must be application/x-www-form-urlencoded")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("the body is not UTF-8") from None
    return parse_qsl(text, keep_blank_values=True)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BadBody("the body is too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadBody("the body is too large")
    return body


async def json_body(request: Request) -> dict[str, Any]:
    body = await _body(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadBody("the body must be application/json")
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadBody("the body is not JSON") from None
    if not isinstance(value, dict):
        raise BadBody("the body must be a JSON object")
    return value


class ProviderApp(FastAPI):
    """FastAPI with `SecurityHeaders` outside everything, the 500 handler included (an
    `add_middleware` one sits inside Starlette's server-error middleware)."""

    secure_transport = False

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), secure=self.secure_transport)


def create_app(provider: Provider) -> FastAPI:
    settings = provider.settings
    secure = settings.base_url.startswith("https://")
    agent_origin = _origin(settings.agent_url)
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; "
        f"connect-src 'self' {agent_origin}; frame-ancestors 'none'; form-action 'self' "
        "https: http://127.0.0.1:* http://localhost:*; base-uri 'none'"
    )
    app = ProviderApp(
        title="careid cis2 (reference CIS2-style OpenID Connect provider)",
        docs_url=None,  # api_docs.py serves it without a CDN
        openapi_url=f"{ISSUER_PATH}/openapi.json",
        redoc_url=None,
    )
    # The packaged Swagger UI (4.x) reads OpenAPI 3.0 only; this API's document uses no 3.1
    # construct, so it is a valid 3.0.3 document as it stands.
    app.openapi_version = "3.0.3"
    app.secure_transport = secure
    install_docs(app, ISSUER_PATH, f"{ISSUER_PATH}/openapi.json")

    def finish(outcome: Outcome) -> Response:
        response: Response
        if isinstance(outcome, Redirect):
            response = RedirectResponse(outcome.url, status_code=outcome.status)
        else:
            response = page(outcome)
        for change in outcome.cookies:
            if change.value is None:
                response.delete_cookie(
                    change.name, path=ISSUER_PATH, secure=secure, httponly=True, samesite="lax"
                )
            else:
                response.set_cookie(
                    change.name,
                    change.value,
                    max_age=change.max_age,
                    path=ISSUER_PATH,
                    secure=secure,
                    httponly=True,
                    samesite="lax",
                )
        response.headers.update(NO_STORE)
        if outcome.deliveries:
            response.background = BackgroundTask(provider.deliver, list(outcome.deliveries))
        return response

    def page(outcome: Page) -> HTMLResponse:
        response = HTMLResponse(render(outcome.template, outcome.context), outcome.status)
        # The pages' own policy; SecurityHeaders adds the other headers to every answer.
        response.headers["Content-Security-Policy"] = csp
        return response

    def failure_page(error: SignInError, tx_id: str | None = None) -> Response:
        retry = provider.login_url(tx_id) if tx_id and error.code != "transaction_unknown" else None
        return finish(
            Page(
                "error.html",
                {
                    "title": "You could not be signed in",
                    "message": error.message,
                    "code": error.code,
                    "retry": retry,
                },
                error.status,
            )
        )

    def oauth_error(error: OAuthError) -> JSONResponse:
        headers = dict(NO_STORE)
        if isinstance(error, InvalidToken):
            headers["WWW-Authenticate"] = f'Bearer error="{error.error}"'
        return JSONResponse(error.to_json(), error.status, headers=headers)

    def same_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin != settings.origin:
            raise SignInError("cross_origin", "This request came from another site.", 403)

    @app.exception_handler(OAuthError)
    async def _oauth(request: Request, error: OAuthError) -> Response:
        return oauth_error(error)

    @app.exception_handler(BadBody)
    async def _bad_body(request: Request, error: BadBody) -> Response:
        return oauth_error(InvalidRequest(str(error)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return oauth_error(InvalidRequest("the request is malformed"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        return JSONResponse(
            {
                "error": "not_found" if error.status_code == 404 else "invalid_request",
                "error_description": str(error.detail),
            },
            error.status_code,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error at %s", request.url.path)
        return JSONResponse({"error": "server_error"}, 500)

    run = run_in_threadpool

    # -- discovery, keys ------------------------------------------------------------------

    @app.get("/")
    async def home() -> Response:
        discovery_url = f"{provider.issuer}/.well-known/openid-configuration"
        return page(Page("home.html", {"discovery": discovery_url}))

    @app.get(f"{ISSUER_PATH}/.well-known/openid-configuration")
    async def discovery() -> Response:
        return JSONResponse(provider.discovery(), headers={"Cache-Control": "max-age=3600"})

    @app.get(f"{ISSUER_PATH}/connect/jwk_uri")
    async def jwks() -> Response:
        return JSONResponse(provider.jwks(), headers={"Cache-Control": "max-age=300"})

    # -- authorization and the login pages ---------------------------------------------------

    async def query_or_form(
        request: Request, handler: Callable[[list[tuple[str, str]], dict[str, str]], Outcome]
    ) -> Response:
        """OIDC endpoints take their parameters from the query (GET) or the form (POST)."""
        params = list(request.query_params.multi_items())
        if request.method == "POST":
            try:
                params = await form_pairs(request)
            except BadBody as error:
                return finish(
                    Page(
                        "error.html",
                        {"title": "Bad request", "message": str(error), "code": "invalid_request"},
                        400,
                    )
                )
        return finish(await run(handler, params, dict(request.cookies)))

    @app.api_route(f"{ISSUER_PATH}/authorize", methods=["GET", "POST"])
    async def authorize(request: Request) -> Response:
        return await query_or_form(request, provider.authorize)

    def step(
        handler: Callable[..., Awaitable[Outcome]],
    ) -> Callable[..., Awaitable[Response]]:
        async def wrapped(request: Request, tx_id: str) -> Response:
            try:
                return finish(await handler(request, tx_id))
            except SignInError as error:
                return failure_page(error, tx_id)
            except BadBody as error:
                return failure_page(SignInError("invalid_request", str(error)), tx_id)

        return wrapped

    async def _start(request: Request, tx_id: str) -> Outcome:
        return await run(provider.start, tx_id, dict(request.cookies))

    async def _choose(request: Request, tx_id: str) -> Outcome:
        same_origin(request)
        form = dict(await form_pairs(request))
        return await run(provider.choose, tx_id, dict(request.cookies), form.get("mechanism"))

    async def _smartcard(request: Request, tx_id: str) -> Outcome:
        tx = await run(provider.transaction, tx_id, dict(request.cookies))
        provider._offered(tx, "smartcard")
        base = provider.login_url(tx_id, "smartcard")
        return Page(
            "smartcard.html",
            {
                "script": f"{ISSUER_PATH}/static/smartcard.js",
                "config": {
                    "agent_url": settings.agent_url.rstrip("/"),
                    "challenge_url": f"{base}/challenge",
                    "complete_url": base,
                    "failed_url": provider.login_url(tx_id, "failed"),
                    "autostart": False,
                },
            },
        )

    async def _totp(request: Request, tx_id: str) -> Outcome:
        tx = await run(provider.transaction, tx_id, dict(request.cookies))
        provider._offered(tx, "totp")
        return Page("totp.html", {"action": provider.login_url(tx_id, "totp")})

    async def _totp_post(request: Request, tx_id: str) -> Outcome:
        same_origin(request)
        form = dict(await form_pairs(request))
        try:
            return await run(
                provider.totp_complete,
                tx_id,
                dict(request.cookies),
                form.get("uuid"),
                form.get("code"),
            )
        except SignInError as error:
            if error.code in ("totp_invalid", "totp_replayed"):
                return Page(
                    "totp.html",
                    {"action": provider.login_url(tx_id, "totp"), "error": error.message},
                    error.status,
                )
            raise

    async def _roles(request: Request, tx_id: str) -> Outcome:
        query = request.query_params.get("q")
        return await run(provider.roles_page, tx_id, dict(request.cookies), query)

    async def _role_post(request: Request, tx_id: str) -> Outcome:
        same_origin(request)
        form = dict(await form_pairs(request))
        return await run(
            provider.select_role, tx_id, dict(request.cookies), form.get("person_roleid")
        )

    async def _failed(request: Request, tx_id: str) -> Outcome:
        code = request.query_params.get("code", "")
        message = FAILURES.get(code, "The sign-in could not be completed.")
        retry = provider.login_url(tx_id, "smartcard")
        return Page(
            "error.html",
            {
                "title": "You could not be signed in",
                "message": message,
                "code": code if code in FAILURES else "signin_failed",
                "retry": retry,
            },
            400,
        )

    login = f"{ISSUER_PATH}/login/{{tx_id}}"
    app.add_api_route(login, step(_start), methods=["GET"])
    app.add_api_route(login, step(_choose), methods=["POST"])
    app.add_api_route(f"{login}/smartcard", step(_smartcard), methods=["GET"])
    app.add_api_route(f"{login}/totp", step(_totp), methods=["GET"])
    app.add_api_route(f"{login}/totp", step(_totp_post), methods=["POST"])
    app.add_api_route(f"{login}/role", step(_roles), methods=["GET"])
    app.add_api_route(f"{login}/role", step(_role_post), methods=["POST"])
    app.add_api_route(f"{login}/failed", step(_failed), methods=["GET"])

    @app.post(f"{login}/smartcard/challenge")
    async def challenge(request: Request, tx_id: str) -> Response:
        try:
            same_origin(request)
            issued = await run(provider.new_challenge, tx_id, dict(request.cookies))
        except SignInError as error:
            return JSONResponse(error.to_json(), error.status, headers=NO_STORE)
        return JSONResponse(issued, headers=NO_STORE)

    @app.post(f"{login}/smartcard")
    async def smartcard_complete(request: Request, tx_id: str) -> Response:
        try:
            same_origin(request)
            body = await json_body(request)
            outcome = await run(provider.smartcard_complete, tx_id, dict(request.cookies), body)
        except SignInError as error:
            return JSONResponse(error.to_json(), error.status, headers=NO_STORE)
        except BadBody as error:
            return JSONResponse(
                {"error": "malformed_response", "error_description": str(error)}, 400
            )
        target = outcome.url if isinstance(outcome, Redirect) else provider.login_url(tx_id)
        response = finish(outcome)
        answer = JSONResponse({"redirect": target}, headers=NO_STORE)
        for name, value in response.headers.items():
            if name.lower() == "set-cookie":
                answer.headers.append("set-cookie", value)
        answer.background = response.background
        return answer

    @app.get(f"{ISSUER_PATH}/static/smartcard.js")
    async def script() -> Response:
        return Response(
            SMARTCARD_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    # -- tokens, userinfo -----------------------------------------------------------------

    @app.post(f"{ISSUER_PATH}/access_token")
    async def token(request: Request) -> Response:
        params = await form_pairs(request)
        answer = await run(provider.token, params, request.headers.get("authorization"))
        return JSONResponse(answer, headers=NO_STORE)

    @app.api_route(f"{ISSUER_PATH}/userinfo", methods=["GET", "POST"])
    async def userinfo(request: Request) -> Response:
        form_token = None
        if request.method == "POST":
            form = dict(await form_pairs(request))
            form_token = form.get("access_token")
        answer = await run(provider.userinfo, request.headers.get("authorization"), form_token)
        return JSONResponse(answer, headers=NO_STORE)

    # -- logout ---------------------------------------------------------------------------

    @app.api_route(f"{ISSUER_PATH}/connect/endSession", methods=["GET", "POST"])
    async def end_session(request: Request) -> Response:
        if request.method == "POST":
            try:
                form = await form_pairs(request)
            except BadBody as error:
                return failure_page(SignInError("invalid_request", str(error)))
            if is_confirmation(dict(form)):  # the answer of the confirmation page
                outcome = await run(
                    lambda: provider.confirm_end_session(
                        form,
                        dict(request.cookies),
                        origin=request.headers.get("origin"),
                        fetch_site=request.headers.get("sec-fetch-site"),
                    )
                )
                return finish(outcome)
            return finish(await run(provider.end_session, form, dict(request.cookies)))
        return await query_or_form(request, provider.end_session)

    @app.post(f"{ISSUER_PATH}/agent/session-end/{{secret}}")
    async def agent_session_end(request: Request, secret: str) -> Response:
        try:
            body: Any = await json_body(request)
        except BadBody as error:
            return JSONResponse({"error": "invalid_request", "error_description": str(error)}, 400)
        status, answer, deliveries = await run(provider.agent_session_end, secret, body)
        response = JSONResponse(answer, status, headers=NO_STORE)
        if deliveries:
            response.background = BackgroundTask(provider.deliver, deliveries)
        return response

    del authorize, discovery, jwks, home, challenge, smartcard_complete, script, token
    del userinfo, end_session, agent_session_end
    _ = (SESSION_COOKIE, BROWSER_COOKIE)
    return app


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
