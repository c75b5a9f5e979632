"""Login drivers: how the suite's headless client signs a user in at the provider under test.

The suite does the relying party's side itself (authorization requests, token requests, ID
token checks); the user's side differs per provider, so it is a pluggable *driver*:
`--careid-oidc-login-driver module:callable`, where the callable takes a `DriverContext` and
returns an object with

* `sign_in(http, authorize_url, redirect_uri) -> FlowResult`: start at the authorization URL,
  do whatever the provider's login pages ask, and stop at the redirect to `redirect_uri`
  (without requesting it); `FlowResult.pages` names the pages the user saw;
* `confirm_logout(http, answer) -> httpx.Response`: given the end-session endpoint's answer,
  confirm the logout when the provider asks, and return the final answer (a redirect or a
  page).
* optionally `totp_sign_in(http, authorize_url, redirect_uri, user, code) -> FlowResult`:
  sign in with an authenticator-app code, raising `FlowError` when the provider refuses it
  (CIS2-TOTP-001 is skipped for a driver without it).

Two drivers come with the harness: `smartcard` (the reference provider: a virtual card signs
the challenge, as the Identity Agent would) and `dev_interactions` (a provider whose login is a
plain HTML form taking any login name and password, then a consent form, such as
node-oidc-provider's development interactions).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.oidc.flow import MAX_HOPS, FlowError, FlowResult, query_params
from conformance.oidc.flow import sign_in as smartcard_sign_in

DEFAULT_USER = "alice"


@dataclass
class DriverContext:
    """What a driver may use: a scratch directory, the harness data dir, the user to sign in."""

    workdir: Path
    data_dir: Path | None = None
    user: str = DEFAULT_USER
    password: str = ""
    options: dict[str, Any] = field(default_factory=dict)


class LoginDriver(Protocol):
    def sign_in(self, http: httpx.Client, authorize_url: str, redirect_uri: str) -> FlowResult: ...

    def confirm_logout(self, http: httpx.Client, answer: httpx.Response) -> httpx.Response: ...


DriverFactory = Callable[[DriverContext], LoginDriver]


def load_driver(spec: str) -> DriverFactory:
    """`module:callable` -> the factory (a usage error names what is wrong)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a login driver is module:callable, not {spec!r}")
    module = importlib.import_module(module_name)
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"{spec}: {attribute} is not a callable of {module_name}")
    return factory  # type: ignore[no-any-return]


# --- HTML forms ---------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    form_id: str | None
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._loose_buttons: list[tuple[str, str, str]] = []  # (form id, name, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(
                values.get("action", ""), values.get("method", "get").lower(), values.get("id")
            )
            self.forms.append(self._current)
        elif tag in ("input", "button", "textarea"):
            name = values.get("name", "")
            kind = values.get("type", "submit" if tag == "button" else "text").lower()
            value = values.get("value", "")
            owner = values.get("form")
            if owner is not None and (self._current is None or self._current.form_id != owner):
                if name and kind == "submit":
                    self._loose_buttons.append((owner, name, value))
                return
            if self._current is None or not name:
                return
            if kind == "submit":
                self._current.buttons.append((name, value))
            else:
                self._current.fields.append((kind, name, value))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None

    def close(self) -> None:
        super().close()
        for owner, name, value in self._loose_buttons:
            for form in self.forms:
                if form.form_id == owner:
                    form.buttons.append((name, value))


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def submit(http: httpx.Client, page: httpx.Response, form: Form, data: dict[str, str]) -> Any:
    url = urljoin(str(page.url), form.action or str(page.url))
    if form.method == "post":
        # As a browser does: a form POST carries the page's origin (providers check it).
        page_url = urlsplit(str(page.url))
        origin = f"{page_url.scheme}://{page_url.netloc}"
        return http.post(url, data=data, headers={"Origin": origin})
    return http.get(url, params=data)


def _at_redirect(url: str, redirect_uri: str) -> bool:
    return url.split("?", 1)[0].split("#", 1)[0] == redirect_uri


def follow(
    http: httpx.Client, answer: httpx.Response, stop: Callable[[str], bool]
) -> tuple[httpx.Response, str | None]:
    """Follow redirects until a page, or a Location where `stop(url)` (then that URL)."""
    for _ in range(MAX_HOPS):
        if not answer.is_redirect:
            return answer, None
        url = urljoin(str(answer.url), answer.headers["location"])
        if stop(url):
            return answer, url
        answer = http.get(url)
    raise FlowError("too many redirects")


def confirm_with_forms(http: httpx.Client, answer: httpx.Response) -> httpx.Response:
    """Submit a logout confirmation page's form (choosing a yes/logout button) until the
    provider redirects away or shows a page without a form."""
    for _ in range(MAX_HOPS):
        if answer.is_redirect:
            location = urljoin(str(answer.url), answer.headers["location"])
            if urlsplit(location).netloc != urlsplit(str(answer.url)).netloc:
                return answer
            answer = http.get(location)
            continue
        forms = [f for f in parse_forms(answer.text) if f.method == "post"]
        if answer.status_code != 200 or not forms:
            return answer
        form = forms[0]
        data = {name: value for _, name, value in form.fields}
        buttons = form.buttons
        chosen = next((b for b in buttons if b[1].lower() in ("yes", "logout", "true")), None)
        if chosen is None and buttons:
            chosen = buttons[0]
        if chosen is not None:
            data[chosen[0]] = chosen[1]
        answer = submit(http, answer, form, data)
    raise FlowError("too many steps confirming the logout")


# --- the reference provider: a virtual smartcard --------------------------------------------------


@dataclass
class SmartcardDriver:
    """Signs in at the reference provider with a persona's virtual card (in this process)."""

    context: DriverContext
    mechanism: str = "smartcard"
    _signer: Any = None

    @property
    def signer(self) -> Any:
        if self._signer is None:
            from conformance.oidc.cards import CardSigner  # noqa: PLC0415
            from simulator.card.card import VirtualCard  # noqa: PLC0415
            from simulator.card.issue import issue_card  # noqa: PLC0415
            from simulator.card.store import load_card_state  # noqa: PLC0415
            from simulator.datadir import default_data_dir  # noqa: PLC0415
            from simulator.personas import get_persona  # noqa: PLC0415

            data_dir = self.context.data_dir or default_data_dir()
            out = self.context.workdir / f"{self.context.user}.card"
            path = issue_card(self.context.user, data_dir=data_dir, out=out)
            pin = get_persona(self.context.user).card.pin
            self._signer = CardSigner(VirtualCard(load_card_state(path)), pin)
        return self._signer

    def sign_in(self, http: httpx.Client, authorize_url: str, redirect_uri: str) -> FlowResult:
        return smartcard_sign_in(
            http, authorize_url, redirect_uri, self.signer, mechanism=self.mechanism
        )

    def confirm_logout(self, http: httpx.Client, answer: httpx.Response) -> httpx.Response:
        return confirm_with_forms(http, answer)

    def totp_sign_in(
        self, http: httpx.Client, authorize_url: str, redirect_uri: str, user: str, code: str
    ) -> FlowResult:
        """Sign in with the authenticator app (CIS2-TOTP-001); FlowError when refused."""
        return smartcard_sign_in(
            http, authorize_url, redirect_uri, None, mechanism="totp", totp=(user, code)
        )


def smartcard(context: DriverContext) -> LoginDriver:
    return SmartcardDriver(context)


# --- a provider with a development login form -----------------------------------------------------

_LOGIN_NAMES = ("login", "username", "user", "email")


@dataclass
class DevInteractionsDriver:
    """Fills a login form (any login name and password) and confirms consent forms."""

    context: DriverContext

    def sign_in(self, http: httpx.Client, authorize_url: str, redirect_uri: str) -> FlowResult:
        pages: list[str] = []
        answer = http.get(authorize_url)
        for _ in range(MAX_HOPS):
            answer, url = follow(http, answer, lambda u: _at_redirect(u, redirect_uri))
            if url is not None:
                return FlowResult(url, query_params(url), pages)
            path = urlsplit(str(answer.url)).path
            if answer.status_code != 200:
                raise FlowError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
            forms = [f for f in parse_forms(answer.text) if f.method == "post"]
            if not forms:
                raise FlowError(f"{path}: a page without a form: {answer.text[:300]}")
            form = forms[0]
            data: dict[str, str] = {}
            page = "consent"
            for kind, name, value in form.fields:
                if kind == "password":
                    data[name] = self.context.password or "password"
                    page = "login"
                elif kind in ("text", "email") and name in _LOGIN_NAMES:
                    data[name] = self.context.user
                    page = "login"
                else:
                    data[name] = value
            for name, value in form.buttons[:1]:
                data[name] = value
            pages.append(page)
            answer = submit(http, answer, form, data)
        raise FlowError("too many steps signing in")

    def confirm_logout(self, http: httpx.Client, answer: httpx.Response) -> httpx.Response:
        return confirm_with_forms(http, answer)


def dev_interactions(context: DriverContext) -> LoginDriver:
    return DevInteractionsDriver(context)
