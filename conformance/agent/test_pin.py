"""The PIN dialog: wrong PIN, locked card, Cancel, removal, refused forms, no PIN leaks."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import FINAL, expect_status, start_sign
from simulator.secret import Secret

requirement = pytest.mark.requirement
TRIES = re.compile(r"Incorrect PIN\W+(\d+) tr(?:y|ies) left", re.IGNORECASE)


@requirement(
    "AGENT-PIN-001", expected="'Incorrect PIN — 2 tries left', still pin_required; then signed"
)
def test_wrong_pin_shows_tries_left(
    env: AgentEnvironment, challenge: Callable[[], str], wrong_pin: Callable[[Secret], Secret]
) -> None:
    """A wrong PIN shows the tries left; the right one then signs."""
    agent = env.agent()
    card = env.insert(agent)
    before = env.bay.pin_tries_left(card)
    request = start_sign(agent, challenge(), reader=card.reader)
    dialog = env.dialog(request["dialog_url"])
    dialog.enter_pin(wrong_pin(card.pin))
    found = TRIES.search(dialog.text)
    assert found, f"the dialog does not show 'Incorrect PIN — N tries left': {dialog.text[:300]}"
    assert int(found.group(1)) == before - 1 == env.bay.pin_tries_left(card)
    state = agent.request(request["request_id"]).body
    assert state["state"] == "pin_required", state
    dialog.enter_pin(card.pin)
    body = agent.wait_state(request["request_id"], FINAL)
    assert body["state"] == "signed", body
    assert env.bay.pin_tries_left(card) == before, "the right PIN resets the counter"


@requirement("AGENT-PIN-002", expected="dialog: locked, Registration Authority; pin_locked")
def test_pin_blocked_in_dialog(
    env: AgentEnvironment, challenge: Callable[[], str], wrong_pin: Callable[[Secret], Secret]
) -> None:
    """Wrong PINs until the card blocks: the dialog says locked; the request fails."""
    agent = env.agent()
    card = env.insert(agent)
    request = start_sign(agent, challenge(), reader=card.reader)
    dialog = env.dialog(request["dialog_url"])
    for _ in range(env.bay.pin_tries_left(card)):
        dialog.enter_pin(wrong_pin(card.pin))
    assert env.bay.pin_tries_left(card) == 0
    text = dialog.text.lower()
    assert "locked" in text, f"the dialog does not say the card is locked: {dialog.text[:300]}"
    assert "registration authority" in text, "the dialog names the Registration Authority"
    body = agent.wait_state(request["request_id"], FINAL)
    assert body["state"] == "failed", body
    assert body["error"]["code"] == "pin_locked", body["error"]
    again = expect_status(agent.sign(challenge(), reader=card.reader), 423, "sign, PIN blocked")
    assert again["error"] == "pin_locked"


@requirement("AGENT-PIN-003", expected="423 pin_locked, no dialog")
def test_locked_card(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """A card issued locked (persona erin) cannot be asked to sign."""
    agent = env.agent()
    card = env.insert(agent, "erin")
    body = expect_status(agent.sign(challenge(), reader=card.reader), 423, "sign, locked card")
    assert body["error"] == "pin_locked", body


@requirement("AGENT-PIN-004", expected="error code cancelled")
def test_cancel(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """The dialog's Cancel ends the request."""
    agent = env.agent()
    card = env.insert(agent)
    tries = env.bay.pin_tries_left(card)
    request = start_sign(agent, challenge(), reader=card.reader)
    dialog = env.dialog(request["dialog_url"])
    assert dialog.cancel() < 400
    body = agent.wait_state(request["request_id"], FINAL)
    assert body["state"] in ("cancelled", "failed"), body
    assert body["error"]["code"] == "cancelled", body["error"]
    assert body["result"] is None
    assert env.bay.pin_tries_left(card) == tries


@requirement("AGENT-PIN-005", expected="card_removed; the dialog says the card was removed")
def test_card_removed_while_dialog_open(
    env: AgentEnvironment, challenge: Callable[[], str]
) -> None:
    """Pulling the card while the dialog waits for the PIN cancels the request."""
    agent = env.agent()
    card = env.insert(agent)
    request = start_sign(agent, challenge(), reader=card.reader)
    dialog = env.dialog(request["dialog_url"])
    assert "pin" in dialog.text.lower()
    env.remove(None, card)
    body = agent.wait_state(request["request_id"], FINAL)
    assert body["state"] in ("cancelled", "failed"), body
    assert body["error"]["code"] == "card_removed", body["error"]
    dialog.open()
    assert "removed" in dialog.text.lower(), f"the dialog should say so: {dialog.text[:300]}"


@requirement("AGENT-PIN-006", expected="403 for a foreign origin or wrong csrf; tries unchanged")
def test_dialog_form_refused(
    env: AgentEnvironment, challenge: Callable[[], str], wrong_pin: Callable[[Secret], Secret]
) -> None:
    """The dialog's form only counts from the dialog page itself, with its csrf token."""
    agent = env.agent()
    card = env.insert(agent)
    tries = env.bay.pin_tries_left(card)
    request = start_sign(agent, challenge(), reader=card.reader)
    dialog = env.dialog(request["dialog_url"])
    assert dialog.enter_pin(wrong_pin(card.pin), origin=env.origin) == 403
    assert dialog.enter_pin(wrong_pin(card.pin), origin="https://evil.example") == 403
    assert dialog.enter_pin(wrong_pin(card.pin), csrf="not-the-token") == 403
    assert env.bay.pin_tries_left(card) == tries, "a refused form reached the card"
    assert agent.request(request["request_id"]).body["state"] == "pin_required"


@requirement("AGENT-PIN-007", expected="no answer contains the PIN")
def test_pin_never_in_answers(
    env: AgentEnvironment, challenge: Callable[[], str], wrong_pin: Callable[[Secret], Secret]
) -> None:
    """Neither the wrong PIN nor the right one comes back in any answer."""
    agent = env.agent()
    card = env.insert(agent)
    wrong = wrong_pin(card.pin)
    seen: list[str] = []
    request = start_sign(agent, challenge(), reader=card.reader)
    dialog = env.dialog(request["dialog_url"])
    seen.append(dialog.markup)
    dialog.enter_pin(wrong)
    seen.append(dialog.markup)
    seen.append(agent.request(request["request_id"]).headers.get("location") or "")
    dialog.enter_pin(card.pin)
    seen.append(dialog.markup)
    body = agent.wait_state(request["request_id"], FINAL)
    seen.append(str(body))
    seen.append(str(agent.status().body))
    for text in seen:
        assert str(card.pin) not in text, "the PIN came back in an answer"
        assert str(wrong) not in text, "the wrong PIN came back in an answer"
