"""Every page and answer of both portals (each route, each method, errors and redirects too)
carries HSTS over HTTPS, frame-ancestors 'none' + X-Frame-Options, nosniff and a
Referrer-Policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from tests.unit.test_portal_sessions import client_for, make_portal


@pytest.mark.parametrize("portal", ["nhsmail", "myidentity"])
def test_every_route_carries_the_security_headers(tmp_path: Path, portal: str) -> None:
    _, app = make_portal(tmp_path, portal)
    client = client_for(app, portal)
    calls = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]
    calls += [("GET", "/nowhere"), ("PUT", "/login"), ("POST", "/login")]
    assert len(calls) > 10
    for method, path in calls:
        answer = client.request(method, path, headers={"Origin": "https://evil.example"})
        headers = answer.headers
        where = (method, path, answer.status_code)
        assert headers.get("strict-transport-security", "").startswith("max-age="), where
        assert headers.get("x-frame-options") == "DENY", where
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
        assert headers.get("x-content-type-options") == "nosniff", where
        assert headers.get("referrer-policy") == "same-origin", where
