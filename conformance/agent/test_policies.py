"""Removal policies: legacy (PIN once per insertion, removal ends the session) and connect
(PIN per new origin, removal ends nothing)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from conformance.agent.client import AgentClient
from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import FINAL, check_signature, expect_status, start_sign
from conformance.agent.targets import InsertedCard
from simulator.agent import Policy

requirement = pytest.mark.requirement
NO_CALL_WAIT = 2.0  # seconds the connect test waits to be sure no session-end call comes


def _sign_with_dialog(
    env: AgentEnvironment, agent: AgentClient, card: InsertedCard, text: str, **fields: object
) -> dict[str, Any]:
    request = start_sign(agent, text, reader=card.reader, **fields)
    env.dialog(request["dialog_url"]).enter_pin(card.pin)
    body = agent.wait_state(request["request_id"], FINAL)
    assert body["state"] == "signed", body
    return dict(body)


@requirement("AGENT-POLICY-001", expected="2nd request 200 signed; after re-insertion 202 again")
def test_legacy_pin_once_per_insertion(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Legacy: once the PIN is given, the card signs until it is pulled out."""
    agent = env.agent(policy=Policy.LEGACY)
    card = env.insert(agent)
    _sign_with_dialog(env, agent, card, challenge())
    text = challenge()
    second = expect_status(agent.sign(text, reader=card.reader), 200, "second request")
    assert second["state"] == "signed", second
    check_signature(second["result"], env.origin, text)
    if env.second_origin:
        other = env.agent(policy=Policy.LEGACY, origin=env.second_origin)
        third = expect_status(other.sign(challenge(), reader=card.reader), 200, "other origin")
        assert third["state"] == "signed", "legacy: one PIN per insertion, whatever the origin"
    env.remove(agent, card)
    card = env.insert(agent)
    start_sign(agent, challenge(), reader=card.reader)  # 202: the PIN is asked again


@requirement("AGENT-POLICY-002", expected="one POST {reason: card_removed, uuid, request_id}")
def test_legacy_removal_ends_session(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Legacy: pulling the card calls the session-end URL of the request it signed."""
    agent = env.agent(policy=Policy.LEGACY)
    card = env.insert(agent)
    name = secrets.token_hex(8)
    body = _sign_with_dialog(
        env, agent, card, challenge(), session_end_url=env.site.session_end_url(name)
    )
    assert env.site.calls_to(name) == [], "no session-end call before the card is pulled"
    env.remove(agent, card)
    call = env.site.wait_for_call(name, timeout=10)
    assert call is not None, "no session-end call after the card was pulled"
    assert call.body == {
        "reason": "card_removed",
        "uuid": card.uuid,
        "request_id": body["request_id"],
    }, call.body
    env.site.wait_for_call(secrets.token_hex(4), timeout=0.5)  # give a duplicate time to come
    assert len(env.site.calls_to(name)) == 1, "the session end is called once"


@requirement("AGENT-POLICY-003", expected="a new origin gets 202 pin_required again")
def test_connect_pin_per_origin(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Connect: each new sign-in origin asks for the PIN again."""
    if env.second_origin is None:
        pytest.skip("needs a second allowed origin: give --careid-agent-origin twice")
    agent = env.agent(policy=Policy.CONNECT)
    card = env.insert(agent)
    _sign_with_dialog(env, agent, card, challenge())
    other = env.agent(policy=Policy.CONNECT, origin=env.second_origin)
    request = start_sign(other, challenge(), reader=card.reader)
    env.dialog(request["dialog_url"]).enter_pin(card.pin)
    body = other.wait_state(request["request_id"], FINAL)
    assert body["state"] == "signed", body
    assert body["result"]["origin"] == env.second_origin


@requirement("AGENT-POLICY-004", expected="no session-end call within 2 s of the removal")
def test_connect_removal_ends_nothing(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Connect: pulling the card calls no session-end URL."""
    agent = env.agent(policy=Policy.CONNECT)
    card = env.insert(agent)
    name = secrets.token_hex(8)
    _sign_with_dialog(env, agent, card, challenge(), session_end_url=env.site.session_end_url(name))
    env.remove(agent, card)
    assert env.site.wait_for_call(name, timeout=NO_CALL_WAIT) is None, "connect ended a session"
