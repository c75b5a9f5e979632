"""The two user manuals, every numbered step, in Chromium through the whole stack."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from conformance.journeys.conftest import JourneyStack
from conformance.journeys.forgery import forged_confirms_are_refused
from conformance.journeys.recorder import Journey, manuals
from conformance.journeys.walk import (
    choose_smartcard,
    enter_pins,
    expect_signed_in,
    open_pin_popup,
    pick_role_if_asked,
    press_sign_in,
)
from simulator.agent import Policy
from simulator.personas import get_persona

requirement = pytest.mark.requirement


@requirement(
    "JOURNEY-SIGNIN-001", expected="each of the manual's six steps shows what the manual says"
)
def test_manual_000_smartcard_sign_in(stack: JourneyStack, journey: Callable[..., Journey]) -> None:
    manual = manuals()["000"]
    persona = get_persona(manual.persona)
    identity = persona.care_identity
    strip = journey("manual-000", manual.title, manual=manual.id)
    agent = stack.agent(Policy.LEGACY)
    page = stack.page()

    # 1. Navigate to NHSmail Portal.
    page.goto(stack.url("nhsmail", "/"))
    login = page.locator("#login-link")
    expect(login).to_have_text("Login")
    strip.shot(1, page, "The NHSmail Portal")
    # 2. The Login button in the top-right corner.
    box, width = login.bounding_box(), page.viewport_size
    assert box is not None and width is not None
    assert box["x"] > width["width"] / 2 and box["y"] < 120, f"Login is not top right: {box}"
    strip.shot(2, page, "Login, top right", highlight=login)
    login.click()
    # 3. Log in with my Care Identity.
    button = page.locator("#care-identity-login")
    expect(button).to_have_text("Log in with my Care Identity")
    strip.shot(3, page, "Log in with my Care Identity", highlight=button)
    button.click()
    # 4. The card goes into the reader; Smartcard is offered: choose it, Continue.
    stack.insert(agent, persona.name)
    choose_smartcard(page, strip, 4)
    # 5. The PIN in the pop-up, OK.
    dialog = open_pin_popup(page, strip, 5)
    expect(dialog.locator("#holder")).to_contain_text(
        f"{identity.given_name} {identity.family_name}"
    )
    expect(dialog.locator("#origin")).to_have_text(stack.world.cis2.origin)
    enter_pins(dialog, strip, 5, [persona.card.pin])
    pick_role_if_asked(page, strip, 6, stack.url("nhsmail", "/"))
    # 6. Signed in.
    name = f"{identity.given_name} {identity.family_name}"
    expect_signed_in(stack, page, name, identity.uuid)
    strip.shot(6, page, "Signed in to the NHSmail Portal with the smartcard")


@requirement(
    "JOURNEY-LINK-001",
    expected="each of the manual's eight steps, a link in the directory, then a card sign-in",
)
@requirement("JOURNEY-CSRF-001")
def test_manual_001_pre_registration(stack: JourneyStack, journey: Callable[..., Journey]) -> None:
    manual = manuals()["001"]
    persona = get_persona(manual.persona)
    identity, account = persona.care_identity, persona.nhsmail
    assert account is not None
    directory = stack.world.directory()
    assert directory.link_for_uuid(identity.uuid) is None, "the persona must start unlinked"
    strip = journey("manual-001", manual.title, manual=manual.id)
    agent = stack.agent(Policy.LEGACY)
    page = stack.page()

    # 1. My Identity Portal: Start now >
    page.goto(stack.url("myidentity", "/"))
    start = page.locator("#start-now")
    expect(start).to_have_text("Start now >")
    strip.shot(1, page, "My Identity Portal: Start now >", highlight=start)
    start.click()
    # 2. NHSmail address and password (this account has no MFA).
    page.fill("#email", account.email)
    page.fill("#password", account.password)
    strip.shot(
        2, page, "NHSmail address and password, then Log in", highlight=page.locator("#login")
    )
    page.click("#login")
    # 3. The home page: the NHS Care Identity button.
    page.wait_for_url(stack.url("myidentity", "/home"))
    choice = page.locator("#care-identity")
    expect(choice).to_have_text("NHS Care Identity")
    strip.shot(3, page, "Home: the NHS Care Identity button", highlight=choice)
    choice.click()
    # 4. Continue.
    proceed = page.locator("#continue")
    strip.shot(4, page, "Continue", highlight=proceed)
    proceed.click()
    # 5. The card in the reader, Smartcard chosen, Continue.
    stack.insert(agent, persona.name)
    choose_smartcard(page, strip, 5)
    # 6. The PIN in the pop-up, OK.
    dialog = open_pin_popup(page, strip, 6)
    enter_pins(dialog, strip, 6, [persona.card.pin])
    pick_role_if_asked(page, strip, 6, stack.url("myidentity", "/"))
    # 7. The confirmation page with both accounts' details; Confirm.
    page.wait_for_url(stack.url("myidentity", "/link/confirm"))
    name = f"{identity.given_name} {identity.family_name}"
    expect(page.locator("#nhsmail-email")).to_have_text(account.email)
    expect(page.locator("#nhsmail-name")).to_have_text(name)
    expect(page.locator("#ci-name")).to_have_text(name)
    expect(page.locator("#ci-uuid")).to_have_text(identity.uuid)
    expect(page.locator("#ci-mechanism")).to_contain_text("N3_SMARTCARD")
    assert directory.link_for_uuid(identity.uuid) is None, "linked before Confirm"
    # Confirm forged from another site, or without Origin, and without the token: refused.
    forged_confirms_are_refused(stack, page)
    assert directory.link_for_uuid(identity.uuid) is None, "a forged Confirm linked the card"
    confirm = page.locator("#confirm")
    strip.shot(7, page, "Both accounts' details, then Confirm", highlight=confirm)
    confirm.click()
    # 8. Linked, with the two ways on.
    page.wait_for_url(stack.url("myidentity", "/link/done"))
    expect(page.locator("#go-home")).to_have_text("Go to Link My NHS Accounts Home")
    to_nhsmail = page.locator("#go-nhsmail")
    expect(to_nhsmail).to_have_text("Go to NHSmail Portal")
    strip.shot(8, page, "Linked: Go to Link My NHS Accounts Home or Go to NHSmail Portal")
    link = directory.link_for_uuid(identity.uuid)
    assert link is not None and link.email == account.email

    # Go to NHSmail Portal; there, in a new browser, the card now signs in.
    to_nhsmail.click()
    page.wait_for_url(stack.url("nhsmail", "/"))
    expect(page.locator("#login-link")).to_be_visible()
    fresh = stack.page()
    fresh.goto(stack.url("nhsmail", "/login"))
    fresh.click("#care-identity-login")
    choose_smartcard(fresh, strip, 8)
    # The card is still in the reader with its PIN verified: the agent signs without asking.
    assert press_sign_in(fresh, strip, 8) is None, "the agent asked for the PIN again"
    pick_role_if_asked(fresh, strip, 8, stack.url("nhsmail", "/"))
    expect_signed_in(stack, fresh, name, identity.uuid)
    strip.shot(8, fresh, "At the NHSmail Portal the card now signs in")
