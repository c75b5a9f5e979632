"""My Identity Portal's routes (thin: the rules are in `reference_service.directory`).

The eight steps of the manual: `/` (Start now) -> `/login` (+ `/login/mfa`) -> `/home` (the
NHS Care Identity button) -> `/link/care-identity` (Continue) -> the sign-in service (card,
PIN) -> `/oidc/callback` -> `/link/confirm` (both accounts' details, Confirm) -> `/link/done`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from reference_service.directory.errors import (
    AccountAlreadyLinked,
    AccountDisabled,
    AccountLocked,
    AlreadyLinked,
    AupNotAccepted,
    CareIdentityLinkedElsewhere,
    DirectoryError,
    LinkRequestExpired,
    SmartcardRequired,
)
from reference_service.directory.portal import PortalCore
from reference_service.directory.store import Account, Session
from reference_service.directory.web import Web, add_common_routes, secure_app
from reference_service.myidentity.pages import SERVICE, TEMPLATES

CANDIDATE_LIFETIME = 600.0


def create_app(core: PortalCore) -> FastAPI:
    app = FastAPI(
        title="careid My Identity Portal (reference)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    web = Web(core, SERVICE, TEMPLATES)
    settings = core.settings
    nhsmail_login = f"{settings.nhsmail_url}/login"

    def error_links(error: DirectoryError) -> list[tuple[str, str, str]]:
        if isinstance(error, AupNotAccepted):
            return [("Accept the AUP in the NHSmail Portal", nhsmail_login, "nhsmail-aup")]
        if isinstance(error, AccountLocked | AccountDisabled):
            return [("Back to the start", "/", "start")]
        if isinstance(error, AlreadyLinked):
            return [
                ("Go to Link My NHS Accounts Home", "/home", "go-home"),
                ("Go to NHSmail Portal", settings.nhsmail_url, "go-nhsmail"),
            ]
        if isinstance(error, CareIdentityLinkedElsewhere | AccountAlreadyLinked):
            return [("Go to Link My NHS Accounts Home", "/home", "go-home")]
        if isinstance(error, SmartcardRequired | LinkRequestExpired):
            return [("Start again", "/home", "go-home")]
        return [("Back to the start", "/", "start")]

    def current(request: Request) -> tuple[str, Session, Account] | None:
        """The signed-in browser whose account passes the prerequisites (raises otherwise)."""
        token = web.token(request)
        signed = core.signed_in(token)
        if signed is None or token is None:
            return None
        core.accounts.gate(signed[1])
        return token, signed[0], signed[1]

    def after_login(token: str) -> Response:
        signed = core.signed_in(token)
        if signed is None:
            return web.redirect("/login")
        try:
            core.accounts.gate(signed[1])
        except DirectoryError:
            core.directory.close_session(token, core.clock(), "prerequisite")
            raise
        return web.redirect("/home", token)

    add_common_routes(
        app, web, care_identity_login=False, after_login=after_login, error_links=error_links
    )

    @app.get("/")
    async def start(request: Request) -> Response:
        return web.page("start.html", request=request)

    @app.get("/home")
    async def home(request: Request) -> Response:
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        account = signed[2]
        return web.page(
            "home.html",
            request=request,
            account=account,
            link=core.directory.link_for_email(account.email),
        )

    @app.get("/link/care-identity")
    async def care_identity_page(request: Request) -> Response:
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        link = core.directory.link_for_email(signed[2].email)
        if link is not None:
            raise AccountAlreadyLinked()
        return web.page("care_identity.html", request=request)

    @app.post("/link/care-identity")
    async def care_identity(request: Request) -> Response:
        await web.checked_form(request)
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        if core.directory.link_for_email(signed[2].email) is not None:
            raise AccountAlreadyLinked()
        url, token = core.begin_care_identity(signed[0], "link", prompt="login")
        return web.redirect(url, token)

    @app.get("/oidc/callback")
    async def callback(request: Request) -> Response:
        params = {k: v[:4096] for k, v in request.query_params.items()}
        session, identity, _ = core.complete_care_identity(web.token(request), params)
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        token, _, account = signed
        if not identity.smartcard:
            raise SmartcardRequired()
        existing = core.directory.link_for_uuid(identity.sub)
        if existing is not None:
            if existing.email.lower() == account.email.lower():
                raise AlreadyLinked()
            raise CareIdentityLinkedElsewhere()
        if core.directory.link_for_email(account.email) is not None:
            raise AccountAlreadyLinked()
        orgs = [
            f"{org.get('org_name', '')} ({org.get('org_code', '')})"
            for org in identity.userinfo.get("nhsid_user_orgs") or []
            if isinstance(org, dict)
        ]
        candidate: dict[str, Any] = {
            "uuid": identity.sub,
            "name": identity.name,
            "organisations": ", ".join(orgs),
            "mechanism": "NHS Smartcard (" + ", ".join(identity.amr) + ")",
            "sid": identity.sid,
            "acr": identity.claims.get("acr"),
            "at": core.clock(),
        }
        core.directory.update_session(token, data={**session.data, "candidate": candidate})
        return web.redirect("/link/confirm")

    def candidate_of(session: Session) -> dict[str, Any]:
        candidate = session.data.get("candidate")
        if not isinstance(candidate, dict) or (
            core.clock() - float(candidate.get("at", 0)) > CANDIDATE_LIFETIME
        ):
            raise LinkRequestExpired()
        return candidate

    @app.get("/link/confirm")
    async def confirm_page(request: Request) -> Response:
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        return web.page(
            "confirm.html", request=request, account=signed[2], identity=candidate_of(signed[1])
        )

    @app.post("/link/confirm")
    async def confirm(request: Request) -> Response:
        # the link is made only by the confirmation page's own post (anti-CSRF token, origin)
        await web.checked_form(request)
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        token, session, account = signed
        candidate = candidate_of(session)
        link = core.directory.link(
            str(candidate["uuid"]),
            account.email,
            core.clock(),
            account.email,
            via="my_identity_portal",
            sid=candidate.get("sid"),
            acr=candidate.get("acr"),
        )
        data = {k: v for k, v in session.data.items() if k != "candidate"}
        data["linked"] = {"uuid": link.uuid, "email": link.email}
        core.directory.update_session(token, data=data)
        return web.redirect("/link/done")

    @app.get("/link/done")
    async def done(request: Request) -> Response:
        signed = current(request)
        if signed is None:
            return web.redirect("/login")
        linked = signed[1].data.get("linked")
        if not isinstance(linked, dict):
            return web.redirect("/home")
        return web.page(
            "done.html",
            request=request,
            email=linked["email"],
            uuid=linked["uuid"],
            nhsmail_url=settings.nhsmail_url,
        )

    return secure_app(app, web)
