"""Locust users of the load suites (imported only inside Locust's processes).

Base classes are `abstract = True`; the concrete users are the flows of issue 8 that exist
today. Running several users together makes the weighted mix (`weight` below).

* `SmartcardSignIn`: full smartcard sign-ins at the provider (code flow + PKCE → smartcard
  mechanism → challenge → the agent core signs with an in-process card → token exchange).
* `TotpSignIn`: sign-ins with the authenticator app (AAL2 TOTP mechanism, via the chooser).

Where the portal journeys go (issue 7: `reference_service/nhsmail/`, `…/myidentity/`): add
`NhsmailSignIn(CareidUser)` (the NHSmail portal → "Sign in with Care Identity" → the same
`AgentDriver` → back to the portal's session) and `Linking(CareidUser)` (My Identity Portal's
linking journey) here, each with a flow built in `loadtests.flows` on the portal's headless
client, and list them in `USER_CLASSES`; the CLI's `--flow` picks them by name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from locust import User, between, events, task
from locust.env import Environment
from locust.exception import StopUser

from loadtests.flows import (
    AgentSigner,
    CardSupply,
    SignInFlow,
    TotpCodes,
    smartcard_flow,
    totp_flow,
)
from loadtests.pool import Pool, open_pool
from loadtests.target import RunConfig

log = logging.getLogger("careid.load")


class _Shared:
    """What one Locust process shares between its users: the run config, its pool slice."""

    config: RunConfig | None = None
    pool: Pool | None = None
    cards: CardSupply | None = None
    codes: TotpCodes | None = None

    @classmethod
    def setup(cls, environment: Environment) -> RunConfig:
        if cls.config is None:
            options = environment.parsed_options
            path = getattr(options, "careid_run", None) if options else None
            if not path:
                raise RuntimeError("--careid-run FILE (written by `careid load`) is required")
            cls.config = RunConfig.load(path)
            if cls.config.pool:
                cls.pool = open_pool(Path(cls.config.pool))
                runner = environment.runner
                index = max(0, int(getattr(runner, "worker_index", 0)))
                part = cls.pool.part(index, cls.config.workers)
                cls.cards = CardSupply(part)
                cls.codes = TotpCodes(part)
                log.info("worker %d: %d pool personas", index, len(part))
        return cls.config


class CareidUser(User):
    """A user that runs one flow per iteration, a bounded number of times when asked."""

    abstract = True
    wait_time = between(0.0, 0.05)
    flow: SignInFlow | None = None
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

    def make_flow(self, config: RunConfig) -> SignInFlow:
        raise NotImplementedError

    def before_iteration(self) -> None:
        """Per-iteration preparation (a new card in the reader)."""

    def on_start(self) -> None:
        config = _Shared.setup(self.environment)
        self.limit = self.iterations if self.iterations is not None else config.iterations
        self.flow = self.make_flow(config)

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


class TotpSignIn(CareidUser):
    weight = 1

    def make_flow(self, config: RunConfig) -> SignInFlow:
        if _Shared.codes is None:
            raise RuntimeError("the TOTP users need the run's pool")
        return totp_flow(config, self.report, _Shared.codes)


USER_CLASSES: dict[str, type[CareidUser]] = {
    "smartcard": SmartcardSignIn,
    "totp": TotpSignIn,
}


def _options(parser: Any) -> None:
    parser.add_argument("--careid-run", help="run.json written by `careid load`", default="")
    parser.add_argument(
        "--careid-quit-when-done",
        action="store_true",
        default=False,
        help="quit once every user has finished its iterations",
    )


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
            elif seen_users and runner.state not in ("spawning", "ready"):
                # workers report their counts every few seconds: let their last stats arrive
                gevent.sleep(4.0 if type(runner).__name__ == "MasterRunner" else 0.5)
                log.info("every user finished its iterations: quitting")
                runner.quit()
                return

    gevent.spawn(watch)


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_quit_when_done)  # type: ignore[no-untyped-call]
