"""Bad input never gets a 500 from either portal: random forms, queries, cookies and bodies
sent to every route (the provider is a stub that answers discovery and JWKS only)."""

from __future__ import annotations

import random
import string
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from reference_service.directory.portal import PortalCore
from reference_service.directory.server import build_app
from reference_service.directory.settings import PortalSettings
from reference_service.directory.store import Directory
from tests.unit.test_directory_store import account
from tests.unit.test_nhsmail_backchannel import CLIENT, ISSUER, provider

ROUTES = {
    "nhsmail": [
        ("GET", "/"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/login/mfa"),
        ("POST", "/login/mfa"),
        ("GET", "/portal"),
        ("GET", "/aup"),
        ("POST", "/aup"),
        ("GET", "/account/mfa"),
        ("POST", "/account/mfa"),
        ("GET", "/account/password"),
        ("POST", "/account/password"),
        ("POST", "/login/care-identity"),
        ("GET", "/oidc/callback"),
        ("POST", "/oidc/backchannel-logout"),
        ("POST", "/logout"),
        ("GET", "/signed-out"),
        ("POST", "/session/card-removed"),
        ("GET", "/static/portal.js"),
        ("GET", "/nowhere"),
        ("PUT", "/login"),
    ],
    "myidentity": [
        ("GET", "/"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/home"),
        ("GET", "/link/care-identity"),
        ("POST", "/link/care-identity"),
        ("GET", "/oidc/callback"),
        ("GET", "/link/confirm"),
        ("POST", "/link/confirm"),
        ("GET", "/link/done"),
        ("POST", "/oidc/backchannel-logout"),
        ("POST", "/logout"),
        ("GET", "/signed-out"),
    ],
}


def junk(rng: random.Random) -> str:
    alphabet = string.printable + "\u00e9\u2603\ud800\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))


@pytest.mark.parametrize("portal", ["nhsmail", "myidentity"])
def test_random_input_never_500(tmp_path: Path, portal: str) -> None:
    settings = PortalSettings(
        portal=portal,
        base_url="http://testserver",
        database=tmp_path / "d.sqlite3",
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret="s" * 32,
        ca_bundle=tmp_path / "ca.pem",
    )
    transport = httpx.MockTransport(provider)
    directory = Directory(settings.database)
    directory.put_account(account("a.user@nhs.net"))
    core = PortalCore(settings, directory, http=lambda: httpx.Client(transport=transport))
    client = TestClient(build_app(settings, core), raise_server_exceptions=False)
    rng = random.Random(portal)
    for _ in range(25):
        for method, path in ROUTES[portal]:
            keys = [
                "email",
                "password",
                "code",
                "logout_token",
                "state",
                "iss",
                "error",
                "old",
                "new",
            ]
            fields = {rng.choice(keys): junk(rng) for _ in range(rng.randint(0, 4))}
            query = "&".join(
                f"{k}={quote(junk(rng)[:50], errors='replace')}" for k in rng.sample(keys, 2)
            )
            content = rng.choice(
                [
                    "&".join(f"{k}={v}" for k, v in fields.items()).encode("utf-8", "replace"),
                    bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))),
                ]
            )
            client.cookies.set(
                f"{portal}_session",
                "".join(c for c in junk(rng)[:80] if c.isascii() and (c.isalnum() or c in "-_."))
                or "x",
            )
            answer = client.request(
                method,
                f"{path}?{query}",
                content=content,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code < 500, (method, path, answer.status_code, answer.text[:300])
