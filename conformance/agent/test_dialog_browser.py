"""The PIN dialog in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import ViewportSize

from conformance.agent.conftest import AgentEnvironment
from conformance.agent.helpers import check_signature
from conformance.report.screenshot import CHROMIUM, CHROMIUM_ARGS
from simulator.secret import Secret

requirement = pytest.mark.requirement
DIALOG_SIZE = ViewportSize(width=520, height=600)
TIMEOUT_MS = 15_000


@requirement(
    "AGENT-DIALOG-001",
    expected="popup opened by window.open, wrong PIN shows tries left, right PIN signs",
)
def test_pin_dialog_in_chromium(
    env: AgentEnvironment, challenge: Callable[[], str], wrong_pin: Callable[[Secret], Secret]
) -> None:
    """A sign-in page on an allowed HTTPS origin opens the dialog; the user types the PIN.

    Screenshots of the dialog go to <run dir>/screenshots/.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    agent = env.agent()
    card = env.insert(agent)
    text = challenge()
    shots = Path(env.run_dir) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            # The suite's site has a test-PKI certificate, which this browser does not know.
            context = browser.new_context(ignore_https_errors=True, viewport=DIALOG_SIZE)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(env.site.signin_url(agent.url, text, card.reader))
            with page.expect_popup() as opened:
                page.click("#start")
            dialog = opened.value
            dialog.wait_for_load_state()
            assert dialog.url.startswith(agent.url + "/pin/"), dialog.url
            expect(dialog.locator("#pin")).to_be_visible()
            expect(dialog.locator("#origin")).to_have_text(env.origin)
            dialog.screenshot(path=str(shots / "pin-dialog.png"))
            dialog.fill("#pin", wrong_pin(card.pin))
            dialog.click("#confirm")
            expect(dialog.get_by_text("Incorrect PIN")).to_be_visible()
            dialog.screenshot(path=str(shots / "pin-dialog-wrong-pin.png"))
            dialog.fill("#pin", card.pin)
            dialog.click("#confirm")
            expect(page.locator("#phase")).to_have_text("signed")
            result = json.loads(page.locator("#result").inner_text())
            page.screenshot(path=str(shots / "signin-page-signed.png"))
        finally:
            browser.close()
    check_signature(result["result"], env.origin, text)
    assert result["result"]["card"]["uuid"] == card.uuid
