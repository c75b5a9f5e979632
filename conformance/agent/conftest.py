"""Fixtures of the agent suite, on top of the careid plugin (catalog, reports, run dir)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.agent.client import AgentClient, Dialog
from conformance.agent.site import SignInSite
from conformance.agent.targets import (
    AgentTarget,
    CardBay,
    ExternalAgent,
    InProcessBay,
    InsertedCard,
    Personas,
    ReferenceAgents,
    TranscriptSwitch,
    VpcdBay,
    remove_tree,
)
from conformance.card.helpers import wrong_pin as wrong_pin_text
from conformance.plugin import RUN_KEY
from simulator.agent import Policy
from simulator.reader.transcript import Transcript
from simulator.secret import Secret

HEADLESS_PERSONAS = ("alice", "bob")


@dataclass
class AgentEnvironment:
    """Everything a test of the agent needs: the agent, a sign-in origin, cards, a run dir."""

    target: AgentTarget
    bay: CardBay
    site: SignInSite
    origins: list[str]  # allowed origins the suite knows; origins[0] is the site's
    run_dir: Path
    transcripts: TranscriptSwitch
    clients: list[Any] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.origins[0]

    @property
    def second_origin(self) -> str | None:
        return self.origins[1] if len(self.origins) > 1 else None

    @property
    def reference(self) -> bool:
        return self.target.kind == "reference"

    def agent(
        self, *, policy: Policy | None = None, headless: bool = False, origin: str | None = None
    ) -> AgentClient:
        client: AgentClient = self.target.client(
            origin or self.origin, policy=policy, headless=headless
        )
        self.clients.append(client)
        return client

    def insert(self, agent: AgentClient, persona: str = "alice", index: int = 0) -> InsertedCard:
        """Insert a fresh card and wait until the agent shows it."""
        card = self.bay.insert(persona, index)
        agent.wait_for_card(card.reader, present=True)
        return card

    def remove(self, agent: AgentClient | None, card: InsertedCard) -> None:
        self.bay.remove(card)
        if agent is not None:
            agent.wait_for_card(card.reader, present=False)

    def dialog(self, url: str) -> Dialog:
        dialog = Dialog(url)
        self.clients.append(dialog)
        dialog.open()
        return dialog


def _free_origin(site: SignInSite) -> str:
    """A second allowed origin for the per-origin tests (no server needs to answer there)."""
    return f"https://localhost:{site.port}"


@pytest.fixture(scope="session")
def agent_environment(request: pytest.FixtureRequest) -> Iterator[AgentEnvironment]:
    from simulator.datadir import default_data_dir  # noqa: PLC0415
    from simulator.pki import TestPKI  # noqa: PLC0415

    config = request.config
    run = config.stash[RUN_KEY]
    url: str | None = config.getoption("careid_agent")
    given_origins: list[str] = list(config.getoption("careid_agent_origin") or [])
    in_process = bool(config.getoption("careid_in_process"))
    if url and in_process:
        raise pytest.UsageError("--careid-in-process is for the reference agent only")
    if url and not given_origins:
        raise pytest.UsageError(
            "--careid-agent needs --careid-agent-origin https://127.0.0.1:PORT: an origin the "
            "agent allows, which the suite serves"
        )
    port = 0
    if given_origins:
        parts = urlsplit(given_origins[0])
        if parts.scheme != "https" or parts.hostname != "127.0.0.1" or not parts.port:
            raise pytest.UsageError("--careid-agent-origin must be https://127.0.0.1:PORT")
        port = parts.port
    data_dir: Path = config.getoption("careid_data_dir") or default_data_dir()
    pki = TestPKI.open(data_dir / "pki")
    chain, key = pki.server_certificate("careid-agent-suite")
    workdir = Path(tempfile.mkdtemp(prefix="careid-agent-suite-"))
    personas = Personas(data_dir, workdir)
    site = SignInSite(chain, key, port=port).start()
    bay: CardBay = InProcessBay(personas) if in_process else VpcdBay(personas)
    transcripts = TranscriptSwitch()
    target: AgentTarget | None = None
    try:
        bay.start()
        if url:
            origins = [site.origin, *given_origins[1:2]]
            target = ExternalAgent(url)
        else:
            origins = [site.origin, _free_origin(site)]
            pins = {}
            for persona in HEADLESS_PERSONAS:
                uuid, pin, _ = personas.describe(persona)
                pins[uuid] = pin
            target = ReferenceAgents(
                bay.reader_source(),
                origins,
                pki.ca_bundle_path,
                transcripts,
                pins,
            )
        run.target.describe_blanks(kind=bay.kind, reader=", ".join(bay.readers), persona="alice")
        run.target.description.update(
            agent_readers=", ".join(bay.readers),
            agent=url or "reference agent (simulator.agent), started by the suite",
            origin=origins[0],
        )
        yield AgentEnvironment(target, bay, site, origins, run.run_dir, transcripts)
    finally:
        if target is not None:
            target.stop()
        bay.stop()
        site.stop()
        remove_tree(workdir)


@pytest.fixture
def env(request: pytest.FixtureRequest, agent_environment: AgentEnvironment) -> Iterator[Any]:
    """This test's view of the environment; its cards are pulled out afterwards and the
    reference agent's APDUs go to `<run dir>/transcripts/<test>.txt`."""
    run = request.config.stash[RUN_KEY]
    node = request.node
    transcript: Transcript | None = None
    if agent_environment.reference:
        path = run.transcript_path(node.nodeid)
        path.parent.mkdir(parents=True, exist_ok=True)
        transcript = Transcript(path, title=node.nodeid)
        run.transcripts[node.nodeid] = path.relative_to(run.run_dir).as_posix()
        agent_environment.transcripts.current = transcript
    try:
        yield agent_environment
    finally:
        agents = [c for c in agent_environment.clients if isinstance(c, AgentClient)]
        agent_environment.bay.empty(agents[0] if agents else None)
        for client in agent_environment.clients:
            client.close()
        agent_environment.clients.clear()
        agent_environment.transcripts.current = None
        if transcript is not None:
            transcript.close()


@pytest.fixture
def challenge() -> Callable[[], str]:
    """`challenge()`: a fresh base64url challenge (as a sign-in service would issue)."""
    import secrets  # noqa: PLC0415

    return lambda: secrets.token_urlsafe(32)


@pytest.fixture
def wrong_pin() -> Callable[[Secret], Secret]:
    return lambda pin: Secret(wrong_pin_text(pin))
