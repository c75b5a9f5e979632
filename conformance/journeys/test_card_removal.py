"""The manual's Important Note: removing the card after sign-in may close the NHSmail session.

* legacy agent policy: the agent ends the sign-in session at the provider, whose back-channel
  logout closes the portal session;
* the organisation policy "close on card removal" (RX2 here) with the agent's connect policy:
  the open portal page hears the agent's card-removed event and closes its own session;
* connect with no organisation policy: the session stays open.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from conformance.agent.client import AgentClient
from conformance.agent.targets import InsertedCard
from conformance.journeys.conftest import JourneyStack
from conformance.journeys.recorder import Journey
from conformance.journeys.walk import (
    care_identity_sign_in,
    expect_signed_in,
    portal_asks_for_login,
    wait_until,
)
from simulator.agent import Policy
from simulator.personas import get_persona

requirement = pytest.mark.requirement
CLOSE_TIMEOUT = 20.0
# How long the connect case watches for a wrong close: the legacy case closes well within it.
QUIET_PERIOD = 3.0


def signed_in(
    stack: JourneyStack, strip: Journey, persona: str, policy: Policy
) -> tuple[Page, AgentClient, InsertedCard]:
    """Sign `persona` in to NHSmail with a fresh card under `policy`; (page, agent, card)."""
    identity = get_persona(persona).care_identity
    agent = stack.agent(policy)
    card = stack.insert(agent, persona)
    page = stack.page()
    care_identity_sign_in(stack, page, strip, [card.pin])
    expect_signed_in(stack, page, f"{identity.given_name} {identity.family_name}", identity.uuid)
    strip.shot("Signed in", page, "Signed in to the NHSmail Portal")
    return page, agent, card


def closed_reasons(stack: JourneyStack, uuid: str) -> list[str]:
    return [
        str(event["detail"].get("reason"))
        for event in stack.world.directory().audit_events("session.closed")
        if event["uuid"] == uuid and event["actor"] == "nhsmail"
    ]


def signed_in_then_removed(
    stack: JourneyStack, strip: Journey, persona: str, policy: Policy
) -> tuple[Page, str, list[str]]:
    """Sign in, pull the card: (the portal page, the UUID, the session closes before)."""
    uuid = get_persona(persona).care_identity.uuid
    page, agent, card = signed_in(stack, strip, persona, policy)
    before = closed_reasons(stack, uuid)
    stack.remove(agent, card)
    return page, uuid, before


@requirement("JOURNEY-REMOVE-001", expected="back-channel logout closes the portal session")
def test_removal_under_legacy_closes_the_portal_session(
    stack: JourneyStack, journey: Callable[..., Journey]
) -> None:
    strip = journey("removal-legacy", "Card removed after sign-in: agent policy legacy")
    page, uuid, before = signed_in_then_removed(stack, strip, "alice", Policy.LEGACY)
    wait_until(
        lambda: len(closed_reasons(stack, uuid)) > len(before),
        CLOSE_TIMEOUT,
        "the portal session did not close after the card was removed",
    )
    assert closed_reasons(stack, uuid)[-1] == "backchannel_logout"
    assert portal_asks_for_login(stack, page)
    strip.shot("Card removed", page, "Card removed: the portal asks for a login again")


@requirement("JOURNEY-REMOVE-002", expected="the page leaves for signed-out; reason card_removed")
def test_removal_with_close_on_removal_policy(
    stack: JourneyStack, journey: Callable[..., Journey]
) -> None:
    persona = get_persona("dave")
    orgs = {org.org_code for org in persona.care_identity.organisations}
    assert "RX2" in orgs, "dave's organisation has the close-on-removal policy"
    uuid = persona.care_identity.uuid
    strip = journey("removal-close-on-removal", "Card removed: organisation policy, agent connect")
    page, agent, card = signed_in(stack, strip, persona.name, Policy.CONNECT)
    expect(page.locator("#policy")).to_be_visible()
    before = closed_reasons(stack, uuid)
    stack.remove(agent, card)
    page.wait_for_url(stack.url("nhsmail", "/signed-out?reason=card_removed"))
    strip.shot("Card removed", page, "Card removed: the portal page closed its session")
    assert closed_reasons(stack, uuid)[len(before) :] == ["card_removed"]
    assert portal_asks_for_login(stack, page)


@requirement("JOURNEY-REMOVE-003", expected="the portal session stays open")
def test_removal_under_connect_keeps_the_session(
    stack: JourneyStack, journey: Callable[..., Journey]
) -> None:
    strip = journey("removal-connect", "Card removed after sign-in: agent policy connect")
    page, uuid, before = signed_in_then_removed(stack, strip, "alice", Policy.CONNECT)
    time.sleep(QUIET_PERIOD)
    assert closed_reasons(stack, uuid) == before
    page.reload()
    identity = get_persona("alice").care_identity
    expect_signed_in(stack, page, f"{identity.given_name} {identity.family_name}", uuid)
    strip.shot("Card removed", page, "Card removed: still signed in")
