"""VERIFY in all its forms, CHANGE REFERENCE DATA and RESET RETRY COUNTER."""

from __future__ import annotations

import pytest

from simulator.card.card import VirtualCard
from simulator.iso7816.sw import SW
from simulator.piv.constants import pad_pin
from tests.cards import PIN, PUK, WRONG_PIN, raw, send, verify


def tries(card: VirtualCard) -> int:
    return card.state.pin.tries_left


def change(card: VirtualCard, ref: int, old: bytes, new: bytes) -> int:
    return send(card, 0x24, 0x00, ref, old + new)[1]


def unblock(card: VirtualCard, puk: bytes, new_pin: bytes) -> int:
    return send(card, 0x2C, 0x00, 0x80, puk + new_pin)[1]


def test_status_query_in_both_forms_spends_nothing(card: VirtualCard) -> None:
    assert raw(card, "00 20 00 80")[1] == 0x63C3
    assert raw(card, "00 20 00 80 00")[1] == 0x63C3
    assert tries(card) == 3
    assert verify(card) == SW.SUCCESS
    assert raw(card, "00 20 00 80")[1] == SW.SUCCESS
    assert raw(card, "00 20 00 80 00")[1] == SW.SUCCESS


def test_wrong_pin_counts_down_and_right_pin_restores(card: VirtualCard) -> None:
    assert verify(card, WRONG_PIN) == 0x63C2
    assert verify(card, WRONG_PIN) == 0x63C1
    assert raw(card, "00 20 00 80")[1] == 0x63C1
    assert verify(card) == SW.SUCCESS
    assert tries(card) == 3


def test_wrong_pin_clears_the_verified_state(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    assert verify(card, WRONG_PIN) == 0x63C2
    assert raw(card, "00 20 00 80")[1] == 0x63C2


def test_three_wrong_pins_block_and_the_right_one_is_then_refused(card: VirtualCard) -> None:
    for expected in (0x63C2, 0x63C1, 0x63C0):
        assert verify(card, WRONG_PIN) == expected
    assert verify(card) == SW.AUTH_METHOD_BLOCKED
    assert verify(card, WRONG_PIN) == SW.AUTH_METHOD_BLOCKED
    assert raw(card, "00 20 00 80")[1] == 0x63C0
    assert tries(card) == 0


@pytest.mark.parametrize(
    "field",
    [
        b"12345\xff\xff\xff",  # 5 digits
        b"12a456\xff\xff",  # not a digit
        b"123456\xff\x00",  # bad padding
        b"\xff\xff123456",  # padding first
        b"1234567",  # 7 bytes
        b"123456789",  # 9 bytes
    ],
)
def test_badly_formatted_pin_is_6a80_and_changes_nothing(card: VirtualCard, field: bytes) -> None:
    assert send(card, 0x20, 0x00, 0x80, field)[1] == SW.INCORRECT_DATA
    assert tries(card) == 3


def test_verify_parameters(card: VirtualCard) -> None:
    assert send(card, 0x20, 0x01, 0x80, pad_pin(PIN))[1] == SW.INCORRECT_P1P2
    assert send(card, 0x20, 0x00, 0x81, pad_pin(PUK))[1] == SW.REFERENCE_NOT_FOUND
    assert send(card, 0x20, 0x00, 0x00, pad_pin(PIN))[1] == SW.REFERENCE_NOT_FOUND
    assert tries(card) == 3


def test_p1_ff_clears_the_verified_state(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    assert raw(card, "00 20 FF 80")[1] == SW.SUCCESS
    assert raw(card, "00 20 00 80")[1] == 0x63C3
    assert send(card, 0x20, 0xFF, 0x80, pad_pin(PIN))[1] == SW.INCORRECT_DATA


def test_change_pin(card: VirtualCard) -> None:
    assert change(card, 0x80, pad_pin(PIN), pad_pin("24681357")) == SW.SUCCESS
    assert verify(card, PIN) == 0x63C2
    assert verify(card, "24681357") == SW.SUCCESS


def test_change_pin_with_wrong_old_pin_spends_a_try(card: VirtualCard) -> None:
    assert change(card, 0x80, pad_pin(WRONG_PIN), pad_pin("246813")) == 0x63C2
    assert verify(card) == SW.SUCCESS


def test_change_puk(card: VirtualCard) -> None:
    assert change(card, 0x81, PUK.encode(), b"11223344") == SW.SUCCESS
    assert change(card, 0x81, PUK.encode(), b"55667788") == 0x63C2
    assert card.state.puk.tries_left == 2
    card.state.pin.tries_left = 0
    assert unblock(card, b"11223344", pad_pin("135791")) == SW.SUCCESS
    assert card.state.puk.tries_left == card.state.puk.limit


def test_change_reference_data_errors(card: VirtualCard) -> None:
    assert change(card, 0x80, pad_pin(PIN), pad_pin("12")) == SW.INCORRECT_DATA
    assert send(card, 0x24, 0x00, 0x80, pad_pin(PIN))[1] == SW.INCORRECT_DATA
    assert send(card, 0x24, 0x01, 0x80, pad_pin(PIN) * 2)[1] == SW.INCORRECT_P1P2
    assert send(card, 0x24, 0x00, 0x9A, pad_pin(PIN) * 2)[1] == SW.REFERENCE_NOT_FOUND
    assert tries(card) == 3
    card.state.pin.tries_left = 0
    assert change(card, 0x80, pad_pin(PIN), pad_pin("246813")) == SW.AUTH_METHOD_BLOCKED


def test_reset_retry_counter_unblocks_the_pin(card: VirtualCard) -> None:
    for _ in range(3):
        verify(card, WRONG_PIN)
    assert unblock(card, PUK.encode(), pad_pin("864200")) == SW.SUCCESS
    assert tries(card) == 3
    assert verify(card, "864200") == SW.SUCCESS


def test_reset_retry_counter_leaves_the_verified_state_as_it_was(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    assert unblock(card, PUK.encode(), pad_pin("864200")) == SW.SUCCESS
    assert raw(card, "00 20 00 80")[1] == SW.SUCCESS
    card.reset()
    assert unblock(card, PUK.encode(), pad_pin("135791")) == SW.SUCCESS
    assert raw(card, "00 20 00 80")[1] == 0x63C3


def test_wrong_puk_counts_down_then_blocks(card: VirtualCard) -> None:
    for expected in (0x63C2, 0x63C1, 0x63C0):
        assert unblock(card, b"00000000", pad_pin("135791")) == expected
    assert unblock(card, PUK.encode(), pad_pin("135791")) == SW.AUTH_METHOD_BLOCKED
    assert verify(card) == SW.SUCCESS  # the PIN itself was never touched


def test_reset_retry_counter_errors(card: VirtualCard) -> None:
    assert unblock(card, PUK.encode(), pad_pin("1")) == SW.INCORRECT_DATA
    assert card.state.puk.tries_left == 3  # a malformed new PIN spends no PUK try
    assert send(card, 0x2C, 0x00, 0x81, PUK.encode() * 2)[1] == SW.REFERENCE_NOT_FOUND
    assert send(card, 0x2C, 0x01, 0x80, PUK.encode() * 2)[1] == SW.INCORRECT_P1P2
    assert send(card, 0x2C, 0x00, 0x80, PUK.encode())[1] == SW.INCORRECT_DATA
