"""Headless PINs: off unless the agent was started with a PINs file."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import check_signature, expect_status

requirement = pytest.mark.requirement


@requirement("AGENT-HEADLESS-001", expected="headless false by default; with a file 200 signed")
def test_headless_off_by_default(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """Without a PINs file the status says headless false and the PIN goes to the dialog."""
    agent = env.agent()
    status = agent.status().body
    assert status.get("headless") in (False, None), "headless PINs must be off by default"
    card = env.insert(agent)
    answer = expect_status(agent.sign(challenge(), reader=card.reader), 202, "no headless PIN")
    assert answer["state"] == "pin_required"
    for path in ("/v1/headless", "/v1/config"):
        turned = agent.http.post(path, json={"headless": True}, headers={"Origin": env.origin})
        assert turned.status_code >= 400, f"{path} must not exist"
    assert agent.status().body.get("headless") in (False, None)


@requirement("AGENT-HEADLESS-001")
def test_headless_signs_at_once(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """With headless PINs, a request that needs the PIN is signed at once (200)."""
    agent = env.agent(headless=True)
    assert agent.status().body.get("headless") is True
    card = env.insert(agent)
    text = challenge()
    body = expect_status(agent.sign(text, reader=card.reader), 200, "headless sign")
    assert body["state"] == "signed", body
    check_signature(body["result"], env.origin, text)
