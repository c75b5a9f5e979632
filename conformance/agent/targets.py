"""Targets of the agent suite: which agent answers, and where its cards come from.

* The **reference agent** (default): `simulator.agent` started by the suite on a free port
  of 127.0.0.1, restarted when a test needs another policy or headless PINs, its APDUs
  written to each test's transcript (PIN masked).
* **Another agent** (`--careid-agent URL --careid-agent-origin ORIGIN`): used as it runs.
  The suite serves ORIGIN itself (it must be `https://127.0.0.1:PORT`), so the agent must
  allow it and trust the test PKI's CA bundle for session-end calls.

Cards: fresh virtual cards per test, inserted into two vpcd slots of the machine's pcscd
(default: what any agent on the machine sees), or, with `--careid-in-process` and the
reference agent only, into two in-process readers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from cryptography import x509

from conformance.agent.client import AgentClient
from simulator.agent import Agent, AgentConfig, MemoryReaders, Policy, ReaderSource
from simulator.agent.server import AgentServer
from simulator.reader.errors import ReaderError
from simulator.reader.slot_lock import try_lock_slot
from simulator.reader.transcript import ExchangeObserver, Transcript
from simulator.secret import Secret

BayKind = Literal["virtual", "in-process"]
SLOTS = 2  # two readers: the two-card tests need both
CLAIM_TIMEOUT = 60.0


@dataclass
class InsertedCard:
    reader: str
    persona: str
    uuid: str
    pin: Secret = field(repr=False)
    certificate: x509.Certificate  # of key 9A
    handle: Any = None  # the slot index (vpcd) or the card object (in-process)
    path: Path | None = None


class Personas:
    """Each persona's card is issued once; every insertion gets a fresh copy of it."""

    def __init__(self, data_dir: Path, workdir: Path) -> None:
        self.data_dir = data_dir
        self.workdir = workdir
        self._states: dict[str, Any] = {}

    def state(self, persona: str) -> Any:
        from simulator.card.issue import issue_card  # noqa: PLC0415
        from simulator.card.store import load_card_state  # noqa: PLC0415

        if persona not in self._states:
            path = issue_card(
                persona, data_dir=self.data_dir, out=self.workdir / f"{persona}.template.card.json"
            )
            self._states[persona] = load_card_state(path)
        return self._states[persona]

    def fresh(self, persona: str) -> Any:
        return self.state(persona).fresh_copy()

    def describe(self, persona: str) -> tuple[str, Secret, x509.Certificate]:
        from simulator.card.report import certificate_in  # noqa: PLC0415
        from simulator.personas import get_persona  # noqa: PLC0415
        from simulator.piv.constants import KeyRef  # noqa: PLC0415

        state = self.state(persona)
        certificate = certificate_in(state, KeyRef.AUTHENTICATION)
        if certificate is None:
            raise RuntimeError(f"the {persona} card has no 9A certificate")
        return state.uuid, Secret(get_persona(persona).card.pin), certificate


class CardBay:
    kind: BayKind
    readers: list[str]

    def __init__(self, personas: Personas, slots: int = SLOTS) -> None:
        self.personas = personas
        self.slots = slots
        self.inserted: list[InsertedCard] = []

    def start(self) -> None:
        """Bring up the readers."""

    def reader_source(self) -> ReaderSource:
        """What an agent core reads these readers through."""
        raise NotImplementedError

    def stop(self) -> None:
        self.remove_all()

    def insert(self, persona: str = "alice", index: int = 0) -> InsertedCard:
        raise NotImplementedError

    def remove(self, card: InsertedCard) -> None:
        raise NotImplementedError

    def pin_tries_left(self, card: InsertedCard) -> int:
        raise NotImplementedError

    def remove_all(self) -> None:
        for card in list(self.inserted):
            with contextlib.suppress(ReaderError, ValueError):
                self.remove(card)
        self.inserted.clear()

    def empty(self, agent: AgentClient | None) -> None:
        """Remove every card and, given an agent, wait (briefly) until it sees them gone: the
        next test starts from empty readers, as the agent sees them too."""
        readers = [card.reader for card in self.inserted]
        self.remove_all()
        if agent is None:
            return
        for reader in readers:
            with contextlib.suppress(AssertionError, httpx.HTTPError):
                agent.wait_for_card(reader, present=False, timeout=5)


class InProcessBay(CardBay):
    kind: BayKind = "in-process"

    def __init__(self, personas: Personas, slots: int = SLOTS) -> None:
        super().__init__(personas, slots)
        self.readers = [f"careid in-process reader {i}" for i in range(slots)]
        self.source = MemoryReaders(self.readers)

    def reader_source(self) -> ReaderSource:
        return self.source

    def insert(self, persona: str = "alice", index: int = 0) -> InsertedCard:
        from simulator.card.card import VirtualCard  # noqa: PLC0415

        card = VirtualCard(self.personas.fresh(persona))
        reader = self.readers[index]
        self.source.insert(reader, card)
        uuid, pin, certificate = self.personas.describe(persona)
        inserted = InsertedCard(reader, persona, uuid, pin, certificate, handle=card)
        self.inserted.append(inserted)
        return inserted

    def remove(self, card: InsertedCard) -> None:
        if card in self.inserted:
            self.inserted.remove(card)
            self.source.remove(card.reader)

    def pin_tries_left(self, card: InsertedCard) -> int:
        return int(card.handle.state.pin.tries_left)


class VpcdBay(CardBay):
    """Two vpcd slots of the machine's pcscd (started when none runs), locked machine-wide
    (the card suite's lock files) so that two harness runs never share a slot."""

    kind: BayKind = "virtual"

    def __init__(self, personas: Personas, slots: int = SLOTS) -> None:
        super().__init__(personas, slots)
        self.readers = []
        self._slots: list[int] = []
        self._locks: list[int] = []
        self._control: Any = None
        self._started_pcscd = False

    def start(self) -> None:
        from simulator.reader import pcscd  # noqa: PLC0415
        from simulator.reader.control import ReaderControl  # noqa: PLC0415

        data_dir = self.personas.data_dir
        pcscd.check_installed()
        before = pcscd.find_layout(data_dir)
        layout = pcscd.start_pcscd(data_dir)
        self._started_pcscd = before is None
        self._control = ReaderControl(data_dir, layout)
        deadline = time.monotonic() + CLAIM_TIMEOUT
        while len(self._slots) < self.slots:
            for entry in self._control.status():
                index = entry.slot.index
                if index in self._slots or entry.record is not None or entry.present:
                    continue
                if self._lock(entry.slot.port):
                    self._slots.append(index)
                    self.readers.append(entry.slot.reader)
                    if len(self._slots) == self.slots:
                        break
            if len(self._slots) < self.slots:
                if time.monotonic() > deadline:
                    raise ReaderError(f"no {self.slots} free vpcd slots within {CLAIM_TIMEOUT:g} s")
                time.sleep(0.2)

    def reader_source(self) -> ReaderSource:
        from simulator.agent import PcscReaders  # noqa: PLC0415

        return PcscReaders(self.readers)

    def _lock(self, port: int) -> bool:
        fd = try_lock_slot(port)
        if fd is None:
            return False
        self._locks.append(fd)
        return True

    def stop(self) -> None:
        from simulator.reader import pcscd  # noqa: PLC0415

        try:
            super().stop()
            if self._control is not None and self._started_pcscd:
                pcscd.stop_pcscd(self._control.data_dir)
        finally:
            for fd in self._locks:
                os.close(fd)
            self._locks.clear()

    def insert(self, persona: str = "alice", index: int = 0) -> InsertedCard:
        from simulator.card import cardfile  # noqa: PLC0415

        slot = self._slots[index]
        path = self.personas.workdir / f"{persona}-{time.monotonic_ns()}.card.json"
        path.write_bytes(cardfile.dumps(self.personas.fresh(persona)))
        target = self._control.insert(path, slot)
        uuid, pin, certificate = self.personas.describe(persona)
        card = InsertedCard(target.reader, persona, uuid, pin, certificate, slot, path)
        self.inserted.append(card)
        return card

    def remove(self, card: InsertedCard) -> None:
        if card in self.inserted:
            self.inserted.remove(card)
            self._control.remove(card.handle)

    def pin_tries_left(self, card: InsertedCard) -> int:
        from simulator.card.store import load_card_state  # noqa: PLC0415

        if card.path is None:
            raise ValueError("no card file")
        return int(load_card_state(card.path).pin.tries_left)


# --- agents ------------------------------------------------------------------------------------


class TranscriptSwitch:
    """An observer for the reference agent's connections that writes to the transcript of
    whichever test is running (PIN masked by `Transcript`)."""

    def __init__(self) -> None:
        self.current: Transcript | None = None

    def exchanged(
        self, command: bytes, response: bytes | None, duration: float, error: BaseException | None
    ) -> None:
        if self.current is not None:
            self.current.exchanged(command, response, duration, error)

    def observers(self, reader: str) -> list[ExchangeObserver]:
        return [self]


@dataclass(frozen=True)
class AgentSetup:
    policy: Policy
    headless: bool


class AgentTarget:
    """The agent under test, for each test as the test needs it."""

    kind: Literal["reference", "external"]
    url: str | None = None

    def client(self, origin: str, *, policy: Policy | None = None, headless: bool = False) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        """Release what the target started."""


class ReferenceAgents(AgentTarget):
    kind: Literal["reference", "external"] = "reference"

    def __init__(
        self,
        source: ReaderSource,
        origins: list[str],
        ca_bundle: Path,
        transcripts: TranscriptSwitch,
        headless_pins: dict[str, Secret],
        port: int = 0,
    ) -> None:
        self.source = source
        self.port = port  # 0: a free port per start; a fixed one when pages name the agent's URL
        self.origins = origins
        self.ca_bundle = ca_bundle
        self.transcripts = transcripts
        self.headless_pins = headless_pins
        self.setup: AgentSetup | None = None
        self.server: AgentServer | None = None
        self.agent: Agent | None = None

    def client(
        self, origin: str, *, policy: Policy | None = None, headless: bool = False
    ) -> AgentClient:
        wanted = AgentSetup(
            policy or (self.setup.policy if self.setup else Policy.LEGACY), headless
        )
        if wanted != self.setup or self.server is None:
            self.stop()
            config = AgentConfig(
                allowed_origins=tuple(self.origins),
                policy=wanted.policy,
                headless_pins=self.headless_pins if wanted.headless else None,
                ca_bundle=self.ca_bundle,
            )
            self.agent = Agent(config, self.source, observers=self.transcripts.observers)
            self.server = AgentServer(self.agent, port=self.port).start()
            self.setup = wanted
            self.url = self.server.url
        return AgentClient(self.server.url, origin)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server = self.agent = self.setup = None


class ExternalAgent(AgentTarget):
    kind: Literal["reference", "external"] = "external"

    def __init__(self, url: str) -> None:
        self.address = url.rstrip("/")
        self.url = self.address
        self._status: dict[str, Any] | None = None

    def status(self, origin: str) -> dict[str, Any]:
        if self._status is None:
            client = AgentClient(self.address, origin)
            try:
                answer = client.status()
            finally:
                client.close()
            if answer.status != 200 or not isinstance(answer.body, dict):
                raise RuntimeError(
                    f"the agent at {self.address} answered GET /v1/status from {origin} with "
                    f"{answer.status}: is {origin} one of its allowed origins?"
                )
            self._status = answer.body
        return self._status

    def client(
        self, origin: str, *, policy: Policy | None = None, headless: bool = False
    ) -> AgentClient:
        import pytest  # noqa: PLC0415

        status = self.status(origin)
        if policy is not None and status.get("policy") != policy.value:
            pytest.skip(
                f"the agent under test runs the {status.get('policy')} policy; this test "
                f"needs {policy.value}"
            )
        if headless and not status.get("headless"):
            pytest.skip("needs the agent started with headless PINs for the suite's cards")
        if not headless and status.get("headless"):
            pytest.skip("the agent runs with headless PINs: the dialog is not used")
        return AgentClient(self.address, origin)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
