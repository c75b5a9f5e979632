"""The NHSmail portal's routes (thin: the rules are in `reference_service.directory`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from reference_service.directory.errors import (
    AccountDisabled,
    AccountLocked,
    AupNotAccepted,
    CrossSiteRequest,
    DirectoryError,
    MfaInvalid,
    NotLinked,
    PasswordRejected,
)
from reference_service.directory.portal import CSRF_KEY, PortalCore
from reference_service.directory.web import Web, add_common_routes, secure_app
from reference_service.nhsmail.pages import PORTAL_JS, SERVICE, TEMPLATES


def create_app(core: PortalCore) -> FastAPI:
    app = FastAPI(
        title="careid NHSmail portal (reference)", docs_url=None, redoc_url=None, openapi_url=None
    )
    web = Web(core, SERVICE, TEMPLATES)
    settings = core.settings

    def error_links(error: DirectoryError) -> list[tuple[str, str, str]]:
        if isinstance(error, NotLinked):
            return [("Go to My Identity Portal", settings.myidentity_url, "myidentity")]
        if isinstance(error, AupNotAccepted):
            return [("Log in with your email address and password", "/login", "password-login")]
        if isinstance(error, AccountLocked | AccountDisabled):
            return [("Home", "/", "home")]
        return [("Back to Login", "/login", "login")]

    def after_login(token: str) -> Response:
        return web.redirect("/portal", token)

    add_common_routes(
        app, web, care_identity_login=True, after_login=after_login, error_links=error_links
    )

    @app.get("/")
    async def home(request: Request) -> Response:
        return web.page("home.html", request=request)

    @app.get("/portal")
    async def portal(request: Request) -> Response:
        token = web.token(request)
        current = core.signed_in(token)
        if current is None:
            return web.redirect("/login")
        session, account = current
        if not account.aup_accepted:
            return web.redirect("/aup")
        link = core.directory.link_for_email(account.email)
        close = bool(session.data.get("close_on_card_removal"))
        return web.page(
            "portal.html",
            request=request,
            account=account,
            method="NHS Care Identity (smartcard)"
            if session.data.get("method") == "care_identity"
            else "Email address and password",
            uuid=session.uuid,
            link=f"Linked ({link.uuid})" if link else None,
            close_on_removal=close,
            config={
                "agent_url": settings.agent_url,
                "uuid": session.uuid,
                "csrf": session.data.get(CSRF_KEY),
            },
        )

    @app.get("/aup")
    async def aup_page(request: Request) -> Response:
        if core.signed_in(web.token(request)) is None:
            return web.redirect("/login")
        return web.page("aup.html", request=request)

    @app.post("/aup")
    async def aup(request: Request) -> Response:
        await web.checked_form(request)
        current = core.signed_in(web.token(request))
        if current is None:
            return web.redirect("/login")
        core.directory.accept_aup(current[1].email, core.clock())
        return web.redirect("/portal")

    @app.get("/account/mfa")
    async def mfa_setup_page(request: Request) -> Response:
        token = web.token(request)
        current = core.signed_in(token)
        if current is None or token is None:
            return web.redirect("/login")
        session, account = current
        secret = core.accounts.new_mfa_secret()
        core.directory.update_session(token, data={**session.data, "mfa_enrol": secret})
        uri = f"otpauth://totp/NHSmail:{account.email}?secret={secret}&issuer=NHSmail"
        return web.page("mfa_setup.html", request=request, secret=secret, uri=uri)

    @app.post("/account/mfa")
    async def mfa_setup(request: Request) -> Response:
        values = await web.checked_form(request)
        token = web.token(request)
        current = core.signed_in(token)
        if current is None or token is None:
            return web.redirect("/login")
        session, account = current
        secret = session.data.get("mfa_enrol")
        if not isinstance(secret, str):
            return web.redirect("/account/mfa")
        try:
            core.accounts.enrol_mfa(account.email, secret, values.get("code", ""))
        except MfaInvalid as error:
            return web.page(
                "mfa_setup.html", 400, request=request, secret=secret, error=error.message, uri=""
            )
        data = {k: v for k, v in session.data.items() if k != "mfa_enrol"}
        core.directory.update_session(token, data=data)
        return web.redirect("/portal")

    @app.get("/account/password")
    async def password_page(request: Request) -> Response:
        if core.signed_in(web.token(request)) is None:
            return web.redirect("/login")
        return web.page("password.html", request=request)

    @app.post("/account/password")
    async def password(request: Request) -> Response:
        values = await web.checked_form(request)
        current = core.signed_in(web.token(request))
        if current is None:
            return web.redirect("/login")
        try:
            core.accounts.change_password(
                current[1].email, values.get("old", ""), values.get("new", ""), core.portal
            )
        except PasswordRejected as error:
            return web.page("password.html", 400, request=request, problems=error.problems)
        return web.page("password.html", request=request, done=True)

    @app.post("/login/care-identity")
    async def care_identity(request: Request) -> Response:
        await web.checked_form(request)
        url, token = core.begin_care_identity(web.token(request), "login")
        return web.redirect(url, token)

    @app.get("/oidc/callback")
    async def callback(request: Request) -> Response:
        old = web.token(request)
        params = {k: v[:4096] for k, v in request.query_params.items()}
        _, identity, _ = core.complete_care_identity(old, params)
        link = core.directory.link_for_uuid(identity.sub)
        if link is None:
            core.directory.audit(core.clock(), "signin.not_linked", core.portal, uuid=identity.sub)
            raise NotLinked()
        account = core.accounts.require(link.email)
        core.accounts.gate(account)
        orgs = {account.org_code}
        for org in identity.userinfo.get("nhsid_user_orgs") or []:
            if isinstance(org, dict):
                orgs.add(str(org.get("org_code")))
        close = bool(orgs & set(settings.close_on_card_removal))
        token = core.new_session(
            {
                "stage": "signed_in",
                "method": "care_identity",
                "id_token": identity.id_token,
                "close_on_card_removal": close,
            }
        )
        core.directory.update_session(
            token, email=account.email, uuid=identity.sub, sid=identity.sid
        )
        if old:
            core.directory.close_session(old, core.clock(), "replaced")
        core.directory.audit(
            core.clock(),
            "login.care_identity",
            core.portal,
            account.email,
            identity.sub,
            sid=identity.sid,
        )
        return web.redirect("/portal", token)

    @app.post("/session/card-removed")
    async def card_removed(request: Request) -> Response:
        try:
            await web.checked_form(request)
        except CrossSiteRequest:
            return JSONResponse({"error": "cross_site_request"}, 403)
        closed = core.card_removed(web.token(request))
        response = JSONResponse({"closed": closed}, headers={"Cache-Control": "no-store"})
        if closed:
            response.delete_cookie(
                web.cookie, path="/", secure=settings.secure, httponly=True, samesite="lax"
            )
        return response

    @app.get("/static/portal.js")
    async def script() -> Response:
        return Response(
            PORTAL_JS,
            media_type="application/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    return secure_app(app, web)
