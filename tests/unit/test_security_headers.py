"""Every answer of a service carries the security headers, whatever made it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from reference_service.common.security_headers import STRICT_CSP, SecurityHeaders


def app(*, secure: bool) -> FastAPI:
    api = FastAPI(docs_url=None, openapi_url=None)

    @api.get("/json")
    def json_answer() -> dict[str, str]:
        return {"ok": "yes"}

    @api.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    api.add_middleware(SecurityHeaders, secure=secure)
    return api


def test_json_errors_and_pages_all_carry_the_headers_over_https() -> None:
    client = TestClient(app(secure=True))
    for path in ("/json", "/page", "/missing"):
        headers = client.get(path).headers
        assert headers["strict-transport-security"].startswith("max-age=")
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
    assert client.get("/json").headers["content-security-policy"] == STRICT_CSP
    assert client.get("/page").headers["content-security-policy"] == "default-src 'self'"


def test_no_hsts_over_plain_http() -> None:
    assert "strict-transport-security" not in TestClient(app(secure=False)).get("/json").headers
