"""The headless sign-in: the smartcard flow of the reference provider over plain HTTPS.

It does what the smartcard page's script and the agent do together (docs/signin-protocol.md),
with a `CardSigner` in place of the agent: follow `/authorize` to the login pages, choose the
smartcard when the chooser appears, fetch a challenge, have the card sign it, post the answer,
pick a role when asked, and stop at the relying party's redirect URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

MAX_HOPS = 12


class Signer(Protocol):
    def answer(self, origin: str, challenge: str) -> dict[str, str]: ...


@dataclass
class FlowResult:
    """Where the browser ended: the relying party's redirect with its query parameters."""

    url: str
    params: dict[str, str]
    pages: list[str] = field(default_factory=list)
    session_end_url: str | None = None

    @property
    def code(self) -> str | None:
        return self.params.get("code")


class FlowError(AssertionError):
    """The provider answered something the flow did not expect."""


def query_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(
    http: httpx.Client,
    authorize_url: str,
    redirect_uri: str,
    signer: Signer | None,
    *,
    mechanism: str = "smartcard",
    role: str | None = None,
    totp: tuple[str, str] | None = None,
) -> FlowResult:
    """Run the browser side from `authorize_url` to the redirect back to `redirect_uri`."""
    pages: list[str] = []
    url = authorize_url
    session_end_url = None
    answer = http.get(url)
    for _ in range(MAX_HOPS):
        if answer.is_redirect:
            url = urljoin(str(answer.url), answer.headers["location"])
            if url.startswith(redirect_uri):
                return FlowResult(url, query_params(url), pages, session_end_url)
            answer = http.get(url)
            continue
        path = urlsplit(str(answer.url)).path
        if answer.status_code != 200:
            raise FlowError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        pages.append(path.rsplit("/", 1)[-1])
        if path.endswith("/smartcard"):
            if signer is None:
                raise FlowError("the smartcard page appeared but no card was given")
            base = str(answer.url)
            issued = http.post(base + "/challenge", json={})
            if issued.status_code != 200:
                raise FlowError(f"challenge: {issued.status_code} {issued.text[:200]}")
            challenge: dict[str, Any] = issued.json()
            session_end_url = challenge.get("session_end_url")
            body = signer.answer(_origin(base), challenge["challenge"])
            done = http.post(base, json=body)
            if done.status_code != 200:
                raise FlowError(f"smartcard: {done.status_code} {done.text[:300]}")
            url = urljoin(base, done.json()["redirect"])
            if url.startswith(redirect_uri):
                return FlowResult(url, query_params(url), pages, session_end_url)
            answer = http.get(url)
        elif path.endswith("/totp"):
            if totp is None:
                raise FlowError("the authenticator-app page appeared but no code was given")
            answer = http.post(str(answer.url), data={"uuid": totp[0], "code": totp[1]})
        elif path.endswith("/role"):
            choices = re.findall(r'name="person_roleid" value="([0-9]+)"', answer.text)
            if not choices:
                raise FlowError("the role page lists no role")
            answer = http.post(str(answer.url), data={"person_roleid": role or choices[0]})
        elif 'name="mechanism"' in answer.text:
            answer = http.post(str(answer.url), data={"mechanism": mechanism})
        else:
            raise FlowError(f"unexpected page {path}: {answer.text[:300]}")
    raise FlowError("too many steps")
