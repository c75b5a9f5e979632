"""What the agent's origin lets other sites do: run their script on its pages (never), frame
or sniff its answers (it should forbid both)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import start_sign
from conformance.web_checks import frame_protected, warn_unmet

requirement = pytest.mark.requirement


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "script":
            self.scripts.append(dict(attrs))


def _scripts(markup: str) -> list[dict[str, str | None]]:
    parser = _Scripts()
    parser.feed(markup)
    return parser.scripts


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _foreign_scripts(page: httpx.Response) -> list[str]:
    own = _origin(str(page.url))
    return [
        src
        for script in _scripts(page.text)
        if (src := script.get("src")) and _origin(urljoin(str(page.url), src)) != own
    ]


@requirement("AGENT-API-002", expected="every <script> of the dialog (and /docs) same-origin")
def test_pages_load_no_foreign_script(env: AgentEnvironment, challenge: Callable[[], str]) -> None:
    """The PIN dialog, and the docs page if the agent serves one, load no script from
    another origin (such a script could read the PIN or make the card sign)."""
    agent = env.agent()
    card = env.insert(agent)
    request = start_sign(agent, challenge(), reader=card.reader)
    with httpx.Client(timeout=10, follow_redirects=True) as http:
        page = http.get(request["dialog_url"])
        assert page.status_code == 200, f"dialog page: {page.status_code}"
        foreign = _foreign_scripts(page)
        assert not foreign, f"the PIN dialog loads script from another origin: {foreign}"
        docs = http.get(agent.url + "/docs")
        if docs.status_code == 200 and "html" in docs.headers.get("content-type", ""):
            foreign = _foreign_scripts(docs)
            assert not foreign, f"/docs loads script from another origin: {foreign}"


@requirement(
    "AGENT-API-003",
    expected="nosniff and frame-ancestors 'none' or X-Frame-Options DENY on every answer",
)
def test_every_answer_forbids_framing_and_sniffing(
    env: AgentEnvironment, challenge: Callable[[], str]
) -> None:
    """Status, sign errors, refusals, a preflight, 404s and the dialog page carry nosniff and
    frame protection; the dialog's inline scripts carry its CSP nonce (WARNING otherwise)."""
    agent = env.agent()
    card = env.insert(agent)
    request = start_sign(agent, challenge(), reader=card.reader)
    origin = {"Origin": env.origin}
    http = agent.http
    answers = {
        "status": http.get("/v1/status", headers=origin),
        "refused origin": http.get("/v1/status", headers={"Origin": "https://evil.example"}),
        "preflight": http.options(
            "/v1/sign", headers={**origin, "Access-Control-Request-Method": "POST"}
        ),
        "bad sign body": http.post("/v1/sign", content=b"{", headers=origin),
        "unknown request": http.get("/v1/requests/no-such-request", headers=origin),
        "request": http.get(f"/v1/requests/{request['request_id']}", headers=origin),
        "unknown path": http.get("/no-such-path"),
        "dialog page": httpx.get(request["dialog_url"], timeout=10),
    }
    lacking = []
    for name, answer in answers.items():
        missing = []
        if answer.headers.get("x-content-type-options", "").strip().lower() != "nosniff":
            missing.append("nosniff")
        if not frame_protected(answer.headers, same_origin_allowed=False):
            missing.append("frame protection")
        if missing:
            lacking.append(f"{name} ({answer.status_code}): {', '.join(missing)}")
    page = answers["dialog page"]
    nonces = re.findall(r"'nonce-([^']+)'", page.headers.get("content-security-policy", ""))
    unguarded = [
        s for s in _scripts(page.text) if not s.get("src") and s.get("nonce") not in nonces
    ]
    if unguarded:
        lacking.append(f"dialog page: {len(unguarded)} inline script(s) without the CSP nonce")
    if lacking:
        warn_unmet("; ".join(lacking))
