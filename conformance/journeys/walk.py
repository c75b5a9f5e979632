"""What a user does in the browser, shared by the journeys: the provider's mechanism chooser,
its smartcard page, the Identity Agent's PIN pop-up, the role list, and the NHSmail portal's
Care Identity sign-in. Each action takes its screenshot for the journey's strip first, with the
element the user is about to use outlined.
"""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from conformance.journeys.conftest import JourneyStack
from conformance.journeys.recorder import Journey

CHOOSER_TITLE = "Select your preferred choice of Authentication Mechanism"
SMARTCARD_TITLE = "Sign in with your smartcard"
POPUP_TIMEOUT = 20.0
WRONG_PIN = re.compile(r"Incorrect PIN — \d+ tries? left")


def choose_smartcard(page: Page, journey: Journey, step: int | str) -> None:
    """At the provider's chooser: Smartcard, then Continue; ends on the smartcard page."""
    expect(page.locator("h1")).to_have_text(CHOOSER_TITLE)
    page.check("input[name=mechanism][value=smartcard]")
    journey.shot(step, page, "Smartcard chosen, then Continue", highlight=page.locator("#continue"))
    page.click("#continue")
    expect(page.locator("h1")).to_have_text(SMARTCARD_TITLE)


def press_sign_in(page: Page, journey: Journey, step: int | str) -> Page | None:
    """On the smartcard page: Sign in. Returns the agent's PIN pop-up, or None when the agent
    signed without asking (the card's PIN was verified already: the manuals' "if you have
    already typed in your PIN, proceed") or the page went on to a refusal."""
    journey.shot(
        step,
        page,
        "The sign-in service's smartcard page: Sign in",
        highlight=page.locator("#signin"),
    )
    start = page.url
    popups: list[Page] = []

    def opened(popup: Page) -> None:
        popups.append(popup)

    page.on("popup", opened)
    try:
        page.click("#signin")
        deadline = time.monotonic() + POPUP_TIMEOUT
        while not popups and page.url == start:
            if time.monotonic() > deadline:
                raise AssertionError("Sign in neither opened the PIN pop-up nor left the page")
            page.wait_for_timeout(100)  # lets Playwright deliver the page's events
    finally:
        page.remove_listener("popup", opened)
    if not popups:
        return None
    dialog = popups[0]
    dialog.wait_for_load_state()
    expect(dialog.locator("#pin")).to_be_visible()
    return dialog


def open_pin_popup(page: Page, journey: Journey, step: int | str) -> Page:
    """Sign in, which must open the agent's PIN pop-up (returned)."""
    dialog = press_sign_in(page, journey, step)
    assert dialog is not None, f"no PIN pop-up: the page went on to {page.url}"
    return dialog


def enter_pins(dialog: Page, journey: Journey, step: int | str, pins: list[str]) -> None:
    """Type each PIN and press OK; every PIN but the last must be refused with tries left."""
    for index, pin in enumerate(pins):
        dialog.fill("#pin", pin)
        last = index == len(pins) - 1
        caption = "PIN entered in the Identity Agent's pop-up, then OK"
        journey.shot(
            step,
            dialog,
            caption if last else "A wrong PIN entered, then OK",
            highlight=dialog.locator("#confirm"),
        )
        dialog.click("#confirm")
        if not last:
            expect(dialog.locator("#message")).to_have_text(WRONG_PIN)
            journey.shot(step, dialog, "The pop-up says how many tries are left")


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def pick_role_if_asked(page: Page, journey: Journey, step: int | str, leaving: str) -> None:
    """With more than one role the provider asks which one: the first, then Continue.

    Returns once the page has left the provider for `leaving` (or stopped at its failure page).
    """

    def settled(url: str) -> bool:
        return url.startswith(leaving) or _path(url).endswith(("/role", "/failed"))

    page.wait_for_url(settled)
    if not _path(page.url).endswith("/role"):
        return
    expect(page.locator("h1")).to_have_text("Select your role")
    journey.shot(step, page, "Role selection: the first role, then Continue")
    page.click("#continue")
    page.wait_for_url(lambda url: url.startswith(leaving) or _path(url).endswith("/failed"))


def care_identity_sign_in(
    stack: JourneyStack,
    page: Page,
    journey: Journey,
    pins: list[str],
) -> None:
    """NHSmail portal → Log in with my Care Identity → chooser → card → PIN(s) → back at the
    portal (the page then shows whatever the portal answers: signed in, or why not)."""
    page.goto(stack.url("nhsmail", "/login"))
    journey.shot(
        "Login",
        page,
        "NHSmail Portal: Log in with my Care Identity",
        highlight=page.locator("#care-identity-login"),
    )
    page.click("#care-identity-login")
    choose_smartcard(page, journey, "Smartcard")
    dialog = open_pin_popup(page, journey, "PIN")
    enter_pins(dialog, journey, "PIN", pins)
    pick_role_if_asked(page, journey, "Role", stack.url("nhsmail", "/"))


def expect_signed_in(stack: JourneyStack, page: Page, name: str, uuid: str) -> None:
    expect(page.locator("#welcome")).to_have_text(f"Welcome, {name}")
    expect(page.locator("#method")).to_have_text("NHS Care Identity (smartcard)")
    expect(page.locator("#uuid")).to_have_text(uuid)
    assert page.url == stack.url("nhsmail", "/portal"), page.url


def portal_asks_for_login(stack: JourneyStack, page: Page) -> bool:
    """True when the NHSmail portal page sends this browser to its login (no session)."""
    page.goto(stack.url("nhsmail", "/portal"))
    return page.url == stack.url("nhsmail", "/login")


def wait_until(condition: Any, timeout: float, what: str) -> None:
    """Poll `condition()` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        time.sleep(0.1)
