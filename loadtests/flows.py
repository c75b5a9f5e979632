"""The load flows: the harness's headless sign-in (conformance.oidc) with the agent core.

Nothing is written twice: the browser side is `conformance.oidc.flow.sign_in` (the same
code the OIDC suite runs), the relying party's side is `conformance.oidc.rp.RelyingParty`
(authorization request with PKCE S256, token request, ID token check), and the user's
side plugs into both as a login driver:

* `AgentDriver`: the smartcard mechanism. The card's answer comes from the Identity Agent's
  core (`simulator.agent.Agent`, policy `connect`) holding an in-process virtual card in a
  `MemoryReaders` slot: `sign` gives `pin_required`, the PIN goes in with `submit_pin` (what
  the PIN dialog does), the card signs. Each iteration inserts the next card of the pool, so
  every sign-in is a fresh insertion (CHUID and certificate read, PIN verified, signed).
* `TotpDriver`: the authenticator-app mechanism (AAL2): chooser → `totp` page with the
  persona's Care Identity UUID and the current code (a code is single-use per person and
  30 s step at the provider, so personas rotate and never repeat a step).

`SignInFlow.run()` is one complete sign-in: authorize → login pages → redirect → token
exchange → ID token verified. Steps are reported through a `Report` callback
(`loadtests.instrument`): HTTP by the browser's transport, card steps as type `card`, the
whole sign-in as type `flow`.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.oidc.drivers import LoginDriver, confirm_with_forms
from conformance.oidc.flow import FlowError, FlowResult, Signer, sign_in
from conformance.oidc.rp import RelyingParty, SignIn
from conformance.oidc.target import ProviderUnderTest, RegisteredClient
from loadtests.instrument import Report, browser, timed
from loadtests.pool import LoadPersona, cycle
from loadtests.target import RunConfig
from reference_service.cis2.totp import STEP, hotp, secret_bytes
from simulator.agent import Agent, AgentConfig, MemoryReaders, Policy, RequestState
from simulator.card.card import VirtualCard
from simulator.card.store import load_card_state

READER = "careid load reader"
CARD = "card"
FLOW = "flow"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _NoSessionEnd:
    """Policy `connect` never ends sessions; nothing to notify."""

    def notify(self, url: str, body: Any) -> None:  # pragma: no cover - never called
        raise AssertionError("no session-end calls under the connect policy")

    def close(self, timeout: float = 10.0) -> None:
        return None


class CardSupply:
    """Cards of a pool slice, loaded once, handed out round-robin (one process's share)."""

    def __init__(self, personas: Sequence[LoadPersona]) -> None:
        self.personas = list(personas)
        self._cards: dict[str, VirtualCard] = {}
        self._next: Iterator[LoadPersona] = cycle(self.personas)
        self._lock = threading.Lock()

    def next(self) -> tuple[LoadPersona, VirtualCard]:
        with self._lock:
            persona = next(self._next)
        card = self._cards.get(persona.uuid)
        if card is None:
            card = self._cards[persona.uuid] = VirtualCard(load_card_state(persona.card))
        return persona, card


class AgentSigner:
    """`flow.Signer` through the agent core: the card in the reader signs the challenge."""

    def __init__(self, origin: str, report: Report) -> None:
        self.report = report
        self.readers = MemoryReaders((READER,))
        self.agent = Agent(
            AgentConfig(allowed_origins=(origin,), policy=Policy.CONNECT),
            self.readers,
            notifier=_NoSessionEnd(),
        )
        self.persona: LoadPersona | None = None

    def insert(self, persona: LoadPersona, card: VirtualCard) -> None:
        """Pull the current card (if any) and insert this one; the agent reads it."""
        with timed(self.report, CARD, "insert"):
            if self.persona is not None:
                self.readers.remove(READER)
                self.agent.scan()
            card.reset()
            self.readers.insert(READER, card)
            self.agent.scan()
            uuid = self.agent.status().readers[0].card
            if uuid is None or uuid.uuid != persona.uuid:
                raise FlowError(f"the agent did not read the card of {persona.uuid}")
        self.persona = persona

    def answer(self, origin: str, challenge: str) -> dict[str, str]:
        if self.persona is None:
            raise FlowError("no card in the reader")
        with timed(self.report, CARD, "sign"):
            request = self.agent.sign(origin, challenge, reader=READER)
            if request.state is RequestState.PIN_REQUIRED:
                request = self.agent.submit_pin(request.id, self.persona.pin).request
            if request.state is not RequestState.SIGNED or request.result is None:
                raise FlowError(f"the agent answered {request.state.value}: {request.error}")
        return {
            "challenge": challenge,
            "signature": _b64url(request.result.signature),
            "certificate": _b64url(request.result.certificate),
        }

    def close(self) -> None:
        self.agent.stop(timeout=1.0)


@dataclass
class AgentDriver:
    """Login driver: the smartcard mechanism with the agent core (conformance.oidc.drivers)."""

    signer: Signer

    def sign_in(self, http: httpx.Client, authorize_url: str, redirect_uri: str) -> FlowResult:
        return sign_in(http, authorize_url, redirect_uri, self.signer, mechanism="smartcard")

    def confirm_logout(self, http: httpx.Client, answer: httpx.Response) -> httpx.Response:
        return confirm_with_forms(http, answer)


class TotpCodes:
    """Codes for the pool's personas, never one (person, step) twice in this process.

    Offered: the previous step while it has more than `SAFE_MARGIN` seconds left to live (the
    verifier's ±1 window ends it at the next boundary), then the current and the next step —
    three codes per person and step, none that could expire while a request is in flight."""

    SAFE_MARGIN = 10.0

    def __init__(self, personas: Sequence[LoadPersona], clock: Any = None) -> None:
        import time  # noqa: PLC0415

        self.personas = list(personas)
        self.clock = clock or time.time
        self._used: dict[str, int] = {}  # uuid -> last step used
        self._next = cycle(self.personas)
        self._lock = threading.Lock()

    def _free_step(self, persona: LoadPersona, now: float) -> int | None:
        current = int(now // STEP)
        left = (current + 1) * STEP - now
        earliest = current - 1 if left > self.SAFE_MARGIN else current
        step = max(earliest, self._used.get(persona.uuid, earliest - 1) + 1)
        return step if step <= current + 1 else None

    def next(self) -> tuple[str, str]:
        """(uuid, code): the next persona with an unused step in the verifier's ±1 window,
        steps in increasing order (the directory refuses a step before one it saw)."""
        with self._lock:
            for _ in range(len(self.personas)):
                persona = next(self._next)
                step = self._free_step(persona, self.clock())
                if step is not None:
                    self._used[persona.uuid] = step
                    return persona.uuid, hotp(secret_bytes(persona.totp_secret), step)
        raise FlowError(
            f"all {len(self.personas)} TOTP personas used their codes this step: a larger "
            "pool (--pool) or fewer TOTP users"
        )

    def seconds_until_free(self) -> float:
        """0 when a code is free now; else the wait until the next step brings new ones.

        Users wait this out before an iteration (outside its timing): a pool too small for
        the users' pace slows them down instead of failing sign-ins the service never saw."""
        with self._lock:
            now = self.clock()
            if any(self._free_step(p, now) is not None for p in self.personas):
                return 0.0
            return (int(now // STEP) + 1) * STEP - now + 0.05


@dataclass
class TotpDriver:
    codes: TotpCodes

    def sign_in(self, http: httpx.Client, authorize_url: str, redirect_uri: str) -> FlowResult:
        return sign_in(
            http, authorize_url, redirect_uri, None, mechanism="totp", totp=self.codes.next()
        )

    def confirm_logout(self, http: httpx.Client, answer: httpx.Response) -> httpx.Response:
        return confirm_with_forms(http, answer)


@dataclass
class SignInFlow:
    """One user's complete sign-ins at the target, with its own browser (cookie jar)."""

    config: RunConfig
    report: Report
    driver: LoginDriver
    name: str  # the `flow` row: "smartcard sign-in", "totp sign-in"
    acr_values: str
    http: httpx.Client = field(init=False)
    rp: RelyingParty = field(init=False)
    client: RegisteredClient = field(init=False)

    def __post_init__(self) -> None:
        verify = self.config.verify()
        self.http = browser(self.report, self.config.issuer, verify)
        self.client = RegisteredClient(
            client_id=self.config.client_id,
            redirect_uri=self.config.redirect_uri,
            client_secret=self.config.client_secret,
            require_pkce=True,
        )
        provider = ProviderUnderTest(
            issuer=self.config.issuer,
            verify=verify,
            clients={"main": self.client},
            driver=self.driver,
            profile="cis2",
            reference=False,
        )
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        answer = self.http.get(url)
        if answer.status_code != 200:
            raise FlowError(f"discovery: {answer.status_code}")
        self.rp = RelyingParty(provider, answer.json())
        _ = self.rp.keys  # the provider's JWKS, fetched once per user

    def run(self) -> dict[str, Any]:
        """One sign-in from a fresh browser session; the verified ID token's claims."""
        self.http.cookies.clear()
        with timed(self.report, FLOW, self.name):
            if self.acr_values:
                signin: SignIn = self.rp.sign_in(
                    self.client,
                    http=self.http,
                    scope=self.config.scope,
                    acr_values=self.acr_values,
                )
            else:
                signin = self.rp.sign_in(self.client, http=self.http, scope=self.config.scope)
            if signin.result.params.get("state") != signin.state:
                raise FlowError(f"state mismatch or error: {signin.result.params}")
            answer = self.rp.token_request(signin, http=self.http)
            if answer.status_code != 200:
                raise FlowError(f"token endpoint: {answer.status_code} {answer.text[:200]}")
            _, claims = self.rp.verify_id_token(answer.json()["id_token"])
            if claims.get("nonce") != signin.nonce:
                raise FlowError("the ID token's nonce is not the one sent")
        return claims

    def close(self) -> None:
        self.http.close()


def smartcard_flow(config: RunConfig, report: Report) -> tuple[SignInFlow, AgentSigner]:
    signer = AgentSigner(config.origin, report)
    flow = SignInFlow(
        config, report, AgentDriver(signer), "smartcard sign-in", config.smartcard_acr
    )
    return flow, signer


def totp_flow(config: RunConfig, report: Report, codes: TotpCodes) -> SignInFlow:
    return SignInFlow(config, report, TotpDriver(codes), "totp sign-in", config.totp_acr)
