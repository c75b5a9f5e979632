"""Asking the user before a logout that cannot be tied to their session.

OpenID Connect RP-Initiated Logout 1.0 section 2: the OP MUST ask the End-User whether to log
out when no id_token_hint is given or the hint does not belong to the current session; section
6: such requests are a means of denial of service (any site can send the browser to the end
session endpoint). So the endpoint answers them with a page whose form POSTs back with an
anti-CSRF token bound to the SSO session, and only that POST, from the provider's own origin,
ends the session.

The token is an HMAC of the session id keyed with the session cookie: only a page the
provider served to this browser (which holds the HttpOnly cookie) has it, and it needs no
storage. A token never reveals the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from reference_service.cis2.outcomes import Page

TOKEN_FIELD = "csrf_token"  # noqa: S105 - a form field name, not a secret
CONFIRM_FIELD = "confirm"
CARRIED = ("client_id", "post_logout_redirect_uri", "state")  # kept through the page
_PURPOSE = b"cis2-logout-confirmation:"


def is_confirmation(form: Mapping[str, str]) -> bool:
    """Whether a POST to the endpoint answers the confirmation page (not a new request)."""
    return TOKEN_FIELD in form or CONFIRM_FIELD in form


def confirmation_token(session_cookie: str, sid: str) -> str:
    mac = hmac.new(session_cookie.encode(), _PURPOSE + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_matches(session_cookie: str, sid: str, given: str | None) -> bool:
    if not given or len(given) > 100:
        return False
    return hmac.compare_digest(confirmation_token(session_cookie, sid), given)


def same_origin_post(origin: str | None, fetch_site: str | None, expected: str) -> bool:
    """A browser sends Origin with every POST; a missing one, `null` or another site's is
    refused, and so is a Sec-Fetch-Site other than same-origin (when the browser sends it)."""
    if origin is None or not hmac.compare_digest(origin, expected):
        return False
    return fetch_site is None or fetch_site == "same-origin"


def confirmation_page(action: str, token: str, carried: Mapping[str, str | None]) -> Page:
    fields = {name: value for name, value in carried.items() if value is not None}
    return Page(
        "confirm_logout.html",
        {"action": action, "token_field": TOKEN_FIELD, "token": token, "fields": fields},
    )


def still_signed_in_page() -> Page:
    return Page("still_signed_in.html", {})


def refused_page() -> Page:
    return Page(
        "error.html",
        {
            "title": "The sign-out could not be confirmed",
            "message": "This sign-out request did not come from the service's own page. You "
            "are still signed in; to sign out, use the application's sign-out button.",
            "code": "logout_not_confirmed",
        },
        403,
    )
