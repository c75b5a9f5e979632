"""Real vpcd slots for a few users: the agent core over PC/SC, off the gevent loop.

`careid load --flow vpcd --vpcd "alice@CareID Virtual Reader 0 00 00"` (repeatable) runs
`VpcdSignIn` users, one per slot: the card already in that slot (`careid card insert --persona
alice`) signs through the agent core with `PcscReaders`, exactly as the Identity Agent does.
pyscard's calls block in C, which would stall every greenlet of the process, so each agent
call runs in gevent's threadpool (`hub.threadpool.apply`): one user's PC/SC round trip never
holds up the others.

tests/integration/test_load_vpcd.py runs it over the real pcscd + vpcd; see docs/load.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import gevent  # type: ignore[import-untyped]
from locust import events
from locust.env import Environment

from conformance.oidc.flow import FlowError
from loadtests.flows import CARD, AgentDriver, SignInFlow, _b64url, _NoSessionEnd
from loadtests.instrument import Report, timed
from loadtests.target import RunConfig
from loadtests.users import CareidUser, read_run_config
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
    """One user per `persona@reader` of the run config, each on its own slot (Locust spawns
    exactly `fixed_count` of them, set from run.json when the process starts)."""

    fixed_count = 1
    slots: ClassVar[tuple[str, ...]] = ()
    _taken: ClassVar[Iterator[int]] = itertools.count()
    signer: PcscSigner | None = None

    def make_flow(self, config: RunConfig) -> SignInFlow:
        index = next(self._taken)
        if index >= len(config.vpcd_readers):
            raise RuntimeError(f"more vpcd users than slots ({len(config.vpcd_readers)})")
        persona, _, reader = config.vpcd_readers[index].partition("@")
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


def _slots(environment: Environment, **_: Any) -> None:
    """As many vpcd users as run.json names slots (none: the class is left out)."""
    options = environment.parsed_options
    if not options or not getattr(options, "careid_run", None):
        return
    VpcdSignIn.fixed_count = len(read_run_config(environment).vpcd_readers)


events.init.add_listener(_slots)  # type: ignore[no-untyped-call]
