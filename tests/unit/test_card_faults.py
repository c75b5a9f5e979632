"""Fault modes: each changes exactly the behaviour it names, and only when asked."""

from __future__ import annotations

from simulator.card.card import VirtualCard
from simulator.card.faults import Fault
from simulator.card.state import CardState
from simulator.iso7816.sw import SW
from simulator.piv.constants import Alg
from tests.cards import WRONG_PIN, clone, verify
from tests.unit.test_card_auth import general_authenticate, rsa_sign_command_data


def faulty(state: CardState, *faults: Fault, **options: object) -> VirtualCard:
    copy = clone(state)
    copy.faults = frozenset(faults)
    return VirtualCard(copy, **options)  # type: ignore[arg-type]


def test_wrong_sw_on_wrong_pin(card_state: CardState) -> None:
    card = faulty(card_state, Fault.WRONG_SW_ON_WRONG_PIN)
    assert verify(card, WRONG_PIN) == SW.SECURITY_STATUS_NOT_SATISFIED
    assert card.state.pin.tries_left == 2  # the counter still moves


def test_counter_not_decremented(card_state: CardState) -> None:
    card = faulty(card_state, Fault.COUNTER_NOT_DECREMENTED)
    for _ in range(5):
        assert verify(card, WRONG_PIN) == 0x63C3
    assert verify(card) == SW.SUCCESS


def test_slow_sleeps_a_real_cards_time(card_state: CardState) -> None:
    slept: list[float] = []
    card = faulty(card_state, Fault.SLOW, sleep=slept.append)
    verify(card)
    assert slept == [0.040, 0.010]
    slept.clear()
    general_authenticate(card, Alg.RSA2048, 0x9A, rsa_sign_command_data(b"x"))
    assert slept[:2] == [0.040, 0.114]


def test_no_sleep_without_the_fault(card_state: CardState) -> None:
    slept: list[float] = []
    card = VirtualCard(clone(card_state), sleep=slept.append)
    verify(card)
    assert slept == []


def test_drop_connection_mid_signature(card_state: CardState) -> None:
    card = faulty(card_state, Fault.DROP_CONNECTION)
    assert verify(card) == SW.SUCCESS
    assert not card.connection_dropped
    general_authenticate(card, Alg.RSA2048, 0x9A, rsa_sign_command_data(b"x"))
    assert card.connection_dropped
    assert not card.powered and not card.piv.pin_verified
    card.clear_drop()
    assert not card.connection_dropped
