"""Back-channel logout tokens at the portal: signature (provider JWKS), iss, aud, age, jti
replay, the events claim, no nonce; a good one closes the sessions of its `sid`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from reference_service.directory.portal import PortalCore
from reference_service.directory.relying_party import LOGOUT_EVENT, RelyingPartyError
from reference_service.directory.settings import PortalSettings
from reference_service.directory.store import Directory

ISSUER = "https://op.test/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
CLIENT = "123456789012.apps.national"
KEY = RSAKey.generate_key(2048, parameters={"kid": "op-1"}, private=True)
OTHER = RSAKey.generate_key(2048, parameters={"kid": "op-1"}, private=True)


def provider(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/.well-known/openid-configuration"):
        return httpx.Response(
            200,
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/access_token",
                "userinfo_endpoint": f"{ISSUER}/userinfo",
                "jwks_uri": f"{ISSUER}/connect/jwk_uri",
                "end_session_endpoint": f"{ISSUER}/connect/endSession",
            },
        )
    if request.url.path.endswith("/connect/jwk_uri"):
        return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
    return httpx.Response(404)


def make_core(tmp_path: Path) -> PortalCore:
    settings = PortalSettings(
        portal="nhsmail",
        base_url="https://127.0.0.1:9444",
        database=tmp_path / "d.sqlite3",
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret="s" * 32,
        ca_bundle=tmp_path / "ca.pem",
    )
    transport = httpx.MockTransport(provider)
    return PortalCore(
        settings, Directory(settings.database), http=lambda: httpx.Client(transport=transport)
    )


def token(key: RSAKey = KEY, header: dict[str, Any] | None = None, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 120,
        "jti": f"jti-{time.monotonic_ns()}",
        "sub": "555000000101",
        "sid": "sid-1",
        "events": {LOGOUT_EVENT: {}},
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(header or {"alg": "RS256", "kid": "op-1", "typ": "logout+jwt"}, claims, key)


@pytest.fixture
def core(tmp_path: Path) -> PortalCore:
    return make_core(tmp_path)


def test_a_good_token_closes_the_sessions_of_its_sid(core: PortalCore) -> None:
    mine = core.new_session({"stage": "signed_in"})
    core.directory.update_session(mine, email="a@nhs.net", uuid="555000000101", sid="sid-1")
    other = core.new_session({"stage": "signed_in"})
    core.directory.update_session(other, email="a@nhs.net", uuid="555000000101", sid="sid-2")
    assert core.backchannel_logout(token()) == 1
    assert core.session(mine) is None and core.session(other) is not None
    assert core.backchannel_logout(token(sid=None)) == 1  # sub only: every session of the user
    assert core.session(other) is None


def test_replayed_jti_is_refused(core: PortalCore) -> None:
    once = token(jti="same")
    core.backchannel_logout(once)
    with pytest.raises(RelyingPartyError, match="logout_token_replayed"):
        core.backchannel_logout(once)


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"iat": int(time.time()) - 3600},
        {"iat": int(time.time()) + 3600},
        {"exp": int(time.time()) - 3600},
        {"events": None},
        {"events": {"http://other/event": {}}},
        {"events": {LOGOUT_EVENT: "yes"}},
        {"nonce": "n"},
        {"sub": None, "sid": None},
        {"jti": None},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())[:40],
)
def test_bad_claims_are_refused(core: PortalCore, changes: dict[str, Any]) -> None:
    with pytest.raises(RelyingPartyError, match="logout_token_invalid"):
        core.backchannel_logout(token(**changes))


def test_bad_signatures_are_refused(core: PortalCore) -> None:
    forged = token(OTHER)
    with pytest.raises(RelyingPartyError, match="token_invalid"):
        core.backchannel_logout(forged)
    good = token()
    head, body, sig = good.split(".")
    with pytest.raises(RelyingPartyError, match="token_invalid"):
        core.backchannel_logout(f"{head}.{body}.{sig[:-4]}AAAA")
    unsigned = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."  # {"alg": "none"}
    with pytest.raises(RelyingPartyError, match="token_invalid"):
        core.backchannel_logout(unsigned)
