"""Every bad input of the reference provider gets its standard error (issue 6, "Bad input")."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt

from conformance.oidc.cards import b64url
from conformance.oidc.flow import sign_in
from conformance.oidc.reference import BASE_URL, ReferenceWorld, authorize_url, token_form
from reference_service.cis2.pkce import s256


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReferenceWorld:
    return ReferenceWorld.create(tmp_path_factory.mktemp("cis2-errors"))


@pytest.fixture
def http(world: ReferenceWorld) -> Iterator[TestClient]:
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def redirect_error(answer: Any) -> dict[str, str]:
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def code_for(world: ReferenceWorld, http: TestClient, rp: str = "secret", **params: str) -> str:
    result = sign_in(
        http,
        authorize_url(world, rp, **params),
        world.clients[rp].client.redirect_uris[0],
        world.card("alice"),
    )
    assert result.code
    return result.code


# -- authorization request -------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "000000000000.apps.national"},
        {"client_id": ""},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "https://rp.example.test/secret/callback/"},
        {"redirect_uri": ""},
    ],
)
def test_unknown_client_or_redirect_uri_gets_a_page_never_a_redirect(
    world: ReferenceWorld, http: TestClient, change: dict[str, str]
) -> None:
    answer = http.get(authorize_url(world, **change))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "text/html" in answer.headers["content-type"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid bogus"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"request": "eyJ.x.y"}, "request_not_supported"),
        ({"request_uri": "https://x"}, "request_uri_not_supported"),
        ({"prompt": "none"}, "login_required"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"acr_values": "AAL9_MAGIC"}, "invalid_request"),
        ({"acr_values": "AAL3_FIDO2"}, "access_denied"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_bad_authorization_requests_redirect_with_the_oauth_error(
    world: ReferenceWorld, http: TestClient, change: dict[str, str], error: str
) -> None:
    params = redirect_error(http.get(authorize_url(world, **change)))
    assert params["error"] == error
    assert params["state"] == "st-123"
    assert params["iss"] == world.settings.issuer


def test_missing_response_type_and_repeated_parameters(
    world: ReferenceWorld, http: TestClient
) -> None:
    url = authorize_url(world)
    no_type = url.replace("response_type=code&", "")
    assert redirect_error(http.get(no_type))["error"] == "invalid_request"
    assert redirect_error(http.get(url + "&scope=openid"))["error"] == "invalid_request"


def test_pkce_is_enforced_for_clients_registered_so(
    world: ReferenceWorld, http: TestClient
) -> None:
    assert redirect_error(http.get(authorize_url(world, "pkce")))["error"] == "invalid_request"


# -- token endpoint ---------------------------------------------------------------------------


def test_a_reused_code_is_refused_and_revokes_what_it_issued(
    world: ReferenceWorld, http: TestClient
) -> None:
    code = code_for(world, http)
    first = http.post(f"{world.settings.issuer}/access_token", data=token_form(world, code))
    assert first.status_code == 200
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert http.get(f"{world.settings.issuer}/userinfo", headers=bearer).status_code == 200
    second = http.post(f"{world.settings.issuer}/access_token", data=token_form(world, code))
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    revoked = http.get(f"{world.settings.issuer}/userinfo", headers=bearer)
    assert revoked.status_code == 401 and revoked.json()["error"] == "invalid_token"
    assert "invalid_token" in revoked.headers["www-authenticate"]


def test_an_expired_code_is_refused(world: ReferenceWorld, http: TestClient) -> None:
    code = code_for(world, http)
    world.clock.advance(61)
    answer = http.post(f"{world.settings.issuer}/access_token", data=token_form(world, code))
    assert answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong-secret-wrong-secret"}, 401, "invalid_client"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"client_id": None, "client_secret": None}, 401, "invalid_client"),
        ({"redirect_uri": "https://rp.example.test/other"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token"}, 400, "unsupported_grant_type"),
        ({"grant_type": None}, 400, "invalid_request"),
        ({"code": None}, 400, "invalid_request"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"code_verifier": "v" * 50}, 400, "invalid_grant"),
    ],
)
def test_bad_token_requests(
    world: ReferenceWorld,
    http: TestClient,
    change: dict[str, str | None],
    status: int,
    error: str,
) -> None:
    form = token_form(world, code_for(world, http))
    for key, value in change.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    answer = http.post(f"{world.settings.issuer}/access_token", data=form)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_code_of_another_client_and_basic_auth(world: ReferenceWorld, http: TestClient) -> None:
    code = code_for(world, http)
    other = token_form(world, code, "es256")
    other["redirect_uri"] = world.clients["secret"].client.redirect_uris[0]
    answer = http.post(f"{world.settings.issuer}/access_token", data=other)
    assert answer.json()["error"] == "invalid_grant"
    basic = http.post(
        f"{world.settings.issuer}/access_token",
        data=token_form(world, code_for(world, http)),
        headers={"Authorization": "Basic eDp5"},
    )
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")


def test_pkce_verifier_must_match(world: ReferenceWorld, http: TestClient) -> None:
    verifier = "A" * 43
    params = {"code_challenge": s256(verifier), "code_challenge_method": "S256"}
    for wrong in ("B" * 43, None):
        form = token_form(world, code_for(world, http, "pkce", **params), "pkce")
        if wrong:
            form["code_verifier"] = wrong
        answer = http.post(f"{world.settings.issuer}/access_token", data=form)
        assert answer.json()["error"] == "invalid_grant"


def test_token_endpoint_wants_a_form(world: ReferenceWorld, http: TestClient) -> None:
    answer = http.post(f"{world.settings.issuer}/access_token", json={"grant_type": "x"})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def _assertion(world: ReferenceWorld, **changes: Any) -> str:
    spec = world.clients["jwt"]
    now = int(world.clock())
    claims = {
        "iss": spec.client.client_id,
        "sub": spec.client.client_id,
        "aud": f"{world.settings.issuer}/access_token",
        "iat": now,
        "exp": now + 120,
        "jti": b64url(random.randbytes(12)),
    }
    claims.update(changes)
    assert spec.private_key is not None
    return jwt.encode({"alg": "RS256", "kid": "rp-rsa"}, claims, spec.private_key)


def test_private_key_jwt(world: ReferenceWorld, http: TestClient) -> None:
    from joserfc.jwk import RSAKey

    def attempt(assertion: str) -> Any:
        form = token_form(world, code_for(world, http, "jwt"), "jwt")
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = assertion
        return http.post(f"{world.settings.issuer}/access_token", data=form)

    good = _assertion(world)
    assert attempt(good).status_code == 200
    replay = attempt(good)
    assert replay.json() == {"error": "invalid_client", "error_description": "JWT is not valid"}
    stranger = RSAKey.generate_key(2048, private=True)
    bad = [
        _assertion(world, aud=world.settings.issuer),
        _assertion(world, exp=int(world.clock()) - 5),
        _assertion(world, sub="someone-else"),
        jwt.encode(
            {"alg": "RS256", "kid": "rp-rsa"},
            {"iss": world.clients["jwt"].client.client_id},
            stranger,
        ),
        "not.a.jwt",
    ]
    for assertion in bad:
        answer = attempt(assertion)
        assert answer.status_code == 401
        assert answer.json() == {"error": "invalid_client", "error_description": "JWT is not valid"}


# -- userinfo ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic eDp5", "Bearer "])
def test_userinfo_without_a_valid_token(
    world: ReferenceWorld, http: TestClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = http.get(f"{world.settings.issuer}/userinfo", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"


# -- smartcard answers ------------------------------------------------------------------------


def _smartcard_page(world: ReferenceWorld, http: TestClient, **params: str) -> str:
    answer = http.get(authorize_url(world, **params))
    login = str(answer.headers["location"])
    page = http.get(login)
    if page.is_redirect:
        login = str(page.headers["location"])
    return BASE_URL + login


def _challenge(http: TestClient, page: str) -> str:
    answer = http.post(page + "/challenge", json={})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["challenge"])


def _refusal(world: ReferenceWorld, http: TestClient, page: str, body: dict[str, str]) -> str:
    before = len(world.audit_events)
    answer = http.post(page, json=body)
    assert answer.status_code in (400, 403), answer.text
    code = str(answer.json()["error"])
    refusals = [e for e in world.audit_events[before:] if e["event"] == "signin_refused"]
    assert refusals and refusals[-1]["code"] == code  # every refusal leaves an audit line
    failed = http.get(page.rsplit("/", 1)[0] + f"/failed?code={code}")
    assert failed.status_code == 400 and 'id="message"' in failed.text
    return code


@pytest.mark.parametrize(
    ("persona", "code"),
    [
        ("frank", "certificate_revoked"),
        ("grace", "certificate_expired"),
        ("heidi", "certificate_untrusted"),
        ("ivan", "certificate_not_yet_valid"),
    ],
)
def test_bad_certificates_are_refused(
    world: ReferenceWorld, http: TestClient, persona: str, code: str
) -> None:
    page = _smartcard_page(world, http)
    body = world.card(persona).answer(BASE_URL, _challenge(http, page))
    assert _refusal(world, http, page, body) == code


def test_tampered_replayed_expired_and_foreign_answers(
    world: ReferenceWorld, http: TestClient
) -> None:
    card = world.card("alice")
    page = _smartcard_page(world, http)
    body = card.answer(BASE_URL, _challenge(http, page))
    signature = bytearray(body["signature"].encode())
    signature[10] = ord("A") if signature[10] != ord("A") else ord("B")
    assert _refusal(world, http, page, {**body, "signature": signature.decode()}) == (
        "signature_invalid"
    )
    assert _refusal(world, http, page, body) == "challenge_replayed"
    other_origin = card.answer("https://evil.example", _challenge(http, page))
    assert _refusal(world, http, page, other_origin) == "signature_invalid"
    late = card.answer(BASE_URL, _challenge(http, page))
    world.clock.advance(121)
    assert _refusal(world, http, page, late) == "challenge_expired"
    other_page = _smartcard_page(world, http)
    foreign = card.answer(BASE_URL, _challenge(http, other_page))
    assert _refusal(world, http, page, foreign) == "challenge_wrong_transaction"
    assert (
        _refusal(world, http, page, {"challenge": "x" * 43, "signature": "%%", "certificate": "AA"})
        == "malformed_response"
    )
    unknown = {**card.answer(BASE_URL, "y" * 43)}
    assert _refusal(world, http, page, unknown) == "challenge_unknown"


def test_inactive_user_is_refused(world: ReferenceWorld, http: TestClient) -> None:
    world.set_user_status("555000000102", "suspended")
    try:
        page = _smartcard_page(world, http)
        body = world.card("bob").answer(BASE_URL, _challenge(http, page))
        assert _refusal(world, http, page, body) == "user_not_active"
    finally:
        world.set_user_status("555000000102", "active")


def test_another_browser_cannot_use_the_transaction(
    world: ReferenceWorld, http: TestClient
) -> None:
    page = _smartcard_page(world, http)
    with TestClient(world.app, base_url=BASE_URL, follow_redirects=False) as stranger:
        answer = stranger.post(page + "/challenge", json={})
        assert answer.status_code == 400 and answer.json()["error"] == "transaction_unknown"
        assert stranger.get(page).status_code == 400


# -- nothing gets a 500 ------------------------------------------------------------------------

NAMES = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code",
    "grant_type",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "id_token_hint",
    "post_logout_redirect_uri",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "access_token",
    "mechanism",
    "uuid",
    "person_roleid",
    "q",
]


def _junk(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return ""
    if kind == 1:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 40)))
    if kind == 2:
        return "\u0000\ud7ff\u202e" + "é" * rng.randrange(5)
    if kind == 3:
        return "A" * rng.choice([43, 129, 5000, 70000])
    if kind == 4:
        return rng.choice(
            [
                "openid",
                "code",
                "S256",
                "none",
                "login",
                "AAL3_ANY",
                "9" * 12,
                "authorization_code",
                "https://rp.example.test/secret/callback",
            ]
        )
    return "eyJhbGciOiJub25lIn0." + b64url(rng.randbytes(30)) + "."


def test_fuzzed_requests_never_get_a_500(world: ReferenceWorld, http: TestClient) -> None:
    rng = random.Random(6)
    issuer = world.settings.issuer
    page = _smartcard_page(world, http)
    tx_base = page.rsplit("/", 1)[0]
    targets = [
        ("GET", f"{issuer}/authorize"),
        ("POST", f"{issuer}/authorize"),
        ("POST", f"{issuer}/access_token"),
        ("GET", f"{issuer}/userinfo"),
        ("POST", f"{issuer}/userinfo"),
        ("GET", f"{issuer}/connect/endSession"),
        ("POST", f"{issuer}/connect/endSession"),
        ("GET", tx_base),
        ("POST", tx_base),
        ("GET", f"{tx_base}/role"),
        ("POST", f"{tx_base}/role"),
        ("POST", f"{tx_base}/totp"),
        ("GET", f"{tx_base}/failed"),
        ("POST", f"{tx_base}/smartcard"),
        ("POST", f"{tx_base}/smartcard/challenge"),
        ("POST", f"{issuer}/agent/session-end/x"),
        ("GET", f"{issuer}/login/{'z' * 300}"),
    ]
    for _ in range(600):
        method, url = rng.choice(targets)
        params = [(rng.choice(NAMES), _junk(rng)) for _ in range(rng.randrange(0, 6))]
        headers = {}
        if rng.random() < 0.3:
            headers["Authorization"] = rng.choice(["Bearer ", "Bearer x", "Basic !!", "x"])
        if method == "GET":
            short = [(name, value[:6000]) for name, value in params]
            answer = http.get(url, params=short, headers=headers)
        elif rng.random() < 0.5:
            answer = http.post(url, data=dict(params), headers=headers)
        else:
            body = rng.choice([b"{", b"[]", b"\xff\xfe", b'{"challenge": 5}', b"a=%zz&b"])
            content_type = rng.choice(
                ["application/json", FORM, "text/plain", "multipart/form-data"]
            )
            answer = http.post(url, content=body, headers={**headers, "Content-Type": content_type})
        assert answer.status_code < 500, (method, url, params, answer.text[:200])


FORM = "application/x-www-form-urlencoded"
