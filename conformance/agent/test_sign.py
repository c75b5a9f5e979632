"""Sign requests: the signature over the origin-bound message, errors, long polls, readers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import (
    FINAL,
    check_signature,
    expect_status,
    general_authenticates,
    start_sign,
)

requirement = pytest.mark.requirement


@requirement("AGENT-SIGN-001", "AGENT-SIGN-004", expected="signed; signature verifies")
@pytest.mark.parametrize("persona", ["alice", "bob"], ids=["rsa-series9", "ec-series10"])
def test_right_pin_signs(env: AgentEnvironment, challenge: Callable[[], str], persona: str) -> None:
    """The right PIN in the dialog signs the origin-bound message with the 9A key."""
    agent = env.agent()
    card = env.insert(agent, persona)
    text = challenge()
    request = start_sign(agent, text, reader=card.reader)
    assert request["dialog_url"].startswith(agent.url + "/"), request["dialog_url"]
    dialog = env.dialog(request["dialog_url"])
    assert dialog.enter_pin(card.pin) < 400
    body = agent.wait_state(request["request_id"], FINAL)
    assert body["state"] == "signed", f"state {body['state']}: {body.get('error')}"
    assert body["error"] is None
    result = body["result"]
    certificate = check_signature(result, env.origin, text)
    assert certificate == card.certificate, "the certificate of the card's 9A key"
    assert result["card"]["uuid"] == card.uuid
    assert result["card"]["serial"], "the card number"
    again = expect_status(agent.request(request["request_id"]), 200, "GET /v1/requests/{id}")
    assert again["state"] == "signed"


@requirement("AGENT-SIGN-002", expected="409 no_card")
def test_no_card(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """No card in the reader: 409 no_card."""
    agent = env.agent()
    agent.wait_for_card(env.bay.readers[0], present=False)
    body = expect_status(agent.sign(challenge(), reader=env.bay.readers[0]), 409, "no card")
    assert body["error"] == "no_card", body


@requirement("AGENT-SIGN-003", expected="400 invalid_request for each malformed request")
def test_malformed_requests(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Malformed bodies, bad challenges and bad session-end URLs are refused with 400."""
    agent = env.agent()
    card = env.insert(agent)
    other_port = "https://127.0.0.1:1"
    bad: dict[str, dict[str, object]] = {
        "short challenge": {"challenge": "abc"},
        "long challenge": {"challenge": "A" * 513},
        "not base64url": {"challenge": "not base64url!/+" * 2},
        "challenge not text": {"challenge": 12345678901234567},
        "http session end": {
            "challenge": challenge(),
            "session_end_url": env.origin.replace("https:", "http:") + "/end",
        },
        "session end elsewhere": {"challenge": challenge(), "session_end_url": other_port + "/x"},
    }
    for what, fields in bad.items():
        answer = agent.sign_json({"reader": card.reader, **fields})
        got = expect_status(answer, 400, what)
        assert got["error"] == "invalid_request", f"{what}: {got}"
    for raw in (b"not json", b"[1, 2]", b"", b'{"reader": "x"}'):
        got = expect_status(agent.sign_raw(raw), 400, f"body {raw!r}")
        assert got["error"] == "invalid_request"
    assert general_authenticates(env) == 0


@requirement("AGENT-SIGN-004", expected="the long poll returns within a second of the change")
def test_long_poll_returns_on_change(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """A long poll waits while the PIN is outstanding and returns once the request ends."""
    agent = env.agent()
    card = env.insert(agent)
    request = start_sign(agent, challenge(), reader=card.reader)
    started = time.monotonic()
    waited = agent.request(request["request_id"], wait=1)
    assert 0.8 <= time.monotonic() - started < 5, "wait=1 waits about a second"
    assert waited.body["state"] == "pin_required"
    env.dialog(request["dialog_url"]).enter_pin(card.pin)
    started = time.monotonic()
    body = agent.request(request["request_id"], wait=20).body
    assert body["state"] == "signed"
    assert time.monotonic() - started < 5, "a finished request answers the long poll at once"


@requirement("AGENT-SIGN-005", expected="each request signed by the card in the reader it names")
def test_two_readers_two_cards(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Two cards in two readers: the request's reader decides which card signs."""
    agent = env.agent()
    alice = env.insert(agent, "alice", 0)
    bob = env.insert(agent, "bob", 1)
    status = agent.status().body
    cards = {r["name"]: (r["card"] or {}).get("uuid") for r in status["readers"]}
    assert cards[alice.reader] == alice.uuid and cards[bob.reader] == bob.uuid, cards
    for card in (bob, alice):
        text = challenge()
        request = start_sign(agent, text, reader=card.reader)
        env.dialog(request["dialog_url"]).enter_pin(card.pin)
        body = agent.wait_state(request["request_id"], FINAL)
        assert body["state"] == "signed", body
        assert check_signature(body["result"], env.origin, text) == card.certificate
        assert body["result"]["card"]["uuid"] == card.uuid
