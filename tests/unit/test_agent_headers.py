"""Every answer of the agent (routes, errors, refusals, preflights, 404, 405, 500) carries
nosniff, a referrer policy and frame protection; no page of it loads third-party script."""

from __future__ import annotations

import copy
import dataclasses
import re
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from simulator.agent import Agent, AgentConfig, MemoryReaders
from simulator.agent.server import AgentServer
from simulator.card.card import VirtualCard
from simulator.card.store import load_card_state

ORIGIN = "https://127.0.0.1:9443"
READER = "reader 0"


@pytest.fixture(scope="module")
def alice_state() -> Any:
    from simulator.card.issue import issue_card

    data_dir = Path(tempfile.mkdtemp(prefix="careid-agent-headers-"))
    return load_card_state(issue_card("alice", data_dir=data_dir, out=data_dir / "a.json"))


@pytest.fixture
def server(alice_state: Any) -> Iterator[AgentServer]:
    readers = MemoryReaders([READER])
    agent = Agent(AgentConfig(allowed_origins=(ORIGIN,)), readers)
    with AgentServer(agent, port=0, access_log=False) as running:
        readers.insert(
            READER, VirtualCard(dataclasses.replace(alice_state, pin=copy.copy(alice_state.pin)))
        )
        agent.scan()
        yield running


def assert_protected(answer: httpx.Response, what: str) -> None:
    headers = answer.headers
    assert headers.get("x-content-type-options") == "nosniff", f"{what}: no nosniff"
    assert headers.get("x-frame-options") == "DENY", f"{what}: no X-Frame-Options DENY"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), (
        f"{what}: no CSP frame-ancestors 'none'"
    )
    assert headers.get("referrer-policy") in ("no-referrer", "same-origin"), f"{what}: referrer"
    assert "strict-transport-security" not in headers, f"{what}: HSTS is meaningless over HTTP"


def test_every_route_and_error_carries_the_headers(server: AgentServer) -> None:
    """Attack: look for one answer of the agent a hostile page could frame or sniff."""
    http = httpx.Client(base_url=server.url, timeout=10)
    sign = http.post("/v1/sign", json={"challenge": "Q" * 24}, headers={"Origin": ORIGIN})
    request_id = sign.json()["request_id"]
    seen = 0
    for route in server.app.routes:
        if not isinstance(route, (APIRoute, Route)):
            continue
        path = re.sub(r"\{request_id\}", request_id, route.path)
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            for origin in (ORIGIN, server.url, "https://evil.example"):
                if route.path == "/v1/events" and origin == ORIGIN:
                    with http.stream(method, path, headers={"Origin": origin}) as answer:
                        assert_protected(answer, f"{method} {path} from {origin}")
                    continue
                answer = http.request(method, path, headers={"Origin": origin})
                assert_protected(answer, f"{method} {path} ({answer.status_code}) from {origin}")
                seen += 1
    assert seen >= 20
    others = {
        "404": http.get("/nope"),
        "unknown request": http.get("/v1/requests/nope", headers={"Origin": ORIGIN}),
        "405": http.put("/v1/sign", headers={"Origin": ORIGIN}),
        "405 dialog": http.delete(f"/pin/{request_id}"),
        "preflight": http.options(
            "/v1/sign", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        ),
        "refused preflight": http.options("/v1/sign", headers={"Origin": "https://x.example"}),
        "other host": http.get("/v1/status", headers={"Origin": ORIGIN, "Host": "evil.example"}),
        "bad body": http.post("/v1/sign", content=b"{", headers={"Origin": ORIGIN}),
        "openapi": http.get("/openapi.json"),
    }
    assert others["405"].status_code == 405 and others["preflight"].status_code == 204
    for what, answer in others.items():
        assert_protected(answer, f"{what} ({answer.status_code})")
    # JSON answers get the strict policy; the dialog keeps its own nonce policy.
    assert others["openapi"].headers["content-security-policy"].startswith("default-src 'none'")
    page = http.get(f"/pin/{request_id}")
    assert "nonce-" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "same-origin"


def test_a_crash_answer_carries_the_headers(
    server: AgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.agent, "status", broken)
    answer = httpx.get(server.url + "/v1/status", headers={"Origin": ORIGIN})
    assert answer.status_code == 500
    assert_protected(answer, "500")


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def test_no_third_party_script_and_no_swagger(server: AgentServer) -> None:
    """Attack: a CDN script on the agent's origin could ask the card to sign. /docs and
    /redoc (Swagger UI and ReDoc from a CDN) are off; the OpenAPI document stays."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 404, f"{path} answers {answer.status_code}"
        assert "cdn.jsdelivr.net" not in answer.text
    assert "/v1/sign" in httpx.get(server.url + "/openapi.json").json()["paths"]
    sign = httpx.post(
        server.url + "/v1/sign", json={"challenge": "Q" * 24}, headers={"Origin": ORIGIN}
    ).json()
    page = httpx.get(sign["dialog_url"])
    parser = _Scripts()
    parser.feed(page.text)
    assert parser.scripts, "the dialog has its script"
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    for script in parser.scripts:
        src = script.get("src")
        assert src is None or src.startswith("/"), f"script from elsewhere: {src}"
        assert script.get("nonce") == nonce.group(1)
