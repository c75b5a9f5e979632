"""PIN: the status query, right and wrong PINs, the retry counter, formats, changing it.

On a physical card these run only in a destructive run; each spends at most one try, only
when enough are left to restore the counter, and puts back what it changed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.card.helpers import (
    change_reference,
    check_sw,
    pin_status,
    select_piv,
    send,
    sw_name,
    tries,
    unverify,
    verify,
    verify_field,
    wrong_pin,
)
from simulator.iso7816.sw import SW, retries_remaining
from simulator.piv.constants import Ins, KeyRef, pad_pin
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
NHS_PIN_TRIES = 3
SpareTries = Callable[[int], None]


@pytest.fixture
def conn(card_connection: CardConnection) -> CardConnection:
    check_sw(select_piv(card_connection)[1], SW.SUCCESS, what="SELECT PIV")
    return card_connection


def _tries_now(conn: CardConnection) -> int:
    sw = pin_status(conn)
    left = tries(sw)
    assert left is not None, f"status query: expected 63 CX, got {sw_name(sw)}"
    return left


@requirement("CARD-PIN-001", expected="63 CX from both forms, X unchanged by asking")
def test_status_query(conn: CardConnection) -> None:
    """VERIFY without data reports the tries left and spends nothing."""
    first = pin_status(conn)
    with_lc = send(conn, bytes((0x00, Ins.VERIFY, 0x00, KeyRef.PIN, 0x00)))[1]
    again = pin_status(conn)
    if first == SW.SUCCESS:
        pytest.skip("the PIN is already verified on this card: no tries to report")
    assert tries(first) is not None, f"4-byte form: expected 63 CX, got {sw_name(first)}"
    check_sw(with_lc, first, what="status query with Lc = 00")
    check_sw(again, first, what="status query repeated")


@requirement("CARD-PIN-002", expected="63 C3 after VERIFY (right PIN) and VERIFY P1=FF")
def test_retry_limit(conn: CardConnection, card_pin: str) -> None:
    """The PIN retry limit is 3."""
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    check_sw(unverify(conn), SW.SUCCESS, what="VERIFY P1=FF")
    check_sw(pin_status(conn), retries_remaining(NHS_PIN_TRIES), what="status query")


@requirement("CARD-PIN-003", expected="90 00, then the status query 90 00")
def test_right_pin(conn: CardConnection, card_pin: str) -> None:
    """A right PIN verifies."""
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    check_sw(pin_status(conn), SW.SUCCESS, what="status query after VERIFY")


@requirement("CARD-PIN-004", expected="63 C(X-1) where X were left before")
def test_wrong_pin_status_word(
    conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries
) -> None:
    """A wrong PIN answers 63 CX with the tries left after it."""
    spare_pin_tries(1)
    before = _tries_now(conn)
    sw = verify(conn, wrong_pin(card_pin))
    verify(conn, card_pin)  # restore the counter
    check_sw(sw, retries_remaining(before - 1), what="VERIFY wrong PIN")


@requirement("CARD-PIN-005", expected="status query shows X-1 after one wrong PIN")
def test_wrong_pin_spends_a_try(
    conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries
) -> None:
    """A wrong PIN spends one try."""
    spare_pin_tries(1)
    before = _tries_now(conn)
    verify(conn, wrong_pin(card_pin))
    after = pin_status(conn)
    verify(conn, card_pin)
    check_sw(after, retries_remaining(before - 1), what="status query after a wrong PIN")


@requirement("CARD-PIN-006", expected="90 00, then 63 CX back at the limit after P1=FF")
def test_right_pin_restores_counter(
    conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries
) -> None:
    """A right PIN after a wrong one resets the counter."""
    spare_pin_tries(1)
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    check_sw(unverify(conn), SW.SUCCESS, what="VERIFY P1=FF")
    limit = _tries_now(conn)
    verify(conn, wrong_pin(card_pin))
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN after a wrong one")
    unverify(conn)
    check_sw(pin_status(conn), retries_remaining(limit), what="status query")


@requirement("CARD-PIN-007", expected="63 CX from the status query after the wrong PIN")
def test_wrong_pin_clears_verification(
    conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries
) -> None:
    """A wrong PIN clears a verified PIN."""
    spare_pin_tries(1)
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    verify(conn, wrong_pin(card_pin))
    sw = pin_status(conn)
    verify(conn, card_pin)
    assert tries(sw) is not None, f"status query after a wrong PIN: {sw_name(sw)}, not 63 CX"


@requirement("CARD-PIN-008", expected="63 C2, 63 C1, blocked: 69 83 for the right PIN; 63 C0")
def test_pin_blocks_after_three(conn: CardConnection, card_pin: str) -> None:
    """Three wrong PINs block the PIN."""
    for left in (2, 1, 0):
        check_sw(
            verify(conn, wrong_pin(card_pin)), retries_remaining(left), what="VERIFY wrong PIN"
        )
    check_sw(verify(conn, card_pin), SW.AUTH_METHOD_BLOCKED, what="VERIFY right PIN when blocked")
    check_sw(pin_status(conn), retries_remaining(0), what="status query when blocked")


MALFORMED_PINS = {
    "five-digits": b"12345" + b"\xff" * 3,
    "letters": b"12345A\xff\xff",
    "zero-padding": b"123456\x00\x00",
    "seven-bytes": b"123456\xff",
    "nine-bytes": b"123456789",
    "gap-in-padding": b"1234\xff567",
}


@pytest.mark.parametrize("field", MALFORMED_PINS.values(), ids=MALFORMED_PINS.keys())
@requirement("CARD-PIN-009", expected="6A 80 and the same tries left")
def test_malformed_pin(conn: CardConnection, field: bytes, spare_pin_tries: SpareTries) -> None:
    """A badly formatted PIN is refused without spending a try."""
    spare_pin_tries(1)
    before = _tries_now(conn)
    check_sw(verify_field(conn, field), SW.INCORRECT_DATA, what="VERIFY malformed PIN")
    check_sw(pin_status(conn), retries_remaining(before), what="status query afterwards")


@pytest.mark.parametrize("p1", [0x01, 0x80, 0xFE], ids=lambda p: f"p1-{p:02x}")
@requirement("CARD-PIN-010", expected="6A 86")
def test_verify_bad_p1(conn: CardConnection, p1: int) -> None:
    """VERIFY with P1 other than 00 or FF answers 6A 86."""
    sw = send(conn, bytes((0x00, Ins.VERIFY, p1, KeyRef.PIN)))[1]
    check_sw(sw, SW.INCORRECT_P1P2, what=f"VERIFY P1={p1:02X}")


@requirement("CARD-PIN-011", expected="6A 88")
def test_verify_puk_reference(conn: CardConnection) -> None:
    """VERIFY of the PUK's key reference answers 6A 88."""
    sw = send(conn, bytes((0x00, Ins.VERIFY, 0x00, KeyRef.PUK)))[1]
    check_sw(sw, SW.REFERENCE_NOT_FOUND, what="VERIFY P2=81")


@requirement("CARD-PIN-012", expected="90 00, then the status query 63 CX")
def test_verify_reset(conn: CardConnection, card_pin: str) -> None:
    """VERIFY P1=FF clears the verified state."""
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    check_sw(unverify(conn), SW.SUCCESS, what="VERIFY P1=FF")
    sw = pin_status(conn)
    assert tries(sw) is not None, f"status query after P1=FF: {sw_name(sw)}, not 63 CX"


def _other_pin(pin: str) -> str:
    return "".join(str((int(d) + 3) % 10) for d in pin)


@requirement("CARD-PIN-013", expected="90 00; the new PIN 90 00, the old one 63 CX")
def test_change_pin(conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries) -> None:
    """CHANGE REFERENCE DATA changes the PIN."""
    spare_pin_tries(1)
    new = _other_pin(card_pin)
    sw = change_reference(conn, KeyRef.PIN, pad_pin(card_pin), pad_pin(new))
    check_sw(sw, SW.SUCCESS, what="CHANGE REFERENCE DATA (PIN)")
    try:
        check_sw(verify(conn, new), SW.SUCCESS, what="VERIFY new PIN")
        old = verify(conn, card_pin)
        assert tries(old) is not None, f"VERIFY old PIN: {sw_name(old)}, expected 63 CX"
    finally:
        change_reference(conn, KeyRef.PIN, pad_pin(new), pad_pin(card_pin))
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY original PIN after changing back")


@requirement("CARD-PIN-014", expected="63 C(X-1); the PIN unchanged")
def test_change_pin_wrong_old(
    conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries
) -> None:
    """CHANGE REFERENCE DATA with a wrong old PIN spends a try and changes nothing."""
    spare_pin_tries(1)
    before = _tries_now(conn)
    new = _other_pin(card_pin)
    sw = change_reference(conn, KeyRef.PIN, pad_pin(wrong_pin(card_pin)), pad_pin(new))
    if sw == SW.SUCCESS:  # a broken card took it: put the PIN back before failing
        change_reference(conn, KeyRef.PIN, pad_pin(new), pad_pin(card_pin))
    check_sw(sw, retries_remaining(before - 1), what="CHANGE REFERENCE DATA, wrong old PIN")
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY the unchanged PIN")


@requirement("CARD-PIN-015", expected="6A 80; the old PIN still verifies")
def test_change_pin_malformed_new(
    conn: CardConnection, card_pin: str, spare_pin_tries: SpareTries
) -> None:
    """CHANGE REFERENCE DATA to a badly formatted PIN changes nothing."""
    spare_pin_tries(1)
    bad = b"12345" + b"\xff" * 3
    sw = change_reference(conn, KeyRef.PIN, pad_pin(card_pin), bad)
    if sw == SW.SUCCESS:
        change_reference(conn, KeyRef.PIN, bad, pad_pin(card_pin))
    check_sw(sw, SW.INCORRECT_DATA, what="CHANGE REFERENCE DATA to a 5-digit PIN")
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY the unchanged PIN")


@pytest.mark.parametrize("length", [6, 7, 8], ids=lambda n: f"{n}-digits")
@requirement("CARD-PIN-016", expected="90 00 for the change, 90 00 for VERIFY of the new PIN")
def test_pin_lengths(
    conn: CardConnection, card_pin: str, length: int, spare_pin_tries: SpareTries
) -> None:
    """PINs of 6, 7 and 8 digits can be set."""
    spare_pin_tries(1)
    new = "97531864"[:length]
    if new == card_pin:
        new = "86420975"[:length]
    check_sw(
        change_reference(conn, KeyRef.PIN, pad_pin(card_pin), pad_pin(new)),
        SW.SUCCESS,
        what=f"CHANGE REFERENCE DATA to {length} digits",
    )
    try:
        check_sw(verify(conn, new), SW.SUCCESS, what=f"VERIFY the {length}-digit PIN")
    finally:
        change_reference(conn, KeyRef.PIN, pad_pin(new), pad_pin(card_pin))
