"""Origins and CORS: only the configured sign-in origins reach the card."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import card_commands, expect_status, general_authenticates

requirement = pytest.mark.requirement
OTHER_ORIGIN = "https://evil.example"
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-private-network",
)


@requirement("AGENT-ORIGIN-001", expected="403 origin_not_allowed; no APDU, no PIN try spent")
def test_other_origin_is_refused(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """A sign request from another origin, or without an Origin, is refused before the card."""
    agent = env.agent()
    card = env.insert(agent)
    tries = env.bay.pin_tries_left(card)
    sent = len(card_commands(env))
    for origin in (OTHER_ORIGIN, "null", "http://127.0.0.1:1", ""):
        answer = agent.sign(challenge(), origin=origin or "", reader=card.reader)
        body = expect_status(answer, 403, f"POST /v1/sign from {origin or 'no origin'!r}")
        assert body == {"error": "origin_not_allowed"}, body
        status = expect_status(agent.status(origin=origin), 403, "GET /v1/status")
        assert status == {"error": "origin_not_allowed"}, status
    assert len(card_commands(env)) == sent, "a refused request sent commands to the card"
    assert general_authenticates(env) == 0, "the card signed for a refused origin"
    assert env.bay.pin_tries_left(card) == tries


@requirement("AGENT-ORIGIN-002", expected="204/200 with the exact CORS headers")
def test_preflight_from_allowed_origin(env: AgentEnvironment) -> None:
    """A preflight from the sign-in origin gets the contract's CORS headers."""
    agent = env.agent()
    answer = agent.preflight("/v1/sign", env.origin, private_network=True)
    assert answer.status in (200, 204), f"preflight answered {answer.status}"
    headers = answer.headers
    assert headers.get("access-control-allow-origin") == env.origin
    methods = {m.strip() for m in headers.get("access-control-allow-methods", "").split(",")}
    assert {"GET", "POST"} <= methods, headers.get("access-control-allow-methods")
    allowed = headers.get("access-control-allow-headers", "").lower()
    assert "content-type" in allowed, allowed
    assert headers.get("access-control-allow-private-network") == "true"
    assert "origin" in headers.get("vary", "").lower(), headers.get("vary")
    plain = agent.status()
    assert plain.headers.get("access-control-allow-origin") == env.origin
    assert "origin" in plain.headers.get("vary", "").lower()


@requirement("AGENT-ORIGIN-003", expected="403 and no Access-Control-* header")
def test_preflight_from_other_origin(env: AgentEnvironment) -> None:
    """A preflight from another origin gets 403 and no CORS headers."""
    agent = env.agent()
    for path in ("/v1/sign", "/v1/status", "/v1/events"):
        answer = agent.preflight(path, OTHER_ORIGIN, private_network=True)
        assert answer.status == 403, f"preflight of {path} from {OTHER_ORIGIN}: {answer.status}"
        present = [name for name in CORS_HEADERS if name in answer.headers]
        assert not present, f"CORS headers on a refused preflight: {present}"
    refused = agent.status(origin=OTHER_ORIGIN)
    assert "access-control-allow-origin" not in refused.headers
