"""Attack: framing, sniffing, downgrade and third-party script. Every answer of the provider
(JSON, errors, redirects, pages, the API docs) carries the security headers, and /docs runs
only scripts of the provider's own origin."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from conformance.oidc.reference import BASE_URL, ReferenceWorld, authorize_url

ISSUER_PATH = "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReferenceWorld:
    return ReferenceWorld.create(tmp_path_factory.mktemp("cis2-headers"))


@pytest.fixture
def http(world: ReferenceWorld) -> Iterator[TestClient]:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def requests(world: ReferenceWorld) -> list[tuple[str, str, dict[str, str] | None]]:
    issuer = world.settings.issuer
    return [
        ("GET", "/", None),
        ("GET", f"{issuer}/.well-known/openid-configuration", None),
        ("GET", f"{issuer}/connect/jwk_uri", None),
        ("GET", authorize_url(world), None),  # a redirect to the login page
        ("GET", authorize_url(world, response_type="token"), None),  # an error redirect
        ("GET", f"{issuer}/authorize?client_id=nobody", None),  # an error page
        ("POST", f"{issuer}/access_token", {"grant_type": "authorization_code"}),  # JSON error
        ("GET", f"{issuer}/userinfo", None),  # 401
        ("GET", f"{issuer}/no/such/endpoint", None),  # 404
        ("GET", f"{issuer}/connect/endSession", None),
        ("GET", f"{issuer}/static/smartcard.js", None),
        ("GET", f"{issuer}/docs", None),
        ("GET", f"{issuer}/openapi.json", None),
        ("POST", f"{issuer}/agent/session-end/nothing", {"x": "y"}),  # 400
    ]


def test_every_answer_carries_hsts_and_frame_protection(
    world: ReferenceWorld, http: TestClient
) -> None:
    missing = []
    for method, url, form in requests(world):
        answer = http.request(method, url, data=form)
        headers = answer.headers
        csp = headers.get("content-security-policy", "")
        checks = {
            "hsts": headers.get("strict-transport-security", "").startswith("max-age="),
            "frame": headers.get("x-frame-options") == "DENY" and "frame-ancestors 'none'" in csp,
            "nosniff": headers.get("x-content-type-options") == "nosniff",
            "referrer": headers.get("referrer-policy") == "same-origin",
        }
        missing += [(method, urlsplit(url).path, n) for n, ok in checks.items() if not ok]
    assert not missing, missing


def test_no_hsts_over_plain_http(tmp_path: Path) -> None:
    world = ReferenceWorld.create(tmp_path, base_url="http://127.0.0.1:9443")
    with TestClient(world.app, base_url="http://127.0.0.1:9443") as http:
        answer = http.get(f"{world.settings.issuer}/.well-known/openid-configuration")
    assert "strict-transport-security" not in answer.headers
    assert answer.headers["x-frame-options"] == "DENY"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag == "script" and not values.get("src"):
            self.inline_scripts += 1


def test_docs_use_only_the_providers_own_assets(world: ReferenceWorld, http: TestClient) -> None:
    page = http.get(f"{world.settings.issuer}/docs")
    assert page.status_code == 200
    parser = _References()
    parser.feed(page.text)
    assert parser.urls, "the docs page references no script or style"
    assert parser.inline_scripts == 0
    origin = BASE_URL
    for url in parser.urls:
        absolute = urljoin(f"{world.settings.issuer}/docs", url)
        assert absolute.startswith(origin + "/"), f"off-origin reference {url}"
        asset = http.get(absolute)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
        if url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert directives["script-src"] == "'self'"
    assert "frame-ancestors 'none'" in csp
    # The page's own scripts: the bundle and the initialiser that points it at openapi.json.
    assert any(u.endswith("swagger-ui-bundle.js") for u in parser.urls)
    init = next(u for u in parser.urls if u.endswith("docs-init.js"))
    assert "openapi.json" in http.get(urljoin(BASE_URL, init)).text


def test_an_unexpected_error_carries_the_headers_too(
    world: ReferenceWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(world.provider, "discovery", broken)
    with TestClient(world.app, base_url=BASE_URL, raise_server_exceptions=False) as http:
        answer = http.get(f"{world.settings.issuer}/.well-known/openid-configuration")
    assert answer.status_code == 500
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert answer.headers["x-frame-options"] == "DENY"


def test_the_api_document_is_one_the_packaged_swagger_ui_reads(
    world: ReferenceWorld, http: TestClient
) -> None:
    document = http.get(f"{world.settings.issuer}/openapi.json").json()
    assert document["openapi"].startswith("3.0.")  # Swagger UI 4 renders no 3.1 document
