"""Anti-tearing: a card cut off at the comparison has already spent the try.

The card's non-volatile memory is what its `persist` callback last wrote; power is cut at
the moment the card compares a PIN or PUK (`arm_tear`). Whatever the secret, the card that
comes back must show the try spent — unless the comparison matched and the card had time
to give it back.
"""

from __future__ import annotations

import dataclasses

import pytest

from simulator.card.card import VirtualCard
from simulator.card.faults import Fault
from simulator.card.state import CardState
from simulator.piv.constants import KeyRef, pad_pin
from tests.cards import PIN, PUK, WRONG_PIN, send

WRONG_PUK = "11112222"


class NonVolatile:
    """The card's durable memory: a copy of the state at each persist."""

    def __init__(self, state: CardState) -> None:
        self.saved = state.fresh_copy()
        self.writes = 0

    def __call__(self, state: CardState) -> None:
        self.saved = state.fresh_copy()
        self.writes += 1

    def reinsert(self) -> VirtualCard:
        return VirtualCard(self.saved.fresh_copy(), persist=self)


def _verify(card: VirtualCard, pin: str) -> bytes:
    return card.execute(bytes([0x00, 0x20, 0x00, 0x80, 8]) + pad_pin(pin))


def _change(card: VirtualCard, ref: int, old: str, new: str) -> bytes:
    return card.execute(bytes([0x00, 0x24, 0x00, ref, 16]) + pad_pin(old) + pad_pin(new))


def _unblock(card: VirtualCard, puk: str, new_pin: str) -> bytes:
    return card.execute(bytes([0x00, 0x2C, 0x00, 0x80, 16]) + pad_pin(puk) + pad_pin(new_pin))


COMMANDS = {
    "verify-wrong": (lambda c: _verify(c, WRONG_PIN), "pin"),
    "verify-right": (lambda c: _verify(c, PIN), "pin"),
    "change-pin-wrong": (lambda c: _change(c, KeyRef.PIN, WRONG_PIN, "24681357"), "pin"),
    "change-puk-wrong": (lambda c: _change(c, KeyRef.PUK, WRONG_PUK, "13572468"), "puk"),
    "reset-retry-wrong": (lambda c: _unblock(c, WRONG_PUK, "24681357"), "puk"),
    "reset-retry-right": (lambda c: _unblock(c, PUK, "24681357"), "puk"),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_a_torn_comparison_has_spent_the_try(card_state: CardState, name: str) -> None:
    command, secret = COMMANDS[name]
    memory = NonVolatile(card_state)
    card = VirtualCard(card_state, persist=memory)
    before = getattr(card_state, secret).tries_left
    card.arm_tear()
    command(card)
    assert card.connection_dropped, "the tear did not fire at the comparison"
    back = memory.reinsert()
    assert getattr(back.state, secret).tries_left == before - 1


@pytest.mark.parametrize("name", ["verify-wrong", "change-puk-wrong", "reset-retry-wrong"])
def test_the_seeded_tearing_defect_loses_no_try(card_state: CardState, name: str) -> None:
    # The defect the requirement exists for: compare first, write the counter afterwards.
    command, secret = COMMANDS[name]
    state = dataclasses.replace(card_state, faults=frozenset({Fault.TEARING_UNSAFE}))
    memory = NonVolatile(state)
    card = VirtualCard(state, persist=memory)
    before = getattr(state, secret).tries_left
    card.arm_tear()
    command(card)
    assert getattr(memory.reinsert().state, secret).tries_left == before


def test_the_try_is_durable_when_the_comparison_starts(card_state: CardState) -> None:
    seen: list[int] = []
    memory = NonVolatile(card_state)

    def at_comparison() -> None:
        seen.append(memory.saved.pin.tries_left)

    card = VirtualCard(card_state, persist=memory, on_compare=at_comparison)
    _verify(card, WRONG_PIN)
    _verify(card, PIN)
    assert seen == [2, 1]  # each comparison began with its try already written
    assert memory.saved.pin.tries_left == 3  # the match gave it back, durably


def test_what_happens_before_the_write_does_not_depend_on_the_pin(card_state: CardState) -> None:
    # Up to the durable write, right and wrong PINs take the same path: one write each.
    for pin in (PIN, WRONG_PIN):
        memory = NonVolatile(card_state)
        writes_at_compare: list[int] = []
        card = VirtualCard(
            card_state.fresh_copy(),
            persist=memory,
            on_compare=lambda m=memory, seen=writes_at_compare: seen.append(m.writes),
        )
        _verify(card, pin)
        assert writes_at_compare == [1]


def test_a_blocked_pin_is_refused_without_a_write(card_state: CardState) -> None:
    card_state.pin.tries_left = 0
    memory = NonVolatile(card_state)
    card = VirtualCard(card_state, persist=memory)
    assert send(card, 0x20, 0x00, 0x80, pad_pin(PIN))[1] == 0x6983
    assert memory.writes == 0
