"""Fixtures of the journeys suite: the whole reference stack, and Debian's Chromium to walk it.

The stack, brought up once per run:

* a virtual card in a vpcd slot of the machine's pcscd (started when none runs; the slot is
  locked machine-wide like the other suites'), or, with `--careid-in-process`, an in-process
  reader;
* the reference Identity Agent on a fixed loopback port (the provider's smartcard page and the
  NHSmail portal's script name it), restarted when a test needs another removal policy; it
  allows the provider's and both portals' origins and trusts the test CA for session-end calls;
* the reference sign-in service and both portals over HTTPS with test-PKI certificates, on free
  loopback ports, with a fresh NHSmail directory for the run (`PortalWorld`); organisation RX2
  has the "close on card removal" policy;
* Chromium through Playwright, one fresh browser context per page (no cookies carried over).

Every test leaves the reader empty and its browser contexts closed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.agent.client import AgentClient
from conformance.agent.targets import (
    CardBay,
    InProcessBay,
    InsertedCard,
    Personas,
    ReferenceAgents,
    TranscriptSwitch,
    VpcdBay,
)
from conformance.journeys.recorder import Journey, manuals
from conformance.plugin import RUN_KEY
from conformance.portals.world import PortalWorld, free_port
from conformance.report.screenshot import CHROMIUM, CHROMIUM_ARGS
from simulator.agent import Policy

SUITE_DIR = Path(__file__).resolve().parent
TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1100, "height": 760}
CLOSE_ON_REMOVAL_ORGS = ("RX2",)


@dataclass
class JourneyStack:
    """The stack the journeys walk, and the browser that walks it."""

    world: PortalWorld
    bay: CardBay
    agents: ReferenceAgents
    browser: Any  # playwright.sync_api.Browser
    run_dir: Path
    contexts: list[Any] = field(default_factory=list)
    clients: list[AgentClient] = field(default_factory=list)

    @property
    def agent_url(self) -> str:
        return self.world.agent_url

    @property
    def issuer(self) -> str:
        return self.world.cis2.issuer

    def url(self, portal: str, path: str = "/") -> str:
        return self.world.url(portal, path)

    def agent(self, policy: Policy = Policy.LEGACY) -> AgentClient:
        """The reference agent under `policy` (restarted on the same port when it changes)."""
        client = self.agents.client(self.world.portals["nhsmail"].origin, policy=policy)
        self.clients.append(client)
        return client

    def insert(self, agent: AgentClient, persona: str) -> InsertedCard:
        """A fresh card of `persona` in the reader, once the agent shows it."""
        card = self.bay.insert(persona)
        agent.wait_for_card(card.reader, present=True, timeout=15)
        return card

    def remove(self, agent: AgentClient, card: InsertedCard) -> None:
        self.bay.remove(card)
        agent.wait_for_card(card.reader, present=False, timeout=15)

    def page(self) -> Any:
        """A page in a new browser context (its own cookies; the test CA is not known to it)."""
        context = self.browser.new_context(ignore_https_errors=True, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context.new_page()

    def cleanup(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()
        self.contexts.clear()
        self.bay.empty(self.clients[0] if self.clients else None)
        for client in self.clients:
            client.close()
        self.clients.clear()


@pytest.fixture(scope="session")
def journey_stack(request: pytest.FixtureRequest) -> Iterator[JourneyStack]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    config = request.config
    run = config.stash[RUN_KEY]
    if config.getoption("careid_agent") or config.getoption("careid_issuer"):
        raise pytest.UsageError(
            "the journeys suite walks the reference stack; --careid-agent and --careid-issuer "
            "are for the agent and oidc suites"
        )
    in_process = bool(config.getoption("careid_in_process"))
    # A fresh directory (and test PKI) per run: the linking journey needs bob unlinked.
    data_dir = Path(tempfile.mkdtemp(prefix="careid-journeys-"))
    personas = Personas(data_dir, data_dir / "cards")
    personas.workdir.mkdir()
    bay: CardBay = InProcessBay(personas, slots=1) if in_process else VpcdBay(personas, slots=1)
    agent_url = f"http://127.0.0.1:{free_port()}"
    world = PortalWorld(data_dir, close_on_card_removal=CLOSE_ON_REMOVAL_ORGS, agent_url=agent_url)
    agents: ReferenceAgents | None = None
    try:
        bay.start()
        origins = [world.cis2.origin, *(world.portals[p].origin for p in world.portals)]
        agents = ReferenceAgents(
            bay.reader_source(),
            origins,
            world.pki.ca_bundle_path,
            TranscriptSwitch(),
            {},
            port=int(agent_url.rsplit(":", 1)[1]),
        )
        with world, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
            )
            run.target.describe_blanks(
                kind=bay.kind, reader=", ".join(bay.readers), persona="per journey"
            )
            run.target.description.update(
                journeys_reader=", ".join(bay.readers),
                agent=f"reference agent (simulator.agent) at {agent_url}",
                issuer=world.cis2.issuer,
                nhsmail=world.url("nhsmail", ""),
                myidentity=world.url("myidentity", ""),
                browser=f"{CHROMIUM} {browser.version}",
            )
            try:
                yield JourneyStack(world, bay, agents, browser, Path(run.run_dir))
            finally:
                browser.close()
                # The agent before the services: its idle keep-alive TLS connection (from
                # session-end calls) would hold up the provider's shutdown otherwise.
                agents.stop()
    finally:
        if agents is not None:
            agents.stop()
        bay.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def stack(journey_stack: JourneyStack) -> Iterator[JourneyStack]:
    """The run's stack for one test; its cards and browser contexts are gone afterwards."""
    try:
        yield journey_stack
    finally:
        journey_stack.cleanup()


@pytest.fixture
def journey(
    request: pytest.FixtureRequest, journey_stack: JourneyStack
) -> Iterator[Callable[..., Journey]]:
    """`journey(key, title, manual="000")`: a picture strip for this test, saved at its end
    with the test's outcome and message as the plugin recorded them."""
    made: list[Journey] = []
    node = request.node
    ids = [str(a) for m in node.iter_markers("requirement") for a in m.args]

    def make(key: str, title: str, *, manual: str | None = None) -> Journey:
        recorded = Journey(
            journey_stack.run_dir,
            key,
            title,
            manual=manuals()[manual] if manual else None,
            requirement=", ".join(ids),
            test=node.nodeid,
        )
        made.append(recorded)
        return recorded

    yield make
    record = request.config.stash[RUN_KEY].records.get(node.nodeid)
    for recorded in made:
        if record is None:
            recorded.save("error", "the test left no result")
        else:
            recorded.save(record.outcome, "" if record.outcome == "passed" else record.actual)
