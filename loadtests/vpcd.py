"""Real vpcd slots for a few users: the agent core over PC/SC, off the gevent loop.

`careid load --vpcd "alice@Virtual PCD 00 00"` (repeatable) adds `VpcdSignIn` users, one per
slot: the card already in that slot (`careid card insert alice`) signs through the agent core
with `PcscReaders`, exactly as the Identity Agent does. pyscard's calls block in C, which
would stall every greenlet of the process, so each agent call runs in gevent's threadpool
(`hub.threadpool.apply`): one user's PC/SC round trip never holds up the others.

Not exercised by the test suite (it needs pcscd and vpcd): see docs/load.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent  # type: ignore[import-untyped]

from conformance.oidc.flow import FlowError
from loadtests.flows import CARD, AgentDriver, SignInFlow, _b64url, _NoSessionEnd
from loadtests.instrument import Report, timed
from loadtests.target import RunConfig
from loadtests.users import CareidUser
from simulator.agent import Agent, AgentConfig, PcscReaders, Policy, RequestState
from simulator.personas import get_persona

T = TypeVar("T")


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in gevent's threadpool; this greenlet waits, the others run."""
    result: T = gevent.get_hub().threadpool.apply(function, args)
    return result


class PcscSigner:
    """`flow.Signer` with the card of one vpcd slot (the PIN from its persona)."""

    def __init__(self, origin: str, reader: str, persona: str, report: Report) -> None:
        self.reader = reader
        self.report = report
        self.pin = get_persona(persona).card.pin
        self.agent = Agent(
            AgentConfig(allowed_origins=(origin,), policy=Policy.CONNECT),
            PcscReaders((reader,)),
            notifier=_NoSessionEnd(),
        )
        off_loop(self.agent.scan)

    def answer(self, origin: str, challenge: str) -> dict[str, str]:
        with timed(self.report, CARD, "sign (vpcd)"):
            request = off_loop(self._sign, origin, challenge)
        if request.result is None:
            raise FlowError("the agent gave no signature")
        return {
            "challenge": challenge,
            "signature": _b64url(request.result.signature),
            "certificate": _b64url(request.result.certificate),
        }

    def _sign(self, origin: str, challenge: str) -> Any:
        request = self.agent.sign(origin, challenge, reader=self.reader)
        if request.state is RequestState.PIN_REQUIRED:
            request = self.agent.submit_pin(request.id, self.pin).request
        if request.state is not RequestState.SIGNED or request.result is None:
            raise FlowError(f"the agent answered {request.state.value}: {request.error}")
        return request

    def close(self) -> None:
        off_loop(self.agent.stop, 1.0)


class VpcdSignIn(CareidUser):
    """One user per `persona@reader` of the run config (fixed_count: never more)."""

    abstract = True  # made concrete per run by `vpcd_users`
    slot: str = ""
    signer: PcscSigner | None = None

    def make_flow(self, config: RunConfig) -> SignInFlow:
        persona, _, reader = self.slot.partition("@")
        self.signer = PcscSigner(config.origin, reader, persona, self.report)
        return SignInFlow(
            config,
            self.report,
            AgentDriver(self.signer),
            "smartcard sign-in (vpcd)",
            config.smartcard_acr,
        )

    def on_stop(self) -> None:
        super().on_stop()
        if self.signer is not None:
            self.signer.close()


def vpcd_users(config: RunConfig) -> list[type[VpcdSignIn]]:
    """One concrete user class per configured slot, each spawned exactly once."""
    classes = []
    for index, slot in enumerate(config.vpcd_readers):
        cls = type(
            f"VpcdSignIn{index}", (VpcdSignIn,), {"abstract": False, "slot": slot, "fixed_count": 1}
        )
        classes.append(cls)
    return classes
