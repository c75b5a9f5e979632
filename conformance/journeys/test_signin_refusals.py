"""Care Identity sign-in to NHSmail when something is wrong: a wrong PIN first, a card that
is not linked, locked, revoked or expired. Each is a journey strip of its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from conformance.card.helpers import wrong_pin
from conformance.journeys.conftest import JourneyStack
from conformance.journeys.recorder import Journey
from conformance.journeys.walk import (
    care_identity_sign_in,
    choose_smartcard,
    enter_pins,
    expect_signed_in,
    open_pin_popup,
    portal_asks_for_login,
)
from simulator.agent import Policy
from simulator.personas import get_persona

requirement = pytest.mark.requirement


@requirement("JOURNEY-PIN-001", expected="tries left shown, then signed in, PIN counter full")
def test_wrong_pin_then_right_pin(stack: JourneyStack, journey: Callable[..., Journey]) -> None:
    persona = get_persona("alice")
    identity = persona.care_identity
    strip = journey("wrong-pin-then-right-pin", "A wrong PIN, then the right PIN")
    agent = stack.agent(Policy.LEGACY)
    card = stack.insert(agent, persona.name)
    page = stack.page()
    care_identity_sign_in(stack, page, strip, [wrong_pin(card.pin), card.pin])
    expect_signed_in(stack, page, f"{identity.given_name} {identity.family_name}", identity.uuid)
    strip.shot("Signed in", page, "Signed in after the right PIN")
    assert stack.bay.pin_tries_left(card) == 3, "the right PIN must reset the retry counter"


@requirement("JOURNEY-REFUSE-001", expected="not_linked page with a way to My Identity Portal")
def test_card_not_linked(stack: JourneyStack, journey: Callable[..., Journey]) -> None:
    persona = get_persona("peggy")
    assert stack.world.directory().link_for_uuid(persona.care_identity.uuid) is None
    strip = journey("not-linked", "A Care Identity not linked to NHSmail")
    agent = stack.agent(Policy.LEGACY)
    card = stack.insert(agent, persona.name)
    page = stack.page()
    care_identity_sign_in(stack, page, strip, [card.pin])
    expect(page.locator("#error-code")).to_have_text("not_linked")
    way = page.locator(f'a[href^="{stack.url("myidentity", "")}"]')
    expect(way.first).to_be_visible()
    strip.shot("Refused", page, "Not linked: the way to My Identity Portal", highlight=way.first)
    assert portal_asks_for_login(stack, page), "a portal session was opened"


@pytest.mark.parametrize(
    ("persona", "code", "pop_up"),
    [
        pytest.param(
            "erin", "pin_locked", False, marks=requirement("JOURNEY-REFUSE-002"), id="locked"
        ),
        pytest.param(
            "frank",
            "certificate_revoked",
            True,
            marks=requirement("JOURNEY-REFUSE-003"),
            id="revoked",
        ),
        pytest.param(
            "grace",
            "certificate_expired",
            True,
            marks=requirement("JOURNEY-REFUSE-004"),
            id="expired",
        ),
    ],
)
def test_card_refused_at_the_sign_in_service(
    stack: JourneyStack,
    journey: Callable[..., Journey],
    persona: str,
    code: str,
    pop_up: bool,
) -> None:
    """The provider's failure page names what is wrong with the card; NHSmail opens nothing."""
    strip = journey(f"refused-{code}", f"A card refused: {code.replace('_', ' ')}")
    agent = stack.agent(Policy.LEGACY)
    card = stack.insert(agent, persona)
    page = stack.page()
    page.goto(stack.url("nhsmail", "/login"))
    page.click("#care-identity-login")
    choose_smartcard(page, strip, "Smartcard")
    if pop_up:
        dialog = open_pin_popup(page, strip, "PIN")
        enter_pins(dialog, strip, "PIN", [card.pin])
    else:
        strip.shot(
            "Sign in", page, "The smartcard page: Sign in", highlight=page.locator("#signin")
        )
        page.click("#signin")  # the agent answers 423 at once: no pop-up for a locked card
    page.wait_for_url(lambda url: url.split("?", 1)[0].endswith("/failed"))
    expect(page.locator("#error-code")).to_have_text(code)
    expect(page.locator("h1")).to_have_text("You could not be signed in")
    strip.shot("Refused", page, f"The sign-in service refuses the card: {code}")
    assert portal_asks_for_login(stack, page), "a portal session was opened"
