"""What both portals do the same way, without FastAPI: the portal core over the directory.

`PortalCore` holds the directory, the account rules and the relying party, and implements the
steps both portals share: password login (+ MFA), the browser session and its stages, the
Care Identity sign-in's begin/complete, logout and the back-channel logout receiver.

Sessions: each carries a random anti-CSRF token (`csrf` in its data) that the pages put in
their forms. A session before sign-in lives only as long as the sign-in transaction
(`pending_lifetime`) and gets the full `session_lifetime` once signed in. Expired and closed
sessions, and spent guess counters, are purged when a session is made, at most every
`purge_interval` seconds, so anonymous starts cannot fill the database.
"""

from __future__ import annotations

import hmac
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from reference_service.common.attempts import AttemptPolicy
from reference_service.directory.accounts import AccountService
from reference_service.directory.errors import DirectoryError
from reference_service.directory.relying_party import (
    RelyingParty,
    RelyingPartyError,
    RpConfig,
    SignedIn,
)
from reference_service.directory.seed import seed
from reference_service.directory.settings import PortalSettings
from reference_service.directory.store import Account, Directory, Session

CSRF_KEY = "csrf"


def https_client_factory(settings: PortalSettings) -> Callable[[], httpx.Client]:
    context = ssl.create_default_context(cafile=str(settings.ca_bundle))

    def make() -> httpx.Client:
        return httpx.Client(verify=context, timeout=10.0)

    return make


@dataclass
class PortalCore:
    settings: PortalSettings
    directory: Directory
    clock: Callable[[], float] = time.time
    http: Callable[[], httpx.Client] | None = None
    accounts: AccountService = field(init=False)
    rp: RelyingParty = field(init=False)
    _purged: float = field(init=False, default=float("-inf"))
    _purge_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        policy = AttemptPolicy(
            max_failures=self.settings.lockout_threshold,
            window=self.settings.lockout_window,
            lockout=self.settings.lockout_seconds,
        )
        self.accounts = AccountService(self.directory, self.clock, policy)
        config = RpConfig(
            issuer=self.settings.issuer,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            redirect_uri=self.settings.redirect_uri,
            acr_values=self.settings.acr_values,
        )
        http = self.http or https_client_factory(self.settings)
        self.rp = RelyingParty(config, http, self.clock, self.directory)
        if self.settings.accounts is not None and self.settings.accounts.exists():
            seed(self.directory, self.settings.accounts, self.clock())

    @property
    def portal(self) -> str:
        return self.settings.portal

    # -- sessions ----------------------------------------------------------------------------

    def session(self, token: str | None) -> Session | None:
        if not token or len(token) > 200:
            return None
        return self.directory.session(self.portal, token, self.clock())

    def new_session(self, data: dict[str, Any]) -> str:
        """A new session with its own anti-CSRF token; short-lived until it is signed in."""
        self.purge()
        lifetime = (
            self.settings.session_lifetime
            if data.get("stage") == "signed_in"
            else self.settings.pending_lifetime
        )
        data = {**data, CSRF_KEY: secrets.token_urlsafe(32)}
        return self.directory.create_session(self.portal, self.clock(), lifetime, data)

    def promote(self, token: str, data: dict[str, Any]) -> None:
        """The session is signed in now: it gets the full lifetime."""
        self.directory.update_session(
            token, data=data, expires=self.clock() + self.settings.session_lifetime
        )

    def purge(self, *, force: bool = False) -> int:
        """Forget expired or closed sessions and spent guess counters (at most every
        `purge_interval` seconds unless forced); how many sessions went."""
        now = self.clock()
        with self._purge_lock:
            if not force and now - self._purged < self.settings.purge_interval:
                return 0
            self._purged = now
        self.accounts.limiter.purge()
        return self.directory.purge_sessions(now)

    @staticmethod
    def csrf_ok(session: Session, given: str) -> bool:
        """Whether `given` is this session's anti-CSRF token (constant-time comparison)."""
        expected = session.data.get(CSRF_KEY)
        if not isinstance(expected, str) or not expected or not given or len(given) > 200:
            return False
        return hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
        )

    def signed_in(self, token: str | None) -> tuple[Session, Account] | None:
        """The session and account of a fully signed-in browser, else None."""
        session = self.session(token)
        if session is None or session.data.get("stage") != "signed_in" or not session.email:
            return None
        account = self.directory.account(session.email)
        if account is None or account.status != "active":
            return None
        return session, account

    # -- password login ----------------------------------------------------------------------

    def password_login(self, email: str, password: str) -> tuple[str, str]:
        """(session cookie, next stage: `mfa` or `signed_in`); raises DirectoryError."""
        account = self.accounts.password_login(email, password, self.portal)
        stage = "mfa" if account.mfa_enabled else "signed_in"
        token = self.new_session({"stage": stage, "method": "password"})
        self.directory.update_session(token, email=account.email)
        return token, stage

    def mfa(self, token: str, code: str) -> None:
        session = self.session(token)
        if session is None or session.data.get("stage") != "mfa" or not session.email:
            raise DirectoryError("no login is waiting for a code")
        account = self.directory.account(session.email)
        if account is None:
            raise DirectoryError("no such account")
        self.accounts.check_status(account)
        self.accounts.verify_mfa(session.email, code[:16], self.portal)
        self.promote(token, {**session.data, "stage": "signed_in"})
        self.directory.audit(self.clock(), "login.mfa", self.portal, session.email)

    # -- Care Identity sign-in ----------------------------------------------------------------

    def begin_care_identity(self, token: str | None, purpose: str, **extra: str) -> tuple[str, str]:
        """(authorization URL, session cookie): the pending request kept in the session."""
        url, pending = self.rp.begin(**extra)
        session = self.session(token)
        pending_entry = {**pending, "purpose": purpose, "at": self.clock()}
        if session is None:
            token = self.new_session({"stage": "anonymous", "pending": pending_entry})
        else:
            assert token is not None  # noqa: S101 - a session has a token
            data = {**session.data, "pending": pending_entry}
            # an anonymous session lasts as long as its newest sign-in transaction
            expires = (
                self.clock() + self.settings.pending_lifetime
                if session.data.get("stage") == "anonymous"
                else None
            )
            self.directory.update_session(token, data=data, expires=expires)
        return url, token

    def complete_care_identity(
        self, token: str | None, params: dict[str, str]
    ) -> tuple[Session, SignedIn, str]:
        """Check the provider's answer against the session's pending request."""
        session = self.session(token)
        pending = session.data.get("pending") if session else None
        if not isinstance(pending, dict) or self.clock() - float(pending.get("at", 0)) > (
            self.settings.pending_lifetime
        ):
            pending = None
        identity = self.rp.complete(params, pending)
        assert session is not None and token is not None and pending is not None  # noqa: S101
        data = {key: value for key, value in session.data.items() if key != "pending"}
        self.directory.update_session(token, data=data)
        refreshed = self.session(token)
        assert refreshed is not None  # noqa: S101
        return refreshed, identity, str(pending["purpose"])

    # -- logout ------------------------------------------------------------------------------

    def logout(self, token: str | None) -> str | None:
        """Close the session; the provider's end-session URL when it was a Care Identity one."""
        session = self.session(token)
        if session is None or token is None:
            return None
        self.directory.close_session(token, self.clock(), "logout")
        self.directory.audit(self.clock(), "logout", self.portal, session.email, session.uuid)
        id_token = session.data.get("id_token")
        if not isinstance(id_token, str):
            return None
        try:
            end = self.rp.endpoint("end_session_endpoint")
        except RelyingPartyError:
            return None
        query = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": f"{self.settings.origin}/signed-out",
        }
        return f"{end}?{urlencode(query)}"

    def backchannel_logout(self, logout_token: str) -> int:
        """Validate a logout token and close this portal's matching sessions (their count)."""
        claims = self.rp.logout_token(logout_token)
        return self.directory.close_sessions(
            self.portal, self.clock(), "backchannel_logout", sid=claims.sid, uuid=claims.sub
        )

    def card_removed(self, token: str | None) -> bool:
        """The organisation policy "close on card removal": the signed-in page reports that
        the card of a Care Identity session left the reader; the session closes."""
        session = self.session(token)
        if session is None or token is None or not session.data.get("close_on_card_removal"):
            return False
        self.directory.close_session(token, self.clock(), "card_removed")
        self.directory.audit(
            self.clock(),
            "session.closed",
            self.portal,
            session.email,
            session.uuid,
            reason="card_removed",
        )
        return True
