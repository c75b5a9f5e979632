"""A headless browser at the portals, shared by the portal tests and the load flows.

One cookie jar (the `httpx.Client` it is given: plain, or timed by the load suites),
redirects followed by hand, and posts as a browser makes them from the portal's own page: with
its `Origin` and the anti-CSRF token of the last page it saw of that portal (its forms'
hidden `csrf_token` field; the portals refuse a post of a session without it). At the provider
it is `conformance.oidc.flow.sign_in`, with whatever answers the smartcard challenge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.oidc.drivers import follow
from conformance.oidc.flow import FlowError, FlowResult, Signer, sign_in

CSRF_FIELD = "csrf_token"
_CSRF = re.compile(r'name="csrf_token" value="([A-Za-z0-9_\-]{16,200})"')


class PortalClient:
    def __init__(self, http: httpx.Client, origins: Mapping[str, str]) -> None:
        self.http = http
        self.origins = dict(origins)  # portal name -> https://host:port
        self.csrf: dict[str, str] = {}  # portal name -> the token of its last page seen

    def url(self, portal: str, path: str = "/") -> str:
        return self.origins[portal] + path

    def follow(self, answer: httpx.Response) -> httpx.Response:
        page = follow(self.http, answer, lambda _: False)[0]
        self._remember(page)
        return page

    def _remember(self, page: httpx.Response) -> None:
        """Keep the anti-CSRF token a portal page carries, as its forms would post it."""
        parts = urlsplit(str(page.url))
        origin = f"{parts.scheme}://{parts.netloc}"
        for portal, own in self.origins.items():
            if own == origin:
                found = (
                    _CSRF.search(page.text)
                    if "text/html" in page.headers.get("content-type", "")
                    else None
                )
                if found:
                    self.csrf[portal] = found.group(1)

    def get(self, portal: str, path: str) -> httpx.Response:
        return self.follow(self.http.get(self.url(portal, path)))

    def post(
        self, portal: str, path: str, data: dict[str, str] | None = None, *, follow: bool = True
    ) -> httpx.Response:
        form = dict(data or {})
        if portal in self.csrf:
            form.setdefault(CSRF_FIELD, self.csrf[portal])
        answer = self.http.post(
            self.url(portal, path), data=form, headers={"Origin": self.origins[portal]}
        )
        return self.follow(answer) if follow else answer

    def through_provider(
        self,
        portal: str,
        start: httpx.Response,
        signer: Signer | None,
        *,
        mechanism: str = "smartcard",
    ) -> tuple[FlowResult, httpx.Response]:
        """From the portal's redirect to the provider: sign in there, come back to the portal."""
        if not start.is_redirect:
            raise FlowError(f"{portal}: no redirect to the provider ({start.status_code})")
        authorize = urljoin(str(start.url), start.headers["location"])
        result = sign_in(
            self.http, authorize, self.url(portal, "/oidc/callback"), signer, mechanism=mechanism
        )
        return result, self.follow(self.http.get(result.url))

    def close(self) -> None:
        self.http.close()
