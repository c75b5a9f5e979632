"""Durable session ends (legacy policy): a session end the agent could not deliver survives
a restart or a kill, and a corrupt pending file never stops the agent from starting."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.agent.site import SignInSite
from simulator.agent import Agent, AgentConfig, MemoryReaders, Policy
from simulator.agent.pending_ends import PENDING_DIR, PendingEnds
from simulator.card.card import VirtualCard
from simulator.card.store import load_card_state
from simulator.personas import get_persona
from simulator.pki import TestPKI

READER = "reader 0"
PIN = get_persona("alice").card.pin


@dataclasses.dataclass
class World:
    data_dir: Path
    card_path: Path
    state: Any
    uuid: str
    chain: Path
    key: Path
    ca_bundle: Path


@pytest.fixture(scope="module")
def world() -> World:
    from simulator.card.issue import issue_card

    data_dir = Path(tempfile.mkdtemp(prefix="careid-agent-pending-"))
    card_path = issue_card("alice", data_dir=data_dir, out=data_dir / "alice.json")
    state = load_card_state(card_path)
    pki = TestPKI.open(data_dir / "pki")
    chain, key = pki.server_certificate("careid-agent-pending-test")
    return World(data_dir, card_path, state, state.uuid, chain, key, pki.ca_bundle_path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_agent(world: World, origin: str, state_dir: Path) -> tuple[Agent, MemoryReaders]:
    readers = MemoryReaders([READER])
    config = AgentConfig(
        allowed_origins=(origin,),
        policy=Policy.LEGACY,
        headless_pins={world.uuid: PIN},
        ca_bundle=world.ca_bundle,
        state_dir=state_dir,
    )
    return Agent(config, readers), readers


def sign_and_pull(world: World, agent: Agent, readers: MemoryReaders, origin: str, url: str) -> str:
    card = VirtualCard(dataclasses.replace(world.state, pin=copy.copy(world.state.pin)))
    readers.insert(READER, card)
    agent.scan()
    request = agent.sign(origin, secrets.token_urlsafe(24), session_end_url=url)
    assert request.state.value == "signed", request
    readers.remove(READER)
    agent.scan()  # the removal is noticed here
    return request.id


def pending_files(state_dir: Path) -> list[Path]:
    return sorted((state_dir / PENDING_DIR).glob("*.json"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "agent"


def test_session_end_survives_a_restart(world: World, state_dir: Path) -> None:
    """Attack: pull the card while the service cannot be reached, restart the agent. The web
    session must still be ended once the service answers again."""
    port = free_port()  # nothing listens: every attempt is refused
    origin = f"https://127.0.0.1:{port}"
    name = secrets.token_hex(8)
    url = f"{origin}/session-end/{name}"
    agent, readers = make_agent(world, origin, state_dir)
    agent.start()
    request_id = sign_and_pull(world, agent, readers, origin, url)
    agent.stop()  # its attempts failed
    files = pending_files(state_dir)
    assert len(files) == 1, "the undelivered session end is on disk"
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600, "it holds the service's secret URL"
    assert stat.S_IMODE((state_dir / PENDING_DIR).stat().st_mode) == 0o700
    assert PIN not in files[0].read_text()

    with SignInSite(world.chain, world.key, port=port) as site:
        again, _ = make_agent(world, origin, state_dir)
        again.start()
        try:
            call = site.wait_for_call(name, timeout=10)
            assert call is not None, "the restarted agent did not deliver the session end"
            assert call.body == {
                "reason": "card_removed",
                "uuid": world.uuid,
                "request_id": request_id,
            }
            deadline = time.monotonic() + 5
            while pending_files(state_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pending_files(state_dir) == [], "delivered: no longer pending"
        finally:
            again.stop()
        assert len(site.calls_to(name)) == 1


CHILD = r"""
import copy, dataclasses, sys, time
from pathlib import Path
from simulator.agent import Agent, AgentConfig, MemoryReaders, Policy
from simulator.card.card import VirtualCard
from simulator.card.store import load_card_state
from simulator.personas import get_persona

card_path, origin, url, state_dir, ca_bundle = sys.argv[1:6]
state = load_card_state(Path(card_path))
readers = MemoryReaders(["reader 0"])
config = AgentConfig(
    allowed_origins=(origin,), policy=Policy.LEGACY,
    headless_pins={state.uuid: get_persona("alice").card.pin},
    ca_bundle=Path(ca_bundle), state_dir=Path(state_dir),
)
agent = Agent(config, readers)
agent.start()
readers.insert("reader 0", VirtualCard(dataclasses.replace(state, pin=copy.copy(state.pin))))
agent.scan()
request = agent.sign(origin, "Q" * 24, session_end_url=url)
print(request.id, flush=True)
readers.remove("reader 0")
agent.scan()
print("removed", flush=True)
time.sleep(60)
"""


def test_session_end_survives_a_kill(world: World, state_dir: Path) -> None:
    """Attack: kill -9 the agent right after it noticed the removal, while its call hangs
    (the service accepts the connection and never answers). The next start delivers."""
    hang = socket.socket()
    hang.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    port = hang.getsockname()[1]
    origin = f"https://127.0.0.1:{port}"
    name = secrets.token_hex(8)
    url = f"{origin}/session-end/{name}"
    args = [str(world.card_path), origin, url, str(state_dir), str(world.ca_bundle)]
    child = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        request_id = child.stdout.readline().strip()
        assert child.stdout.readline().strip() == "removed", "the child agent failed"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        hang.close()
    assert len(pending_files(state_dir)) == 1, "recorded before the kill"
    with SignInSite(world.chain, world.key, port=port) as site:
        again, _ = make_agent(world, origin, state_dir)
        again.start()
        try:
            call = site.wait_for_call(name, timeout=10)
        finally:
            again.stop()
    assert call is not None, "the session end was lost with the killed agent"
    assert call.body["request_id"] == request_id
    assert pending_files(state_dir) == []


def test_corrupt_pending_files_do_not_stop_start_up(
    world: World, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A torn, garbage or ill-shaped pending file is reported and set aside; a good one
    beside it is still delivered, and a too old one is dropped (logged), not sent."""
    port = free_port()
    origin = f"https://127.0.0.1:{port}"
    directory = state_dir / PENDING_DIR
    directory.mkdir(parents=True)
    (directory / "torn.json").write_bytes(b'{"url": "https://127.0.0.1:1/sess')
    (directory / "garbage.json").write_bytes(b"\xff\xfe\x00not json")
    (directory / "shape.json").write_text(json.dumps({"url": 5, "body": []}))
    (directory / ".half.json.abc123.tmp").write_bytes(b'{"url"')  # a writer killed mid-write
    store = PendingEnds(directory)
    good = store.record(
        f"{origin}/session-end/good", {"reason": "card_removed", "uuid": world.uuid}
    )
    old = store.record(f"{origin}/session-end/old", {"reason": "card_removed", "uuid": None})
    old_path = directory / f"{old.id}.json"
    data = json.loads(old_path.read_text())
    data["created"] = time.time() - 10 * 24 * 3600
    old_path.write_text(json.dumps(data))

    caplog.set_level(logging.INFO, logger="careid.agent")
    with SignInSite(world.chain, world.key, port=port) as site:
        agent, _ = make_agent(world, origin, state_dir)
        agent.start()  # must not raise
        try:
            assert site.wait_for_call("good", timeout=10) is not None
            assert site.wait_for_call("old", timeout=1) is None, "too old: given up"
        finally:
            agent.stop()
    assert not (directory / f"{good.id}.json").exists()
    assert not old_path.exists()
    assert not list(directory.glob(".*.tmp")), "a killed writer's leftover is cleared"
    quarantined = sorted(p.name for p in directory.glob("*.corrupt"))
    assert quarantined == ["garbage.json.corrupt", "shape.json.corrupt", "torn.json.corrupt"]
    text = caplog.text
    assert "torn.json" in text and "garbage.json" in text and "shape.json" in text
    assert "gave up" in text
    assert "/session-end/" not in text, "the URL is the service's secret: not logged"


def test_a_pin_never_goes_into_a_pending_file(tmp_path: Path) -> None:
    """Only the documented body fields are recorded; anything else (a PIN) is refused."""
    store = PendingEnds(tmp_path / PENDING_DIR)
    with pytest.raises(ValueError, match="pin"):
        store.record("https://127.0.0.1:1/x", {"reason": "card_removed", "pin": PIN})
    assert not list((tmp_path / PENDING_DIR).glob("*.json"))
