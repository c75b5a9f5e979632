"""The portal flows: what a browser does at the NHSmail portal and My Identity Portal.

Each flow walks a manual's steps over HTTPS with its own cookie jar, and reuses the
provider-side pieces of `loadtests.flows`: `conformance.oidc.flow.sign_in` is the browser at
the provider (chooser → Smartcard → challenge → answer), `AgentSigner` is the agent core
signing with an in-process card, `CardSupply`/`TotpCodes` hand out the pool's personas.

* `NhsmailSignInFlow` (manual 000): `/login` → **Log in with my Care Identity**
  (`POST /login/care-identity`) → the provider with a linked persona's card →
  `/oidc/callback` → `/portal` showing that persona's account.
* `LinkingFlow` (manual 001): My Identity Portal `/login` (password; linking accounts have
  no MFA) → `/home` → `/link/care-identity` → **Continue** → the provider with the persona's
  own card → `/link/confirm` → **Confirm** → `/link/done`. `LinkPairs` hands out the
  (account, card) pairs: a pair linked before is unlinked through the directory first.
* `PasswordMfaFlow`: NHSmail `/login` (password) → `/login/mfa` (a fresh TOTP code) →
  `/portal`.

Rows: HTTP steps as `<METHOD> <portal> <path>` (provider steps as in `loadtests.flows`),
card steps as type `card`, the whole flow as type `flow`, an unlink as `directory unlink`
(outside the flow's time). A wrong page (an error code, another path) fails the flow row.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol

import httpx

from conformance.oidc.flow import FlowError
from conformance.portals.client import PortalClient
from loadtests.accounts import email
from loadtests.flows import FLOW, AgentSigner, CardSupply, TotpCodes
from loadtests.instrument import Report, browser, timed
from loadtests.pool import LoadPersona
from loadtests.target import RunConfig
from reference_service.directory.errors import LinkUnknown
from reference_service.directory.store import Directory
from simulator.card.card import VirtualCard

DIRECTORY = "directory"
UNLINK_ACTOR = "careid-load"
_ERROR_CODE = re.compile(r'id="error-code">([a-z_]+)<')


class Flow(Protocol):
    """What a Locust user runs: set-up outside the timing, then one timed iteration."""

    def prepare(self) -> None: ...

    def run(self) -> object: ...

    def close(self) -> None: ...


class PortalBrowser(PortalClient):
    """The portals' headless browser (`conformance.portals.client`), every exchange timed."""

    def __init__(self, config: RunConfig, report: Report) -> None:
        if not config.nhsmail_url or not config.myidentity_url:
            raise FlowError("the target has no portals (nhsmail_url, myidentity_url in run.json)")
        origins = {"nhsmail": config.nhsmail_url, "myidentity": config.myidentity_url}
        labels = {origin: portal for portal, origin in origins.items()}
        super().__init__(browser(report, config.issuer, config.verify(), labels), origins)

    def care_identity(
        self, portal: str, start: httpx.Response, signer: AgentSigner
    ) -> httpx.Response:
        """From the portal's redirect to the provider: sign in with the card, come back."""
        return self.through_provider(portal, start, signer)[1]


def expect(page: httpx.Response, path: str, *texts: str) -> httpx.Response:
    """The page the step should reach, or a FlowError naming the portal's error code."""
    if page.status_code == 200 and page.url.path == path and all(t in page.text for t in texts):
        return page
    found = _ERROR_CODE.search(page.text)
    what = f"error page {found.group(1)}" if found else f"{page.url.path} {page.status_code}"
    raise FlowError(f"expected {path}, got {what}")


class PairsUsedUp(FlowError):
    """Every linking pair of this process is linked and none can be unlinked."""


class LinkPairs:
    """The linking personas of this process, round-robin (persona's account ↔ its own card).

    A pair found linked (an earlier lap, an earlier run) is unlinked through the directory
    first, as the helpdesk would: `Directory.unlink`, audited (`link.removed`, actor
    `careid-load`). Without a reachable directory every pair links once, then it is an error.
    """

    def __init__(self, personas: Sequence[LoadPersona], directory: str | None) -> None:
        self.cards = CardSupply(personas)
        # Only a directory that is there: opening a missing path would create an empty one
        # (a worker on another machine with a copied run.json).
        self.directory = Directory(directory) if directory and Path(directory).is_file() else None
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def next(self, report: Report) -> tuple[LoadPersona, VirtualCard]:
        persona, card = self.cards.next()
        with self._lock:
            again = persona.uuid in self._used
            self._used.add(persona.uuid)
        if self.directory is None:
            if again:
                raise PairsUsedUp(
                    f"all {len(self.cards.personas)} linking pairs of this process are linked: "
                    "a larger --pool, or a target whose directory this machine can reach"
                )
        elif self.directory.link_for_uuid(persona.uuid) is not None:
            # LinkUnknown: unlinked meanwhile, as wanted
            with timed(report, DIRECTORY, "unlink"), contextlib.suppress(LinkUnknown):
                self.directory.unlink(
                    time.time(), UNLINK_ACTOR, uuid=persona.uuid, reason="load: link again"
                )
        return persona, card

    def close(self) -> None:
        if self.directory is not None:
            self.directory.close()


class PortalFlow:
    """A flow with its own browser; `name` is its `flow` row."""

    name: ClassVar[str]

    def __init__(self, config: RunConfig, report: Report) -> None:
        self.config = config
        self.report = report
        self.browser = PortalBrowser(config, report)

    def prepare(self) -> None:
        return None

    def close(self) -> None:
        self.browser.close()


class CardPortalFlow(PortalFlow):
    """A portal flow that signs in at the provider with a card through the agent core."""

    def __init__(self, config: RunConfig, report: Report) -> None:
        super().__init__(config, report)
        self.signer = AgentSigner(config.origin, report)

    def persona(self) -> LoadPersona:
        if self.signer.persona is None:
            raise FlowError("no card in the reader")
        return self.signer.persona

    def close(self) -> None:
        super().close()
        self.signer.close()


class NhsmailSignInFlow(CardPortalFlow):
    """NHSmail sign-in with Care Identity, one linked persona's fresh card per iteration."""

    name = "nhsmail sign-in"

    def __init__(self, config: RunConfig, report: Report, cards: CardSupply) -> None:
        super().__init__(config, report)
        self.cards = cards

    def prepare(self) -> None:
        self.signer.insert(*self.cards.next())

    def run(self) -> httpx.Response:
        persona = self.persona()
        go = self.browser
        go.http.cookies.clear()
        with timed(self.report, FLOW, self.name):
            go.get("nhsmail", "/login")
            start = go.post("nhsmail", "/login/care-identity", follow=False)
            page = go.care_identity("nhsmail", start, self.signer)
            return expect(page, "/portal", f'id="email">{email(persona)}<')


class LinkingFlow(CardPortalFlow):
    """My Identity Portal's linking journey, one fresh (account, card) pair per iteration."""

    name = "linking"

    def __init__(self, config: RunConfig, report: Report, pairs: LinkPairs, password: str) -> None:
        super().__init__(config, report)
        self.pairs = pairs
        self.password = password

    def prepare(self) -> None:
        try:
            pair = self.pairs.next(self.report)
        except PairsUsedUp as exc:
            self.report(FLOW, self.name, 0.0, 0, exc)  # counted, not a silent stop
            raise
        self.signer.insert(*pair)

    def run(self) -> httpx.Response:
        persona = self.persona()
        go = self.browser
        go.http.cookies.clear()
        with timed(self.report, FLOW, self.name):
            go.get("myidentity", "/login")
            login = {"email": email(persona), "password": self.password}
            expect(go.post("myidentity", "/login", login), "/home", 'id="care-identity"')
            expect(go.get("myidentity", "/link/care-identity"), "/link/care-identity")
            start = go.post("myidentity", "/link/care-identity", follow=False)
            confirm = go.care_identity("myidentity", start, self.signer)
            expect(confirm, "/link/confirm", f'id="ci-uuid">{persona.uuid}<')
            done = go.post("myidentity", "/link/confirm")
            return expect(done, "/link/done", persona.uuid)


class PasswordMfaFlow(PortalFlow):
    """NHSmail password + MFA sign-in; accounts rotate so no (account, step) repeats."""

    name = "password sign-in"

    def __init__(self, config: RunConfig, report: Report, codes: TotpCodes, password: str) -> None:
        super().__init__(config, report)
        self.codes = codes
        self.password = password
        self.personas = {p.uuid: p for p in codes.personas}

    def run(self) -> httpx.Response:
        uuid, code = self.codes.next()
        address = email(self.personas[uuid])
        go = self.browser
        go.http.cookies.clear()
        with timed(self.report, FLOW, self.name):
            go.get("nhsmail", "/login")
            login = {"email": address, "password": self.password}
            expect(go.post("nhsmail", "/login", login), "/login/mfa")
            page = go.post("nhsmail", "/login/mfa", {"code": code})
            return expect(page, "/portal", f'id="email">{address}<')
