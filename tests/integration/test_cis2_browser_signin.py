"""A real browser sign-in: Debian's Chromium, driven by Playwright, goes from a test relying
party through the reference provider's mechanism chooser and smartcard page, the Identity
Agent's PIN pop-up, and back to the relying party signed in — with the card in a vpcd slot
behind pcscd, the agent reading it over PC/SC.

Everything listens on loopback with the test PKI's certificates: the provider and the relying
party over HTTPS, the agent over http://127.0.0.1. The browser context ignores certificate
errors (it does not know the test CA); the provider, relying party and agent trust the test
PKI's CA bundle (and the provider its CRL) for every call they make. Screenshots of each step
land in the test's tmp dir.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from conformance.card.helpers import wrong_pin
from conformance.oidc.stack import prepare
from conformance.report.screenshot import CHROMIUM, CHROMIUM_ARGS
from reference_service.cis2.clients import Client, load_clients, new_client_id, write_clients
from reference_service.cis2.server import BackgroundServer
from simulator.agent import Agent, AgentConfig, PcscReaders, Policy
from simulator.agent.server import AgentServer
from simulator.personas import get_persona
from simulator.pki import TestPKI
from tests.integration._browser_rp import BrowserRelyingParty, free_port
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration
PERSONA = "alice"
TIMEOUT_MS = 15_000
VIEWPORT = ViewportSize(width=1000, height=760)


@dataclass
class SignInWorld:
    pki: TestPKI
    issuer: str
    origin: str
    agent_url: str
    reader: str
    slot: int
    rp: BrowserRelyingParty
    browser: Browser

    def keys(self) -> KeySet:
        context = ssl.create_default_context(cafile=str(self.pki.ca_bundle_path))
        with httpx.Client(verify=context) as http:
            return KeySet.import_key_set(http.get(f"{self.issuer}/connect/jwk_uri").json())


@pytest.fixture(scope="module")
def world(reader_stack: ReaderStack) -> Iterator[SignInWorld]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    data_dir = reader_stack.data_dir
    pki = TestPKI.open(data_dir / "pki")
    slot = reader_stack.layout.slots[0]
    provider_port = free_port()
    origin = f"https://127.0.0.1:{provider_port}"
    # The agent: legacy policy, the vpcd slot's reader, session-end calls trusting the test CA.
    config = AgentConfig(
        allowed_origins=(origin,), policy=Policy.LEGACY, ca_bundle=pki.ca_bundle_path
    )
    agent = AgentServer(Agent(config, PcscReaders([slot.reader])), port=0, access_log=False)
    rp = BrowserRelyingParty(pki.server_certificate("browser-rp"), pki.ca_bundle_path)
    # The provider's files (test PKI certificate, CA bundle, CRL, users), this RP registered.
    settings, _ = prepare(data_dir, port=provider_port, agent_url=agent.url)
    client = Client(
        client_id=new_client_id(),
        name="Browser test RP",
        redirect_uris=(rp.redirect_uri,),
        client_secret="browser-test-" + new_client_id(),
        backchannel_logout_uri=rp.backchannel_uri,
        require_pkce=True,
    )
    registry = [c for c in load_clients(settings.clients).values() if c.name != client.name]
    write_clients(settings.clients, [*registry, client])
    rp.issuer, rp.client_id = settings.issuer, client.client_id
    rp.client_secret = client.client_secret or ""
    provider = BackgroundServer(settings)
    with rp, sync_playwright() as playwright:
        provider.start()
        try:
            agent.start()
            try:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
                )
                try:
                    yield SignInWorld(
                        pki,
                        settings.issuer,
                        origin,
                        agent.url,
                        slot.reader,
                        slot.index,
                        rp,
                        browser,
                    )
                finally:
                    browser.close()
            finally:
                # The agent before the provider: its idle keep-alive TLS connection (from the
                # session-end calls) would hold up the provider's shutdown for 10 s otherwise.
                agent.stop()
        finally:
            provider.stop()


@pytest.fixture
def card_in(
    world: SignInWorld, stack: ReaderStack, issue: Callable[..., Path]
) -> Iterator[SignInWorld]:
    """A fresh card of the persona in the world's vpcd slot, seen by the agent."""
    stack.control.insert(issue(PERSONA), world.slot)
    wait_for_card(world, present=True)
    yield world
    stack.control.remove(world.slot)
    wait_for_card(world, present=False)


def wait_for_card(world: SignInWorld, *, present: bool, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(
            f"{world.agent_url}/v1/status", headers={"Origin": world.origin}, timeout=5
        ).json()
        cards = {reader["name"]: reader["card"] for reader in status["readers"]}
        if (cards.get(world.reader) is not None) == present:
            return
        assert time.monotonic() < deadline, f"the agent never saw the card {present=}: {status}"
        time.sleep(0.1)


class Shots:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page: Page, name: str) -> None:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.taken.append(path)


def sign_in(world: SignInWorld, page: Page, shots: Shots, pins: list[str]) -> Page:
    """RP start → chooser → Smartcard → the PIN pop-up (each PIN in turn) → back at the RP."""
    page.goto(f"{world.rp.base}/start")
    expect(page.locator("h1")).to_have_text(
        "Select your preferred choice of Authentication Mechanism"
    )
    offered = page.locator("input[name=mechanism]")
    assert [offered.nth(i).get_attribute("value") for i in range(offered.count())] == [
        "smartcard",
        "totp",
    ]
    shots(page, "chooser")
    page.check("input[name=mechanism][value=smartcard]")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Sign in with your smartcard")
    assert page.url.startswith(world.issuer + "/login/") and page.url.endswith("/smartcard")
    expect(page.locator("#pin-link")).to_be_hidden()
    shots(page, "smartcard-page")
    with page.expect_popup() as opened:
        page.click("#signin")
    dialog = opened.value
    dialog.wait_for_load_state()
    assert dialog.url.startswith(world.agent_url + "/pin/"), dialog.url
    expect(dialog.locator("#origin")).to_have_text(world.origin)
    expect(dialog.locator("#holder")).to_contain_text("Alice Smith")
    expect(page.locator("#status")).to_have_text("Enter your PIN in the Identity Agent's window.")
    shots(dialog, "pin-dialog")
    for index, pin in enumerate(pins):
        dialog.fill("#pin", pin)
        dialog.click("#confirm")
        if index < len(pins) - 1:
            expect(dialog.locator("#message")).to_have_text(
                re.compile(r"Incorrect PIN — \d+ tries? left")
            )
            shots(dialog, "pin-dialog-wrong-pin")
    page.wait_for_url(f"{world.rp.redirect_uri}?*")
    expect(page.locator("#welcome")).to_have_text("Signed in")
    shots(page, "signed-in-at-rp")
    return dialog


def check_signed_in(world: SignInWorld, page: Page) -> dict[str, object]:
    persona = get_persona(PERSONA)
    uuid = persona.care_identity.uuid
    expect(page.locator("#uuid")).to_have_text(uuid)
    expect(page.locator("#acr")).to_have_text("AAL2_OR_AAL3_ANY")
    expect(page.locator("#amr")).to_have_text("N3_SMARTCARD")
    expect(page.locator("#name")).to_have_text("Alice Smith")
    assert not world.rp.errors, world.rp.errors
    claims = world.rp.signed_in[-1]
    assert claims["sub"] == uuid and claims["amr"] == ["N3_SMARTCARD"]
    assert claims["acr"] == "AAL2_OR_AAL3_ANY" and claims["sid"]
    return claims


def test_browser_signin_through_chooser_agent_pin_popup(
    card_in: SignInWorld, tmp_path: Path
) -> None:
    world = card_in
    shots = Shots(tmp_path / "screenshots")
    context = world.browser.new_context(ignore_https_errors=True, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(world, page, shots, [get_persona(PERSONA).card.pin])
        check_signed_in(world, page)
    finally:
        context.close()
    assert [path.name for path in shots.taken] == [
        "01-chooser.png",
        "02-smartcard-page.png",
        "03-pin-dialog.png",
        "04-signed-in-at-rp.png",
    ]
    assert all(path.stat().st_size > 1000 for path in shots.taken)


def test_wrong_pin_shows_tries_left_then_right_pin_signs_in(
    card_in: SignInWorld, tmp_path: Path
) -> None:
    world = card_in
    pin = get_persona(PERSONA).card.pin
    shots = Shots(tmp_path / "screenshots")
    context = world.browser.new_context(ignore_https_errors=True, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(world, page, shots, [wrong_pin(pin), pin])
        check_signed_in(world, page)
    finally:
        context.close()
    assert "05-signed-in-at-rp.png" in [path.name for path in shots.taken]


def test_card_removal_ends_the_session_with_backchannel_logout(
    world: SignInWorld, stack: ReaderStack, issue: Callable[..., Path], tmp_path: Path
) -> None:
    """Legacy policy: pulling the card after sign-in makes the agent call the provider's
    session-end URL, and the provider sends a back-channel logout token to the RP."""
    stack.control.insert(issue(PERSONA), world.slot)
    wait_for_card(world, present=True)
    shots = Shots(tmp_path / "screenshots")
    context = world.browser.new_context(ignore_https_errors=True, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(world, page, shots, [get_persona(PERSONA).card.pin])
        claims = check_signed_in(world, page)
    finally:
        context.close()
    stack.control.remove(world.slot)
    keys = world.keys()
    deadline = time.monotonic() + 20
    logout: dict[str, object] | None = None
    while logout is None and time.monotonic() < deadline:
        for token in list(world.rp.logout_tokens):
            decoded = dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
            if decoded.get("sid") == claims["sid"]:
                logout = decoded
        time.sleep(0.1)
    assert logout is not None, "no back-channel logout for the session after the card was pulled"
    assert logout["aud"] == world.rp.client_id and logout["iss"] == world.issuer
    assert logout["sub"] == claims["sub"]
    events = logout["events"]
    assert isinstance(events, dict)
    assert "http://schemas.openid.net/event/backchannel-logout" in events
