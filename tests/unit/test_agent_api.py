"""The agent's HTTP face over in-process cards: CORS, hosts, dialog forms, headers."""

from __future__ import annotations

import copy
import dataclasses
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.agent import Agent, AgentConfig, MemoryReaders
from simulator.agent.server import AgentServer
from simulator.card.card import VirtualCard
from simulator.card.store import load_card_state
from simulator.personas import get_persona

ORIGIN = "https://127.0.0.1:9443"
READER = "reader 0"


@dataclasses.dataclass
class Running:
    url: str
    readers: MemoryReaders
    agent: Agent
    card: VirtualCard


@pytest.fixture(scope="module")
def alice_state() -> Any:
    from simulator.card.issue import issue_card

    data_dir = Path(tempfile.mkdtemp(prefix="careid-agent-api-"))
    return load_card_state(issue_card("alice", data_dir=data_dir, out=data_dir / "a.json"))


@pytest.fixture
def running(alice_state: Any) -> Iterator[Running]:
    readers = MemoryReaders([READER])
    agent = Agent(AgentConfig(allowed_origins=(ORIGIN,)), readers)
    card = VirtualCard(dataclasses.replace(alice_state, pin=copy.copy(alice_state.pin)))
    with AgentServer(agent, port=0, access_log=False) as server:
        readers.insert(READER, card)
        agent.scan()
        yield Running(server.url, readers, agent, card)


def test_cors_exactly_as_the_contract(running: Running) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true",
    }
    answer = httpx.options(running.url + "/v1/sign", headers=headers)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-methods"] == "GET, POST"
    assert answer.headers["access-control-allow-headers"] == "Content-Type"
    assert answer.headers["access-control-allow-private-network"] == "true"
    assert answer.headers["vary"] == "Origin"
    refused = httpx.options(
        running.url + "/v1/sign", headers={**headers, "Origin": "https://x.example"}
    )
    assert refused.status_code == 403
    assert refused.json() == {"error": "origin_not_allowed"}
    assert not [h for h in refused.headers if h.startswith("access-control-")]


def test_other_host_is_refused(running: Running) -> None:
    """A DNS-rebinding page would name its own host: refused before anything else."""
    port = running.url.rsplit(":", 1)[1]
    answer = httpx.get(
        running.url + "/v1/status", headers={"Origin": ORIGIN, "Host": f"evil.example:{port}"}
    )
    assert answer.status_code == 403
    assert answer.json() == {"error": "host_not_allowed"}


def test_sign_dialog_and_form(running: Running) -> None:
    pin = get_persona("alice").card.pin
    origin = {"Origin": ORIGIN}
    answer = httpx.post(
        running.url + "/v1/sign", json={"challenge": secrets.token_urlsafe(20)}, headers=origin
    )
    assert answer.status_code == 202
    request = answer.json()
    assert set(request) == {"request_id", "state", "dialog_url", "error", "result"}
    page = httpx.get(request["dialog_url"])
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "Dr Alice Smith" in page.text and ORIGIN in page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    csrf = found.group(1)
    form = {"pin": pin, "csrf": csrf}
    assert httpx.post(request["dialog_url"], data=form, headers=origin).status_code == 403
    assert httpx.post(request["dialog_url"], data=form).status_code == 403  # no Origin
    own = {"Origin": running.url}
    wrong = httpx.post(request["dialog_url"], data={"pin": "000000", "csrf": csrf}, headers=own)
    assert wrong.status_code == 303
    shown = httpx.get(request["dialog_url"]).text
    assert "Incorrect PIN — 2 tries left" in shown
    done = httpx.post(request["dialog_url"], data=form, headers=own, follow_redirects=True)
    assert "PIN accepted" in done.text and pin not in done.text
    state = httpx.get(
        f"{running.url}/v1/requests/{request['request_id']}?wait=5", headers=origin
    ).json()
    assert state["state"] == "signed"
    assert pin not in str(state)


def test_bad_requests_and_docs(running: Running) -> None:
    origin = {"Origin": ORIGIN}
    for body in (b"{", b"[]", b'{"challenge": "short"}'):
        answer = httpx.post(running.url + "/v1/sign", content=body, headers=origin)
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"
    unknown = httpx.get(running.url + "/v1/requests/nope", headers=origin)
    assert unknown.status_code == 404
    spec = httpx.get(running.url + "/openapi.json").json()
    assert "/v1/sign" in spec["paths"]
    running.readers.remove(READER)
    running.agent.scan()
    gone = httpx.post(running.url + "/v1/sign", json={"challenge": "A" * 20}, headers=origin)
    assert gone.status_code == 409 and gone.json()["error"] == "no_card"
