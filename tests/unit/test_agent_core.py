"""The agent core with in-process cards: policies, PINs, removal, origins (no HTTP)."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.agent import (
    Agent,
    AgentConfig,
    FailureCode,
    MemoryReaders,
    PinOutcome,
    Policy,
    RequestState,
    signin_message,
)
from simulator.agent.headless import HeadlessPinsError, load_headless_pins
from simulator.agent.protocol import (
    InvalidRequestError,
    NoCardError,
    OriginNotAllowedError,
    PinLockedError,
    check_challenge,
    check_session_end_url,
    normalize_origin,
)
from simulator.card.card import VirtualCard
from simulator.card.store import load_card_state
from simulator.personas import get_persona
from simulator.secret import Secret

ORIGIN = "https://127.0.0.1:9443"
OTHER = "https://127.0.0.1:9444"
READERS = ["reader 0", "reader 1"]


@pytest.fixture(scope="module")
def states() -> dict[str, Any]:
    from simulator.card.issue import issue_card

    data_dir = Path(tempfile.mkdtemp(prefix="careid-agent-unit-"))
    return {
        name: load_card_state(issue_card(name, data_dir=data_dir, out=data_dir / f"{name}.json"))
        for name in ("alice", "bob", "erin")
    }


def fresh(states: dict[str, Any], persona: str) -> VirtualCard:
    import copy
    import dataclasses

    state = states[persona]
    return VirtualCard(
        dataclasses.replace(state, pin=copy.copy(state.pin), objects=dict(state.objects))
    )


class Notifier:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def notify(self, url: str, body: Any) -> None:
        self.calls.append((url, dict(body)))

    def close(self, timeout: float = 10.0) -> None:
        pass


class Counting:
    """An in-process card that counts the commands it gets."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.commands: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def execute(self, apdu: bytes) -> bytes:
        self.commands.append(apdu)
        return self.card.execute(apdu)


def make_agent(
    policy: Policy = Policy.LEGACY, **config: Any
) -> tuple[Agent, MemoryReaders, Notifier]:
    readers = MemoryReaders(READERS)
    notifier = Notifier()
    agent = Agent(
        AgentConfig(allowed_origins=(ORIGIN, OTHER), policy=policy, **config),
        readers,
        notifier=notifier,
    )
    return agent, readers, notifier


@pytest.fixture
def legacy() -> Iterator[tuple[Agent, MemoryReaders, Notifier]]:
    agent, readers, notifier = make_agent()
    agent.start()
    yield agent, readers, notifier
    agent.stop()


def insert(agent: Agent, readers: MemoryReaders, card: Any, reader: str = READERS[0]) -> None:
    readers.insert(reader, card)
    agent.scan()


def challenge() -> str:
    return secrets.token_urlsafe(24)


def pin_of(persona: str) -> Secret:
    return Secret(get_persona(persona).card.pin)


def verify(result: Any, origin: str, text: str) -> None:
    certificate = x509.load_der_x509_certificate(result.certificate)
    key = certificate.public_key()
    message = signin_message(origin, text)
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(result.signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(result.signature, message, ec.ECDSA(hashes.SHA256()))


def test_protocol_helpers() -> None:
    assert normalize_origin("HTTPS://127.0.0.1:443/") == "https://127.0.0.1"
    assert normalize_origin("https://127.0.0.1:9443") == "https://127.0.0.1:9443"
    assert normalize_origin("https://127.0.0.1:9443/path") is None
    assert normalize_origin("null") is None
    assert check_challenge("A" * 16) == "A" * 16
    for bad in ("A" * 15, "A" * 513, "a+b/" * 8, 5):
        with pytest.raises(InvalidRequestError):
            check_challenge(bad)
    assert check_session_end_url(ORIGIN + "/end/1", ORIGIN) == ORIGIN + "/end/1"
    for bad_url in ("http://127.0.0.1:9443/end", OTHER + "/end", "https://evil.example/"):
        with pytest.raises(InvalidRequestError):
            check_session_end_url(bad_url, ORIGIN)
    assert signin_message("o", "c") == b"careid-signin-v1\no\nc"


def test_legacy_pin_once_then_signed(legacy: Any, states: dict[str, Any]) -> None:
    agent, readers, _ = legacy
    insert(agent, readers, fresh(states, "alice"))
    text = challenge()
    request = agent.sign(ORIGIN, text)
    assert request.state is RequestState.PIN_REQUIRED and request.dialog
    wrong = agent.submit_pin(request.id, "000000")
    assert wrong.outcome is PinOutcome.WRONG_PIN and wrong.request.tries_left == 2
    assert agent.submit_pin(request.id, "12").outcome is PinOutcome.BAD_FORMAT
    done = agent.submit_pin(request.id, pin_of("alice"))
    assert done.outcome is PinOutcome.SIGNED
    assert done.request.result is not None
    verify(done.request.result, ORIGIN, text)
    again = agent.sign(OTHER, challenge())
    assert again.state is RequestState.SIGNED, "legacy: one PIN per insertion"


def test_connect_asks_per_origin(states: dict[str, Any]) -> None:
    agent, readers, notifier = make_agent(Policy.CONNECT)
    with agent:
        insert(agent, readers, fresh(states, "bob"))
        first = agent.sign(ORIGIN, challenge(), session_end_url=ORIGIN + "/end")
        assert agent.submit_pin(first.id, pin_of("bob")).outcome is PinOutcome.SIGNED
        assert agent.sign(ORIGIN, challenge()).state is RequestState.SIGNED
        assert agent.sign(OTHER, challenge()).state is RequestState.PIN_REQUIRED
        readers.remove(READERS[0])
        agent.scan()
    assert notifier.calls == [], "connect never ends a session"


def test_legacy_removal_ends_session_and_cancels_pending(
    legacy: Any, states: dict[str, Any]
) -> None:
    agent, readers, notifier = legacy
    card = fresh(states, "alice")
    insert(agent, readers, card)
    signed = agent.sign(ORIGIN, challenge(), session_end_url=ORIGIN + "/end/a")
    agent.submit_pin(signed.id, pin_of("alice"))
    pending = agent.sign(ORIGIN, challenge(), session_end_url=ORIGIN + "/end/b")
    assert pending.state is RequestState.SIGNED  # legacy: no second PIN
    insert(agent, readers, fresh(states, "bob"), READERS[1])
    waiting = agent.sign(ORIGIN, challenge(), reader=READERS[1])
    readers.remove(READERS[1])
    agent.scan()
    ended = agent.request(waiting.id)
    assert ended.state is RequestState.CANCELLED
    assert ended.error is not None and ended.error.code is FailureCode.CARD_REMOVED
    assert notifier.calls == []
    readers.remove(READERS[0])
    agent.scan()
    uuid = states["alice"].uuid
    assert sorted(notifier.calls, key=lambda c: c[0]) == [
        (ORIGIN + "/end/a", {"reason": "card_removed", "uuid": uuid, "request_id": signed.id}),
        (ORIGIN + "/end/b", {"reason": "card_removed", "uuid": uuid, "request_id": pending.id}),
    ]


def test_refused_origin_sends_nothing(legacy: Any, states: dict[str, Any]) -> None:
    agent, readers, _ = legacy
    card = Counting(fresh(states, "alice"))
    insert(agent, readers, card)
    before = len(card.commands)
    for origin in ("https://evil.example", None, "", "null"):
        with pytest.raises(OriginNotAllowedError):
            agent.sign(origin, challenge())
    assert len(card.commands) == before


def test_no_card_locked_card_and_lockout(legacy: Any, states: dict[str, Any]) -> None:
    agent, readers, _ = legacy
    with pytest.raises(NoCardError):
        agent.sign(ORIGIN, challenge())
    insert(agent, readers, fresh(states, "erin"))
    with pytest.raises(PinLockedError):
        agent.sign(ORIGIN, challenge())
    insert(agent, readers, fresh(states, "alice"), READERS[1])
    request = agent.sign(ORIGIN, challenge(), reader=READERS[1])
    outcomes = [agent.submit_pin(request.id, "000000").outcome for _ in range(3)]
    assert outcomes == [PinOutcome.WRONG_PIN, PinOutcome.WRONG_PIN, PinOutcome.LOCKED]
    final = agent.request(request.id)
    assert final.state is RequestState.FAILED
    assert final.error is not None and final.error.code is FailureCode.PIN_LOCKED


def test_cancel_and_csrf(legacy: Any, states: dict[str, Any]) -> None:
    from simulator.agent.protocol import ForbiddenError, RequestClosedError

    agent, readers, _ = legacy
    insert(agent, readers, fresh(states, "alice"))
    request = agent.sign(ORIGIN, challenge())
    with pytest.raises(ForbiddenError):
        agent.submit_pin(request.id, pin_of("alice"), csrf="wrong")
    cancelled = agent.cancel(request.id, csrf=request.csrf)
    assert cancelled.error is not None and cancelled.error.code is FailureCode.CANCELLED
    with pytest.raises(RequestClosedError):
        agent.submit_pin(request.id, pin_of("alice"))


def test_headless_pins(states: dict[str, Any], tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(f'[pins]\n"{states["alice"].uuid}" = "{pin_of("alice")}"\n')
    agent, readers, _ = make_agent(headless_pins=load_headless_pins(pins))
    assert "314159" not in repr(agent.config)
    with agent:
        assert agent.status().headless
        insert(agent, readers, fresh(states, "alice"))
        assert agent.sign(ORIGIN, challenge()).state is RequestState.SIGNED
        insert(agent, readers, fresh(states, "bob"), READERS[1])  # not in the file
        assert agent.sign(ORIGIN, challenge(), reader=READERS[1]).dialog


def test_headless_file_errors_never_show_the_pin(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[pins]\n"555000000101" = "12ab"\n')
    with pytest.raises(HeadlessPinsError) as error:
        load_headless_pins(bad)
    assert "12ab" not in str(error.value)
    bad.write_text('pins = "x"\n')
    with pytest.raises(HeadlessPinsError):
        load_headless_pins(bad)
