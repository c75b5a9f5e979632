"""Forged Confirm posts (cross-site request forgery) at the linking confirmation page.

While the browser waits at My Identity Portal's confirmation page (its Care Identity sign-in
done), posts of Confirm are sent with the browser's own cookies but not from the page: one
from another site (a foreign `Origin`, `Sec-Fetch-Site: cross-site`), one with no `Origin` at
all; neither carries the page's anti-CSRF token. Each must be refused (a 4xx, not a redirect
on to success) and the account must show no linked card afterwards. The cookies are sent
whatever their SameSite attribute (Playwright's request context of the browser context), so
the portal's own checks are what is tested: OWASP CSRF Prevention Cheat Sheet (synchronizer
token; verifying the origin with standard headers), RFC 6454 `Origin`, Fetch Metadata.
"""

from __future__ import annotations

from playwright.sync_api import Page

from conformance.journeys.conftest import JourneyStack

FORGERIES = {
    "cross-site": {"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"},
    "no Origin": {},
}


def forged_confirms_are_refused(stack: JourneyStack, page: Page) -> None:
    """Both forgeries refused and nothing linked; the page stays where it was."""
    confirm = stack.url("myidentity", "/link/confirm")
    for name, headers in FORGERIES.items():
        answer = page.context.request.post(
            confirm, headers=headers, form={"confirm": "Confirm"}, max_redirects=0
        )
        assert 400 <= answer.status < 500, f"a {name} Confirm was answered {answer.status}"
        home = page.context.request.get(stack.url("myidentity", "/home"))
        assert 'id="linked"' not in home.text(), f"a {name} Confirm linked the card"
