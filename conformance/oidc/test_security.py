"""Frame protection of the login pages and HSTS on every answer."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conformance.oidc.rp import RelyingParty
from conformance.web_checks import frame_protected, warn_unmet


def _login_page(rp: RelyingParty, http: httpx.Client) -> httpx.Response:
    """The first page the authorization request leads to on the provider's own host."""
    url, _ = rp.authorize_url(prompt="login")
    host = urlsplit(url).netloc
    answer = http.get(url)
    for _ in range(8):
        if not answer.is_redirect:
            return answer
        location = urljoin(str(answer.url), answer.headers["location"])
        if urlsplit(location).netloc != host:
            break
        answer = http.get(location)
    pytest.fail(f"the authorization request led to no login page: {answer.status_code}")


@pytest.mark.requirement("OIDC-SEC-001")
def test_login_pages_cannot_be_framed(rp: RelyingParty) -> None:
    """The login page forbids framing by other sites (X-Frame-Options or frame-ancestors)."""
    with rp.provider.http() as http:
        page = _login_page(rp, http)
    assert page.status_code == 200, f"login page: {page.status_code}"
    assert frame_protected(page.headers, same_origin_allowed=True), (
        "the login page can be framed by any site: no X-Frame-Options DENY/SAMEORIGIN and no "
        f"CSP frame-ancestors (got {dict(page.headers)})"
    )


@pytest.mark.requirement("CIS2-SEC-001")
def test_https_answers_carry_hsts(rp: RelyingParty) -> None:
    """Discovery, JWKS, the login page, a token error and a userinfo error carry HSTS."""
    if not rp.discovery["issuer"].startswith("https://"):
        pytest.skip("the issuer is not an https URL")
    lacking = []
    with rp.provider.http() as http:
        answers = {
            "discovery": http.get(
                rp.discovery["issuer"].rstrip("/") + "/.well-known/openid-configuration"
            ),
            "jwks": http.get(rp.endpoint("jwks_uri")),
            "login page": _login_page(rp, http),
            "token error": http.post(rp.endpoint("token_endpoint"), data={"grant_type": "x"}),
            "userinfo error": http.get(rp.endpoint("userinfo_endpoint")),
        }
        for name, answer in answers.items():
            value = answer.headers.get("strict-transport-security", "")
            if not value.lower().lstrip().startswith("max-age=") or "max-age=0" in value:
                lacking.append(name)
    if lacking:
        warn_unmet(f"no Strict-Transport-Security on: {', '.join(lacking)}")
