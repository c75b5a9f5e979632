"""The provider core: authorization, sign-in steps, tokens, userinfo, sessions and logout.

Plain Python over injected parts (store, clock, registry, directory, key manager, challenge
service, JWKS fetcher, logout deliverer, audit log); `app.py` only turns HTTP into calls here
and outcomes back into HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reference_service.cis2 import ISSUER_PATH
from reference_service.cis2.assurance import (
    MECHANISMS,
    Mechanism,
    mechanisms_for,
    satisfied_acr,
)
from reference_service.cis2.audit import Audit, AuditLog
from reference_service.cis2.authorize import (
    AuthorizationRequest,
    RedirectableError,
    parse_authorization_request,
    single_values,
)
from reference_service.cis2.backchannel_logout import (
    Deliver,
    LogoutDelivery,
    https_deliverer,
    logout_claims,
)
from reference_service.cis2.claims import CLAIMS_SUPPORTED, SCOPES, userinfo_claims
from reference_service.cis2.client_auth import (
    ASSERTION_ALGS,
    ClientAuthenticator,
    FetchJwks,
    https_jwks_fetcher,
)
from reference_service.cis2.clients import Client, ClientRegistry
from reference_service.cis2.config import Settings
from reference_service.cis2.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    LoginRequired,
    OAuthError,
    PageError,
    SignInError,
    UnsupportedGrantType,
)
from reference_service.cis2.keys import SIGNING_ALGORITHMS, KeyManager
from reference_service.cis2.logout_confirmation import (
    CARRIED,
    CONFIRM_FIELD,
    TOKEN_FIELD,
    confirmation_page,
    confirmation_token,
    refused_page,
    same_origin_post,
    still_signed_in_page,
    token_matches,
)
from reference_service.cis2.outcomes import CookieChange, Outcome, Page, Redirect
from reference_service.cis2.pkce import check_verifier
from reference_service.cis2.smartcard import CertificateVerifier, ChallengeService
from reference_service.cis2.store import Store, digest
from reference_service.cis2.totp import matching_step
from reference_service.cis2.totp_limits import TotpGuard
from reference_service.cis2.users import User, UserDirectory

SESSION_COOKIE = "cis2_session"
BROWSER_COOKIE = "cis2_browser"
ROLE_SEARCH_THRESHOLD = 5
ROLE_PAGE_LIMIT = 50
AAL = {"smartcard": "3", "totp": "2"}
TX_PATTERN_CHARS = 43


def add_query(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """`at_hash`: the left half of the SHA-256 of the token (RS256 and ES256 alike)."""
    return _b64(hashlib.sha256(token.encode()).digest()[:16])


@dataclass
class Session:
    sid: str
    uuid: str
    auth_time: int
    mechanism: str
    amr: list[str]
    card_serial: str | None
    expires: float
    ended: bool = False

    @classmethod
    def from_row(cls, row: Any) -> Session:
        import json  # noqa: PLC0415 - tiny, keeps the module header short

        data = json.loads(row["data"])
        return cls(
            sid=row["sid"],
            uuid=data["uuid"],
            auth_time=int(data["auth_time"]),
            mechanism=data["mechanism"],
            amr=list(data["amr"]),
            card_serial=data.get("card_serial"),
            expires=float(data["expires"]),
            ended=row["ended"] is not None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "auth_time": self.auth_time,
            "mechanism": self.mechanism,
            "amr": self.amr,
            "card_serial": self.card_serial,
            "expires": self.expires,
        }


class Provider:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        registry: ClientRegistry | None = None,
        users: UserDirectory | None = None,
        fetch_jwks: FetchJwks | None = None,
        deliver_logout: Deliver | None = None,
        audit: Audit | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.registry = registry or ClientRegistry(settings.clients)
        self.users = users or UserDirectory(settings.users)
        self.keys = KeyManager(store, clock)
        self.audit: Audit = audit or AuditLog(settings.audit_log)
        self.challenges = ChallengeService(
            store,
            CertificateVerifier(settings.ca_bundle, settings.crl),
            clock,
            lifetime=settings.challenge_lifetime,
        )
        self.client_auth = ClientAuthenticator(
            self.registry,
            store,
            clock,
            self.settings.endpoint("access_token"),
            fetch_jwks or https_jwks_fetcher(settings.trust_for_outbound),
        )
        self.deliver_logout: Deliver = deliver_logout or https_deliverer(
            settings.trust_for_outbound
        )
        self.totp_guard = TotpGuard(store, settings, clock, self.audit)
        self._purged = 0.0

    def purge(self, *, force: bool = False) -> None:
        """Drop expired rows and spent guess counters (at most every `purge_interval` s)."""
        now = self.clock()
        if not force and now - self._purged < self.settings.purge_interval:
            return
        self._purged = now
        self.store.purge(now)
        self.totp_guard.purge()

    # -- discovery and keys ----------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def discovery(self) -> dict[str, Any]:
        endpoint = self.settings.endpoint
        return {
            "issuer": self.issuer,
            "authorization_endpoint": endpoint("authorize"),
            "token_endpoint": endpoint("access_token"),
            "userinfo_endpoint": endpoint("userinfo"),
            "jwks_uri": endpoint("connect/jwk_uri"),
            "end_session_endpoint": endpoint("connect/endSession"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(SCOPES),
            "claims_supported": CLAIMS_SUPPORTED,
            "acr_values_supported": [
                "AAL3_ANY",
                "AAL2_OR_AAL3_ANY",
                "AAL2_ANY",
                "AAL3_N3_SMARTCARD",
                "AAL3_CIS2_SMARTCARD",
                "AAL2_TOTP",
            ],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
        }

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    # -- authorization ---------------------------------------------------------------------

    def authorize(self, params: Sequence[tuple[str, str]], cookies: Mapping[str, str]) -> Outcome:
        self.purge()
        try:
            request = parse_authorization_request(params, self.registry)
        except PageError as error:
            self.audit("authorize_refused", code=error.code, reason=error.message)
            return Page(
                "error.html",
                {
                    "title": "This sign-in request cannot be completed",
                    "message": error.message,
                    "code": error.code,
                },
                error.status,
            )
        except RedirectableError as failure:
            self.audit(
                "authorize_error",
                code=failure.error.error,
                reason=failure.error.description,
            )
            return self._error_redirect(failure.redirect_uri, failure.error, failure.state)
        session = self._live_session(cookies.get(SESSION_COOKIE))
        reuse = session is not None and self._session_satisfies(session, request)
        if "none" in request.prompt and not reuse:
            return self._error_redirect(
                request.redirect_uri, LoginRequired("the user is not signed in"), request.state
            )
        browser_cookie = cookies.get(BROWSER_COOKIE)
        changes: list[CookieChange] = []
        if not browser_cookie or len(browser_cookie) != TX_PATTERN_CHARS:
            browser_cookie = secrets.token_urlsafe(32)
            changes.append(CookieChange(BROWSER_COOKIE, browser_cookie))
        tx_id = secrets.token_urlsafe(32)
        tx: dict[str, Any] = {
            "request": request.to_json(),
            "browser": digest(browser_cookie),
            "end_digests": {},
        }
        if reuse and session is not None:
            tx["sid"] = session.sid
        self.store.put_transaction(tx_id, tx, self.clock() + self.settings.transaction_lifetime)
        outcome = self._continue(tx_id, tx) if reuse else Redirect(self.login_url(tx_id))
        outcome.cookies[:0] = changes
        return outcome

    def _error_redirect(self, redirect_uri: str, error: OAuthError, state: str | None) -> Redirect:
        return Redirect(
            add_query(
                redirect_uri,
                {
                    "error": error.error,
                    "error_description": error.description or None,
                    "state": state,
                    "iss": self.issuer,
                },
            ),
            status=302,
        )

    def _live_session(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        row = self.store.session_by_cookie(cookie)
        if row is None:
            return None
        session = Session.from_row(row)
        if session.expires <= self.clock():
            return None
        user = self.users.get(session.uuid)
        if user is None or not user.active:
            return None
        return session

    def _session_satisfies(self, session: Session, request: AuthorizationRequest) -> bool:
        if "login" in request.prompt:
            return False
        if request.max_age is not None and self.clock() - session.auth_time > request.max_age:
            return False
        return satisfied_acr(request.acr_values, session.mechanism) is not None

    def login_url(self, tx_id: str, step: str = "") -> str:
        return f"{ISSUER_PATH}/login/{tx_id}" + (f"/{step}" if step else "")

    # -- login transactions -----------------------------------------------------------------

    def transaction(self, tx_id: str, cookies: Mapping[str, str]) -> dict[str, Any]:
        """The live transaction `tx_id` of this browser; SignInError when there is none."""
        tx = None
        if 0 < len(tx_id) <= 64:
            tx = self.store.get_transaction(tx_id, self.clock())
        browser = cookies.get(BROWSER_COOKIE) or ""
        if tx is None or not hmac.compare_digest(str(tx.get("browser")), digest(browser)):
            raise SignInError(
                "transaction_unknown",
                "This sign-in has expired or was started in another browser: go back to the "
                "application and sign in again.",
                400,
            )
        return tx

    def mechanisms(self, tx: dict[str, Any]) -> list[Mechanism]:
        return mechanisms_for(list(tx["request"]["acr_values"]))

    def client_of(self, tx: dict[str, Any]) -> Client | None:
        return self.registry.get(str(tx["request"]["client_id"]))

    def choose(self, tx_id: str, cookies: Mapping[str, str], mechanism: str | None) -> Outcome:
        tx = self.transaction(tx_id, cookies)
        offered = {m.name for m in self.mechanisms(tx)}
        if mechanism not in offered:
            raise SignInError("mechanism_not_offered", "Choose one of the mechanisms offered.")
        return Redirect(self.login_url(tx_id, mechanism))

    def start(self, tx_id: str, cookies: Mapping[str, str]) -> Outcome:
        """The first login page: the chooser, or the only mechanism's page."""
        tx = self.transaction(tx_id, cookies)
        offered = self.mechanisms(tx)
        if len(offered) == 1:
            return Redirect(self.login_url(tx_id, offered[0].name))
        client = self.client_of(tx)
        return Page(
            "chooser.html",
            {
                "mechanisms": offered,
                "tx_id": tx_id,
                "client_name": client.name if client else "",
                "action": self.login_url(tx_id),
            },
        )

    def _offered(self, tx: dict[str, Any], mechanism: str) -> None:
        if mechanism not in {m.name for m in self.mechanisms(tx)}:
            raise SignInError(
                "mechanism_not_offered",
                "This authentication mechanism does not meet the application's assurance "
                "requirement.",
                403,
            )

    # -- smartcard -------------------------------------------------------------------------

    def new_challenge(self, tx_id: str, cookies: Mapping[str, str]) -> dict[str, Any]:
        tx = self.transaction(tx_id, cookies)
        self._offered(tx, "smartcard")
        challenge, expires = self.challenges.issue(tx_id, self.settings.origin)
        end_secret = secrets.token_urlsafe(32)
        ends = dict(tx.get("end_digests") or {})
        if len(ends) >= 20:
            raise SignInError("too_many_attempts", "Too many attempts: start the sign-in again.")
        ends[digest(challenge)] = digest(end_secret)
        self.store.put_transaction_field(tx_id, "end_digests", ends)
        return {
            "challenge": challenge,
            "expires_in": int(expires - self.clock()),
            "origin": self.settings.origin,
            "session_end_url": self.settings.endpoint(f"agent/session-end/{end_secret}"),
        }

    def smartcard_complete(
        self, tx_id: str, cookies: Mapping[str, str], body: Mapping[str, Any]
    ) -> Outcome:
        try:
            tx = self.transaction(tx_id, cookies)
            self._offered(tx, "smartcard")
            fields = {}
            for name in ("challenge", "signature", "certificate"):
                value = body.get(name)
                if not isinstance(value, str):
                    raise SignInError("malformed_response", f"The {name} is missing.")
                fields[name] = value
            card = self.challenges.verify(
                tx_id,
                self.settings.origin,
                fields["challenge"],
                fields["signature"],
                fields["certificate"],
            )
            user = self._active_user(card.uuid, "smartcard")
        except SignInError as error:
            self.audit(
                "signin_refused",
                mechanism="smartcard",
                code=error.code,
                reason=error.message,
                tx=tx_id[:8],
            )
            raise
        end_digest = (tx.get("end_digests") or {}).get(digest(fields["challenge"]))
        self.audit(
            "signin",
            mechanism="smartcard",
            uuid=user.uuid,
            card_serial=format(card.serial_number, "x"),
            tx=tx_id[:8],
        )
        return self._authenticated(
            tx_id, tx, cookies, user, "smartcard", end_digest, format(card.serial_number, "x")
        )

    # -- authenticator app (TOTP, AAL2) ------------------------------------------------------

    def totp_complete(
        self, tx_id: str, cookies: Mapping[str, str], uuid: str | None, code: str | None
    ) -> Outcome:
        try:
            tx = self.transaction(tx_id, cookies)
            self._offered(tx, "totp")
            failure = SignInError(
                "totp_invalid", "The Care Identity number or the code is not right.", 403
            )
            if not uuid or not code or len(uuid) != 12 or not uuid.isdigit() or len(code) > 12:
                raise failure
            # Spent before the comparison; known or unknown numbers alike (totp_limits.py).
            attempt = self.totp_guard.spend(tx_id, uuid)
            user = self.users.get(uuid)
            step = None
            if user is not None and user.totp_secret:
                step = matching_step(user.totp_secret, code.strip(), self.clock())
            if user is None or step is None:
                attempt.failed()
                raise failure
            if not self.store.remember_once(
                f"totp:{user.uuid}:{step}", self.clock() + 120, self.clock()
            ):
                attempt.failed()  # a replayed code is no proof of the secret
                raise SignInError("totp_replayed", "That code has been used: wait for the next.")
            attempt.succeeded()
            user = self._active_user(user.uuid, "totp")
        except SignInError as error:
            self.audit("signin_refused", mechanism="totp", code=error.code, tx=tx_id[:8])
            raise
        self.audit("signin", mechanism="totp", uuid=user.uuid, tx=tx_id[:8])
        return self._authenticated(tx_id, tx, cookies, user, "totp", None, None)

    def _active_user(self, uuid: str, mechanism: str) -> User:
        user = self.users.get(uuid)
        if user is None:
            raise SignInError(
                "unknown_user", "This Care Identity is not known to the service.", 403
            )
        if not user.active:
            raise SignInError(
                "user_not_active",
                f"This Care Identity is {user.status}: contact your Registration Authority.",
                403,
            )
        return user

    # -- after authentication: session, roles, code ------------------------------------------

    def _authenticated(
        self,
        tx_id: str,
        tx: dict[str, Any],
        cookies: Mapping[str, str],
        user: User,
        mechanism: str,
        end_digest: str | None,
        card_serial: str | None,
    ) -> Outcome:
        now = self.clock()
        existing = self._live_session(cookies.get(SESSION_COOKIE))
        data = Session(
            sid="",
            uuid=user.uuid,
            auth_time=int(now),
            mechanism=mechanism,
            amr=[MECHANISMS[mechanism].amr],
            card_serial=card_serial,
            expires=now + self.settings.session_lifetime,
        )
        changes: list[CookieChange] = []
        deliveries: list[LogoutDelivery] = []
        if existing is not None and existing.uuid == user.uuid:
            data.sid = existing.sid
            self.store.update_session(existing.sid, end_digest, data.to_json())
        else:
            if existing is not None:
                deliveries = self._end_session(existing.sid, "another_user_signed_in")
            data.sid = str(uuidlib.uuid4())
            cookie = secrets.token_urlsafe(32)
            self.store.put_session(data.sid, cookie, end_digest, data.to_json(), now)
            changes.append(CookieChange(SESSION_COOKIE, cookie))
        self.store.put_transaction_field(tx_id, "sid", data.sid)
        tx["sid"] = data.sid
        outcome = self._continue(tx_id, tx)
        outcome.cookies[:0] = changes
        outcome.deliveries.extend(deliveries)
        return outcome

    def _continue(self, tx_id: str, tx: dict[str, Any]) -> Outcome:
        request = tx["request"]
        row = self.store.session_by_sid(str(tx["sid"]))
        user = self.users.get(Session.from_row(row).uuid) if row is not None else None
        if row is None or user is None:
            raise SignInError("transaction_unknown", "The sign-in session has ended.")
        if "selectedrole" in request["scopes"] and "selected_roleid" not in tx:
            if len(user.roles) >= 2:
                return Redirect(self.login_url(tx_id, "role"))
            tx["selected_roleid"] = user.roles[0].person_roleid if user.roles else None
        return self._finish(tx_id, tx, Session.from_row(row))

    def roles_page(self, tx_id: str, cookies: Mapping[str, str], query: str | None) -> Outcome:
        tx = self.transaction(tx_id, cookies)
        user = self._tx_user(tx)
        roles = list(user.roles)
        search = len(roles) > ROLE_SEARCH_THRESHOLD
        text = (query or "").strip().lower()[:100]
        if search and text:
            roles = [
                r
                for r in roles
                if text in r.role_name.lower()
                or text in r.org_name.lower()
                or text in r.org_code.lower()
                or text in r.role_code.lower()
            ]
        return Page(
            "roles.html",
            {
                "user": user,
                "roles": roles[:ROLE_PAGE_LIMIT],
                "search": search,
                "query": query or "",
                "action": self.login_url(tx_id, "role"),
                "total": len(user.roles),
            },
        )

    def select_role(self, tx_id: str, cookies: Mapping[str, str], roleid: str | None) -> Outcome:
        tx = self.transaction(tx_id, cookies)
        user = self._tx_user(tx)
        if not roleid or user.role(roleid) is None:
            raise SignInError("role_unknown", "Choose one of your roles.")
        tx["selected_roleid"] = roleid
        return self._continue(tx_id, tx)

    def _tx_user(self, tx: dict[str, Any]) -> User:
        row = self.store.session_by_sid(str(tx.get("sid")))
        user = self.users.get(Session.from_row(row).uuid) if row is not None else None
        if user is None:
            raise SignInError("transaction_unknown", "Sign in first.")
        return user

    def _finish(self, tx_id: str, tx: dict[str, Any], session: Session) -> Outcome:
        request = tx["request"]
        acr = satisfied_acr(list(request["acr_values"]), session.mechanism)
        if acr is None:  # cannot happen: only offered mechanisms authenticate
            raise SignInError("mechanism_not_offered", "The assurance level is not met.", 403)
        code = secrets.token_urlsafe(32)
        self.store.put_code(
            code,
            {
                "client_id": request["client_id"],
                "redirect_uri": request["redirect_uri"],
                "scopes": request["scopes"],
                "nonce": request["nonce"],
                "code_challenge": request["code_challenge"],
                "sid": session.sid,
                "uuid": session.uuid,
                "auth_time": session.auth_time,
                "acr": acr,
                "amr": session.amr,
                "mechanism": session.mechanism,
                "selected_roleid": tx.get("selected_roleid"),
            },
            self.clock() + self.settings.code_lifetime,
        )
        self.store.add_session_client(session.sid, request["client_id"], session.uuid)
        self.store.delete_transaction(tx_id)
        self.audit(
            "code_issued",
            client_id=request["client_id"],
            uuid=session.uuid,
            sid=session.sid,
            acr=acr,
        )
        return Redirect(
            add_query(
                request["redirect_uri"],
                {"code": code, "state": request["state"], "iss": self.issuer},
            ),
            status=302,
        )

    # -- token endpoint --------------------------------------------------------------------

    def token(self, params: Sequence[tuple[str, str]], authorization: str | None) -> dict[str, Any]:
        form, repeated = single_values(params)
        if repeated:
            raise InvalidRequest(f"parameter repeated: {sorted(set(repeated))[0][:64]}")
        if any(len(v) > 10_000 for v in form.values()):
            raise InvalidRequest("a parameter is too long")
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        client = self.client_auth.authenticate(form, authorization)
        if grant_type != "authorization_code":
            raise UnsupportedGrantType("only grant_type=authorization_code")
        code = form.get("code")
        if not code:
            raise InvalidRequest("code is required")
        taken = self.store.take_code(code)
        if taken is None:
            raise InvalidGrant("the code is not valid")
        data, expires, used = taken
        if used:
            revoked = self.store.revoke_tokens_of_code(code)
            self.audit("code_reused", client_id=client.client_id, revoked_tokens=revoked)
            raise InvalidGrant("the code has been used already; its tokens are revoked")
        if expires <= self.clock():
            raise InvalidGrant("the code has expired")
        if not hmac.compare_digest(str(data["client_id"]), client.client_id):
            raise InvalidGrant("the code was issued to another client")
        if form.get("redirect_uri") != data["redirect_uri"]:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        check_verifier(data.get("code_challenge"), form.get("code_verifier"))
        user = self.users.get(str(data["uuid"]))
        if user is None or not user.active:
            raise InvalidGrant("the user can no longer sign in")
        now = self.clock()
        access_token = secrets.token_urlsafe(32)
        lifetime = self.settings.access_token_lifetime
        self.store.put_access_token(
            access_token,
            code,
            {
                "client_id": client.client_id,
                "uuid": user.uuid,
                "scopes": data["scopes"],
                "sid": data["sid"],
                "selected_roleid": data.get("selected_roleid"),
            },
            now + lifetime,
        )
        id_token = self.keys.sign(
            self._id_token_claims(client, user, data, access_token, now),
            client.id_token_signed_response_alg,
        )
        self.audit("tokens_issued", client_id=client.client_id, uuid=user.uuid, sid=data["sid"])
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "scope": " ".join(data["scopes"]),
            "id_token": id_token,
        }

    def _id_token_claims(
        self, client: Client, user: User, data: dict[str, Any], access_token: str, now: float
    ) -> dict[str, Any]:
        aal = AAL.get(str(data["mechanism"]), "0")
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.uuid,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": int(now + self.settings.id_token_lifetime),
            "iat": int(now),
            "auth_time": int(data["auth_time"]),
            "at_hash": token_hash(access_token),
            "acr": data["acr"],
            "amr": list(data["amr"]),
            "sid": data["sid"],
            "id_assurance_level": user.id_assurance_level,
            "idassurancelevel": user.id_assurance_level,
            "authentication_assurance_level": aal,
            "realm": "/NHSIdentity/Healthcare",
            "tokenType": "JWTToken",
            "auditTrackingId": str(uuidlib.uuid4()),
        }
        if data.get("nonce") is not None:
            claims["nonce"] = data["nonce"]
        if data.get("selected_roleid"):
            claims["selected_roleid"] = data["selected_roleid"]
        return claims

    # -- userinfo --------------------------------------------------------------------------

    def userinfo(self, authorization: str | None, form_token: str | None) -> dict[str, Any]:
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise InvalidToken("use the Bearer scheme")
            token = value.strip()
            if form_token is not None:
                raise InvalidRequest("give the access token once")
        else:
            token = form_token
        if not token:
            raise InvalidToken("an access token is required")
        if len(token) > 200:
            raise InvalidToken("the access token is not valid")
        data = self.store.access_token(token, self.clock())
        if data is None:
            raise InvalidToken("the access token is not valid")
        user = self.users.get(str(data["uuid"]))
        if user is None or not user.active:
            raise InvalidToken("the access token's user can no longer sign in")
        row = self.store.session_by_sid(str(data["sid"]))
        if row is None or row["ended"] is not None:
            raise InvalidToken("the sign-in session has ended")
        return userinfo_claims(user, list(data["scopes"]), data.get("selected_roleid"))

    # -- sessions and logout ---------------------------------------------------------------

    def _end_session(self, sid: str, reason: str) -> list[LogoutDelivery]:
        members = self.store.end_session(sid, self.clock())
        self.store.revoke_tokens_of_session(sid)
        self.audit("session_ended", sid=sid, reason=reason, clients=[c for c, _ in members])
        deliveries = []
        for client_id, sub in members:
            client = self.registry.get(client_id)
            if client is None or not client.backchannel_logout_uri:
                continue
            token = self.keys.sign(
                logout_claims(self.issuer, client_id, sub, sid, self.clock()),
                "RS256",
                typ="logout+jwt",
            )
            deliveries.append(LogoutDelivery(client_id, client.backchannel_logout_uri, token))
        return deliveries

    def deliver(self, deliveries: list[LogoutDelivery]) -> None:
        """Send logout tokens (blocking; the web layer calls this in the background)."""
        for delivery in deliveries:
            status = self.deliver_logout(delivery)
            self.audit(
                "backchannel_logout",
                client_id=delivery.client_id,
                status=status,
                delivered=status is not None and 200 <= status < 300,
            )

    def end_session(self, params: Sequence[tuple[str, str]], cookies: Mapping[str, str]) -> Outcome:
        """RP-initiated logout (`connect/endSession`): at once when the id_token_hint names
        this browser's session (or there is none here), else only after the user confirms."""
        request = self._logout_request(params)
        if isinstance(request, Page):
            return request
        values, hint_claims = request
        cookie = cookies.get(SESSION_COOKIE) or ""
        session = self._live_session(cookie)
        if session is not None and not (
            hint_claims is not None
            and hint_claims.get("sub") == session.uuid
            and hint_claims.get("sid") in (None, session.sid)
        ):
            return confirmation_page(
                self.settings.endpoint("connect/endSession"),
                confirmation_token(cookie, session.sid),
                {name: values.get(name) for name in CARRIED},
            )
        sid = session.sid if session is not None else None
        if sid is None and hint_claims is not None and isinstance(hint_claims.get("sid"), str):
            sid = hint_claims["sid"]
        return self._signed_out(sid, values)

    def confirm_end_session(
        self,
        params: Sequence[tuple[str, str]],
        cookies: Mapping[str, str],
        *,
        origin: str | None,
        fetch_site: str | None,
    ) -> Outcome:
        """The confirmation page's POST: same-origin, with this session's token."""
        if not same_origin_post(origin, fetch_site, self.settings.origin):
            self.audit("logout_refused", reason="not_same_origin")
            return refused_page()
        form = [(k, v) for k, v in params if k in CARRIED or k in (TOKEN_FIELD, CONFIRM_FIELD)]
        request = self._logout_request([(k, v) for k, v in form if k in CARRIED])
        if isinstance(request, Page):
            return request
        values, _ = request
        given, _repeated = single_values(form)
        cookie = cookies.get(SESSION_COOKIE) or ""
        session = self._live_session(cookie)
        if session is None:
            return self._signed_out(None, values)  # nothing left to end
        if not token_matches(cookie, session.sid, given.get(TOKEN_FIELD)):
            self.audit("logout_refused", reason="token_mismatch", sid=session.sid)
            return refused_page()
        if given.get(CONFIRM_FIELD) != "yes":
            return still_signed_in_page()
        return self._signed_out(session.sid, values)

    def _logout_request(
        self, params: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, str], dict[str, Any] | None] | Page:
        """(the parameters, the verified hint's claims) or the error page."""
        values, repeated = single_values(params)
        if repeated:
            return self._logout_error("A parameter is repeated.")
        hint = values.get("id_token_hint")
        hint_claims: dict[str, Any] | None = None
        if hint is not None:
            try:
                if len(hint) > 10_000:
                    raise ValueError("too long")
                hint_claims = self.keys.verify(hint)
                if hint_claims.get("iss") != self.issuer:
                    raise ValueError("another issuer")
            except ValueError:
                return self._logout_error("The id_token_hint is not valid.")
        client_id = values.get("client_id")
        if hint_claims is not None:
            audience = hint_claims.get("aud")
            hinted = audience[0] if isinstance(audience, list) and audience else audience
            if client_id is not None and client_id != hinted:
                return self._logout_error("client_id does not match the hint.")
            client_id = str(hinted) if hinted is not None else None
            if client_id is not None:
                values["client_id"] = client_id
        target = values.get("post_logout_redirect_uri")
        client = self.registry.get(client_id) if client_id else None
        registered = client.post_logout_redirect_uris if client is not None else ()
        if target is not None and target not in registered:
            return self._logout_error(
                "The post_logout_redirect_uri is not registered for this application, so "
                "the service will not send you there."
            )
        return values, hint_claims

    def _signed_out(self, sid: str | None, values: Mapping[str, str]) -> Outcome:
        """End `sid` (when given): to the post-logout URI (checked already) or the page."""
        deliveries = self._end_session(sid, "rp_initiated") if sid else []
        forget = [CookieChange(SESSION_COOKIE, None)]
        target = values.get("post_logout_redirect_uri")
        if target is not None:
            return Redirect(
                add_query(target, {"state": values.get("state")}),
                cookies=forget,
                status=302,
                deliveries=deliveries,
            )
        return Page("signed_out.html", {}, cookies=forget, deliveries=deliveries)

    def _logout_error(self, message: str) -> Page:
        return Page(
            "error.html",
            {
                "title": "Sign-out request not understood",
                "message": message,
                "code": "invalid_request",
            },
            400,
        )

    def agent_session_end(
        self, secret: str, body: Any
    ) -> tuple[int, dict[str, Any], list[LogoutDelivery]]:
        """The agent's call when the card that signed in is removed (legacy policy)."""
        if not isinstance(body, dict) or body.get("reason") != "card_removed":
            return (
                400,
                {"error": "invalid_request", "error_description": "reason must be card_removed"},
                [],
            )
        row = self.store.session_by_end_secret(secret) if 0 < len(secret) <= 64 else None
        if row is None:
            return 404, {"error": "unknown_session"}, []
        session = Session.from_row(row)
        uuid = body.get("uuid")
        if uuid is not None and uuid != session.uuid:
            self.audit("session_end_refused", sid=session.sid, reason="uuid_mismatch")
            return 400, {"error": "invalid_request", "error_description": "uuid mismatch"}, []
        if session.ended:
            return 200, {"ended": True, "already": True}, []
        return 200, {"ended": True}, self._end_session(session.sid, "card_removed")
