"""Reader and card status, the event stream, the API's documentation."""

from __future__ import annotations

import pytest

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import expect_status

requirement = pytest.mark.requirement


@requirement("AGENT-STATUS-001", expected="card null when empty; uuid, name, serial, label")
def test_status_card_present_and_absent(env: AgentEnvironment) -> None:
    """The status shows each reader empty, then with the card and who it belongs to."""
    agent = env.agent()
    status = expect_status(agent.status(), 200, "GET /v1/status")
    assert status["agent"], "the agent names itself"
    assert isinstance(status["version"], str) and status["version"]
    assert status["policy"] in ("legacy", "connect")
    names = {reader["name"]: reader for reader in status["readers"]}
    for reader in env.bay.readers:
        assert reader in names, f"reader {reader!r} missing from {sorted(names)}"
        assert names[reader]["card"] is None, f"{reader} should be empty"
    card = env.insert(agent)
    status = agent.status().body
    entry = next(r for r in status["readers"] if r["name"] == card.reader)["card"]
    assert entry["uuid"] == card.uuid
    assert entry["name"], "the card holder's name"
    assert entry["serial"], "the card number"
    assert entry["label"], "the PIV application label"
    env.remove(agent, card)
    status = agent.status().body
    assert next(r for r in status["readers"] if r["name"] == card.reader)["card"] is None


@requirement("AGENT-EVENT-001", expected="ready, card-inserted {reader, uuid}, card-removed")
def test_event_stream(env: AgentEnvironment) -> None:
    """Insertion and removal come over the event stream, after `ready`."""
    agent = env.agent()
    with agent.events() as stream:
        event, data = stream.next()
        assert event == "ready", f"first event {event!r}"
        assert "readers" in data, "ready carries the status"
        card = env.bay.insert("alice", 0)
        event, data = stream.next()
        assert event == "card-inserted", f"expected card-inserted, got {event!r}"
        assert data == {"reader": card.reader, "uuid": card.uuid}, data
        env.bay.remove(card)
        event, data = stream.next()
        assert event == "card-removed", f"expected card-removed, got {event!r}"
        assert data["reader"] == card.reader
        assert data.get("uuid") in (card.uuid, None)


@requirement("AGENT-EVENT-001")
def test_event_stream_needs_allowed_origin(env: AgentEnvironment) -> None:
    """The event stream is refused to other origins like every /v1 path."""
    agent = env.agent()
    answer = agent.http.get("/v1/events", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403


@requirement("AGENT-API-001", expected="/openapi.json lists /v1/status, /v1/sign, ...")
def test_api_is_documented(env: AgentEnvironment) -> None:
    """The HTTP API is documented by the agent itself (an OpenAPI document; no docs page is
    asked for: Swagger-style pages load script an agent's origin should not run)."""
    agent = env.agent()
    spec = agent.http.get("/openapi.json")
    assert spec.status_code == 200, spec.status_code
    paths = spec.json().get("paths", {})
    for path in ("/v1/status", "/v1/sign", "/v1/requests/{request_id}", "/v1/events"):
        assert path in paths, f"{path} not documented"
