"""Locust users of the load suites (imported only inside Locust's processes).

Base classes are `abstract = True`. Running several users together makes the weighted mix
(`weight` below; `weights` in run.json, from `careid load --flow name:N`, overrides them).

* `SmartcardSignIn`: full smartcard sign-ins at the provider (code flow + PKCE → smartcard
  mechanism → challenge → the agent core signs with an in-process card → token exchange).
* `TotpSignIn`: sign-ins with the authenticator app (AAL2 TOTP mechanism, via the chooser).
* `NhsmailSignIn`: the NHSmail portal's "Log in with my Care Identity" with a linked
  persona's card, back to the signed-in page (`loadtests.portal_flows`).
* `Linking`: My Identity Portal's linking journey, a fresh (account, card) pair each time.
* `PasswordMfaSignIn`: the NHSmail portal's password + MFA code login.

Each process builds its supplies once (`_Shared`) from its slice of the pool; the roles of
the pool's personas (linked or linking) are in `loadtests.accounts`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, ClassVar

from locust import User, between, events, task
from locust.env import Environment
from locust.exception import StopUser

from loadtests.accounts import linking_personas, read_accounts, signed_in_personas
from loadtests.flows import (
    AgentSigner,
    CardSupply,
    SignInFlow,
    TotpCodes,
    smartcard_flow,
    totp_flow,
)
from loadtests.pool import Pool, open_pool
from loadtests.portal_flows import (
    Flow,
    LinkingFlow,
    LinkPairs,
    NhsmailSignInFlow,
    PasswordMfaFlow,
)
from loadtests.target import RunConfig

log = logging.getLogger("careid.load")


class _Shared:
    """What one Locust process shares between its users: the run config, its pool slice."""

    config: RunConfig | None = None
    pool: Pool | None = None
    cards: CardSupply | None = None
    codes: TotpCodes | None = None
    # the portal flows' supplies (loadtests.accounts: linked personas vs linking personas)
    linked_cards: CardSupply | None = None
    mfa_codes: TotpCodes | None = None  # the directory's MFA replay guard is its own
    pairs: LinkPairs | None = None
    password: str = ""

    @classmethod
    def setup(cls, environment: Environment) -> RunConfig:
        if cls.config is None:
            config = read_run_config(environment)
            if config.pool:
                cls.pool = open_pool(Path(config.pool))
                runner = environment.runner
                index = max(0, int(getattr(runner, "worker_index", 0)))
                part = cls.pool.part(index, config.workers)
                cls.cards = CardSupply(part)
                cls.codes = TotpCodes(part)
                linked = signed_in_personas(part)
                cls.linked_cards = CardSupply(linked)
                cls.mfa_codes = TotpCodes(linked)
                cls.pairs = LinkPairs(linking_personas(part), config.directory)
                if config.nhsmail_url:
                    cls.password = read_accounts(cls.pool.directory).password
                log.info("worker %d: %d pool personas", index, len(part))
            cls.config = config
        return cls.config

    @classmethod
    def portal_supplies(cls) -> tuple[CardSupply, TotpCodes, LinkPairs, str]:
        if cls.linked_cards is None or cls.mfa_codes is None or cls.pairs is None:
            raise RuntimeError("the portal users need the run's pool")
        return cls.linked_cards, cls.mfa_codes, cls.pairs, cls.password


def read_run_config(environment: Environment) -> RunConfig:
    options = environment.parsed_options
    path = getattr(options, "careid_run", None) if options else None
    if not path:
        raise RuntimeError("--careid-run FILE (written by `careid load`) is required")
    return RunConfig.load(path)


class CareidUser(User):
    """A user that runs one flow per iteration, a bounded number of times when asked."""

    abstract = True
    wait_time = between(0.0, 0.05)
    flow: Flow | SignInFlow | None = None
    done: int = 0
    iterations: ClassVar[int | None] = None  # overrides the run config (tests)

    def report(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None,
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=response_time,
            response_length=response_length,
            exception=exception,
            context={},
        )

    def make_flow(self, config: RunConfig) -> Flow | SignInFlow:
        raise NotImplementedError

    def before_iteration(self) -> None:
        """Per-iteration preparation (a new card in the reader)."""

    def on_start(self) -> None:
        try:
            config = _Shared.setup(self.environment)
            self.limit = self.iterations if self.iterations is not None else config.iterations
            self.flow = self.make_flow(config)
        except Exception as exc:  # a user that cannot start is a failure, not a quiet stop
            self.report("setup", type(self).__name__, 0.0, 0, exc)
            raise StopUser() from exc

    def on_stop(self) -> None:
        if self.flow is not None:
            self.flow.close()

    @task
    def sign_in(self) -> None:
        if self.limit and self.done >= self.limit:
            raise StopUser()
        self.done += 1
        if self.flow is None:
            raise StopUser()
        try:
            self.before_iteration()
            self.flow.run()
        except Exception as exc:  # reported by the failing step already; keep the user going
            log.debug("sign-in failed: %s", exc)


class SmartcardSignIn(CareidUser):
    weight = 3
    signer: AgentSigner | None = None

    def make_flow(self, config: RunConfig) -> SignInFlow:
        if _Shared.cards is None:
            raise RuntimeError("the smartcard users need the run's card pool")
        flow, self.signer = smartcard_flow(config, self.report)
        return flow

    def before_iteration(self) -> None:
        if self.signer is None or _Shared.cards is None:
            raise RuntimeError("the smartcard user has no card supply")
        self.signer.insert(*_Shared.cards.next())

    def on_stop(self) -> None:
        super().on_stop()
        if self.signer is not None:
            self.signer.close()


def wait_for_codes(codes: TotpCodes | None) -> None:
    """Sleep (cooperatively: Locust patches time.sleep) until `codes` has a free code."""
    wait = codes.seconds_until_free() if codes is not None else 0.0
    if wait > 0:
        log.warning("TOTP pool exhausted for this step: waiting %.1f s (a larger --pool)", wait)
        time.sleep(wait)


class TotpSignIn(CareidUser):
    weight = 1

    def before_iteration(self) -> None:
        wait_for_codes(_Shared.codes)

    def make_flow(self, config: RunConfig) -> SignInFlow:
        if _Shared.codes is None:
            raise RuntimeError("the TOTP users need the run's pool")
        return totp_flow(config, self.report, _Shared.codes)


class PortalUser(CareidUser):
    """A portal flow's user: the flow prepares each iteration itself (card, pair)."""

    abstract = True
    flow: Flow | None = None

    def before_iteration(self) -> None:
        if self.flow is not None:
            self.flow.prepare()


class NhsmailSignIn(PortalUser):
    weight = 3

    def make_flow(self, config: RunConfig) -> Flow:
        cards, _, _, _ = _Shared.portal_supplies()
        return NhsmailSignInFlow(config, self.report, cards)


class Linking(PortalUser):
    weight = 1

    def make_flow(self, config: RunConfig) -> Flow:
        _, _, pairs, password = _Shared.portal_supplies()
        return LinkingFlow(config, self.report, pairs, password)


class PasswordMfaSignIn(PortalUser):
    weight = 1
    codes: TotpCodes | None = None

    def make_flow(self, config: RunConfig) -> Flow:
        _, codes, _, password = _Shared.portal_supplies()
        self.codes = codes
        return PasswordMfaFlow(config, self.report, codes, password)

    def before_iteration(self) -> None:
        wait_for_codes(self.codes)
        super().before_iteration()


USER_CLASSES: dict[str, type[CareidUser]] = {
    "smartcard": SmartcardSignIn,
    "totp": TotpSignIn,
    "nhsmail": NhsmailSignIn,
    "linking": Linking,
    "password": PasswordMfaSignIn,
}


def _options(parser: Any) -> None:
    parser.add_argument("--careid-run", help="run.json written by `careid load`", default="")
    parser.add_argument(
        "--careid-quit-when-done",
        action="store_true",
        default=False,
        help="quit once every user has finished its iterations",
    )


def _weights(environment: Environment, **_: Any) -> None:
    """`weights` of run.json (flow name -> weight) on the user classes, in every process
    before the first spawn (the master dispatches by them)."""
    options = environment.parsed_options
    if not options or not getattr(options, "careid_run", None):
        return
    for flow, weight in read_run_config(environment).weights.items():
        USER_CLASSES[flow].weight = int(weight)


def _quit_when_done(environment: Environment, **_: Any) -> None:
    """With bounded iterations the run ends when no user is left (master or local runner)."""
    options = environment.parsed_options
    if not options or not getattr(options, "careid_quit_when_done", False):
        return
    runner = environment.runner
    if runner is None or type(runner).__name__ == "WorkerRunner":
        return
    import gevent  # type: ignore[import-untyped]  # noqa: PLC0415

    def watch() -> None:
        seen_users = False
        while True:
            gevent.sleep(0.5)
            count = runner.user_count
            if count:
                seen_users = True
            # "running" with no user left: users that ran their iterations between two polls
            elif runner.state == "running" or (
                seen_users and runner.state not in ("spawning", "ready")
            ):
                # workers report their counts every few seconds: let their last stats arrive
                gevent.sleep(4.0 if type(runner).__name__ == "MasterRunner" else 0.5)
                log.info("every user finished its iterations: quitting")
                runner.quit()
                return

    gevent.spawn(watch)


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_weights)  # type: ignore[no-untyped-call]
events.init.add_listener(_quit_when_done)  # type: ignore[no-untyped-call]
