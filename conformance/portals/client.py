"""A headless browser at the portals, shared by the portal tests and the load flows.

One cookie jar (the `httpx.Client` it is given: plain, or timed by the load suites),
redirects followed by hand, and posts that carry the page's own `Origin` (the portals refuse
cross-origin posts). At the provider it is `conformance.oidc.flow.sign_in`, with whatever
answers the smartcard challenge.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin

import httpx

from conformance.oidc.drivers import follow
from conformance.oidc.flow import FlowError, FlowResult, Signer, sign_in


class PortalClient:
    def __init__(self, http: httpx.Client, origins: Mapping[str, str]) -> None:
        self.http = http
        self.origins = dict(origins)  # portal name -> https://host:port

    def url(self, portal: str, path: str = "/") -> str:
        return self.origins[portal] + path

    def follow(self, answer: httpx.Response) -> httpx.Response:
        return follow(self.http, answer, lambda _: False)[0]

    def get(self, portal: str, path: str) -> httpx.Response:
        return self.follow(self.http.get(self.url(portal, path)))

    def post(
        self, portal: str, path: str, data: dict[str, str] | None = None, *, follow: bool = True
    ) -> httpx.Response:
        answer = self.http.post(
            self.url(portal, path), data=data or {}, headers={"Origin": self.origins[portal]}
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
