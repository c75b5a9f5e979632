"""PUK: RESET RETRY COUNTER (unblocking the PIN) and changing the PUK."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.card.helpers import (
    change_reference,
    check_sw,
    pin_status,
    puk_field,
    reset_retry_counter,
    select_piv,
    send,
    sw_name,
    tries,
    verify,
    wrong_pin,
)
from simulator.iso7816.sw import SW, retries_remaining
from simulator.piv.constants import Ins, KeyRef, pad_pin
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
SpareTries = Callable[[int], None]
MAX_PUK_TRIES = 10


@pytest.fixture
def conn(card_connection: CardConnection) -> CardConnection:
    check_sw(select_piv(card_connection)[1], SW.SUCCESS, what="SELECT PIV")
    return card_connection


def _wrong_puk(puk: str) -> bytes:
    return "".join(str((int(c) + 1) % 10) if c.isdigit() else "0" for c in puk).encode()


def _other_pin(pin: str) -> str:
    return "".join(str((int(d) + 7) % 10) for d in pin)


@requirement("CARD-PUK-001", expected="90 00; status 63 C3 (limit); the new PIN 90 00")
def test_reset_retry_counter(
    conn: CardConnection, card_pin: str, card_puk: str, spare_pin_tries: SpareTries
) -> None:
    """RESET RETRY COUNTER sets a new PIN and resets its counter."""
    spare_pin_tries(1)
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    send(conn, bytes((0x00, Ins.VERIFY, 0xFF, KeyRef.PIN)))
    limit = tries(pin_status(conn))
    verify(conn, wrong_pin(card_pin))
    new = _other_pin(card_pin)
    sw = reset_retry_counter(conn, puk_field(card_puk), pad_pin(new))
    try:
        check_sw(sw, SW.SUCCESS, what="RESET RETRY COUNTER")
        check_sw(pin_status(conn), retries_remaining(limit or 3), what="status query after it")
        check_sw(verify(conn, new), SW.SUCCESS, what="VERIFY the new PIN")
    finally:
        reset_retry_counter(conn, puk_field(card_puk), pad_pin(card_pin))


@requirement("CARD-PUK-002", expected="blocked PIN: 90 00 from RESET RETRY COUNTER, new PIN 90 00")
def test_unblock_pin(conn: CardConnection, card_pin: str, card_puk: str) -> None:
    """RESET RETRY COUNTER unblocks a blocked PIN."""
    for _ in range(3):
        verify(conn, wrong_pin(card_pin))
    check_sw(verify(conn, card_pin), SW.AUTH_METHOD_BLOCKED, what="VERIFY on the blocked PIN")
    new = _other_pin(card_pin)
    sw = reset_retry_counter(conn, puk_field(card_puk), pad_pin(new))
    check_sw(sw, SW.SUCCESS, what="RESET RETRY COUNTER")
    check_sw(verify(conn, new), SW.SUCCESS, what="VERIFY the new PIN")


@requirement("CARD-PUK-003", expected="63 CX, then 63 C(X-1); the PIN unchanged")
def test_wrong_puk(conn: CardConnection, card_pin: str, card_puk: str) -> None:
    """A wrong PUK spends a PUK try and changes nothing."""
    new = pad_pin(_other_pin(card_pin))
    first = reset_retry_counter(conn, _wrong_puk(card_puk), new)
    left = tries(first)
    assert left is not None and left > 0, f"wrong PUK: expected 63 CX, got {sw_name(first)}"
    second = reset_retry_counter(conn, _wrong_puk(card_puk), new)
    check_sw(second, retries_remaining(left - 1), what="second wrong PUK")
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY the unchanged PIN")


@requirement("CARD-PUK-004", expected="wrong PUKs down to 63 C0, then 69 83 for the right PUK")
def test_puk_blocked(conn: CardConnection, card_pin: str, card_puk: str) -> None:
    """A blocked PUK refuses even the right PUK."""
    new = pad_pin(_other_pin(card_pin))
    for _ in range(MAX_PUK_TRIES):
        if reset_retry_counter(conn, _wrong_puk(card_puk), new) == retries_remaining(0):
            break
    else:
        pytest.fail(f"the PUK did not block after {MAX_PUK_TRIES} wrong PUKs")
    sw = reset_retry_counter(conn, puk_field(card_puk), new)
    check_sw(sw, SW.AUTH_METHOD_BLOCKED, what="RESET RETRY COUNTER with the PUK blocked")


@requirement("CARD-PUK-005", expected="6A 88")
def test_reset_retry_counter_other_reference(conn: CardConnection, card_puk: str) -> None:
    """RESET RETRY COUNTER only resets the PIN."""
    # New value = the PUK itself, so even a card that wrongly took it would be unchanged.
    data = puk_field(card_puk) * 2
    sw = send(conn, bytes((0x00, Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PUK, 16)) + data)[1]
    check_sw(sw, SW.REFERENCE_NOT_FOUND, what="RESET RETRY COUNTER P2=81")


@requirement("CARD-PUK-006", expected="63 CX; 6A 80 for the malformed PIN; 63 C(X-1)")
def test_reset_retry_counter_malformed_pin(conn: CardConnection, card_puk: str) -> None:
    """A malformed new PIN is refused before the PUK is compared."""
    good = pad_pin("24681357")
    first = tries(reset_retry_counter(conn, _wrong_puk(card_puk), good))
    assert first is not None and first > 0, "wrong PUK did not answer 63 CX"
    sw = reset_retry_counter(conn, _wrong_puk(card_puk), b"12345" + b"\xff" * 3)
    check_sw(sw, SW.INCORRECT_DATA, what="RESET RETRY COUNTER with a 5-digit PIN")
    sw = reset_retry_counter(conn, _wrong_puk(card_puk), good)
    check_sw(sw, retries_remaining(first - 1), what="next wrong PUK")


@requirement("CARD-PUK-007", expected="90 00; RESET RETRY COUNTER with the new PUK 90 00")
def test_change_puk(conn: CardConnection, card_pin: str, card_puk: str) -> None:
    """CHANGE REFERENCE DATA changes the PUK."""
    new = "".join(str((int(c) + 5) % 10) if c.isdigit() else "5" for c in card_puk)
    sw = change_reference(conn, KeyRef.PUK, puk_field(card_puk), new.encode())
    check_sw(sw, SW.SUCCESS, what="CHANGE REFERENCE DATA (PUK)")
    try:
        sw = reset_retry_counter(conn, new.encode(), pad_pin(card_pin))
        check_sw(sw, SW.SUCCESS, what="RESET RETRY COUNTER with the new PUK")
    finally:
        change_reference(conn, KeyRef.PUK, new.encode(), puk_field(card_puk))


@pytest.mark.parametrize("verified", [False, True], ids=["not-verified", "verified"])
@requirement("CARD-PUK-008", expected="status query unchanged by RESET RETRY COUNTER")
def test_reset_keeps_verified_state(
    conn: CardConnection, card_pin: str, card_puk: str, verified: bool
) -> None:
    """RESET RETRY COUNTER leaves the PIN's verified state as it was."""
    if verified:
        check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY right PIN")
    before = pin_status(conn)
    sw = reset_retry_counter(conn, puk_field(card_puk), pad_pin(card_pin))
    check_sw(sw, SW.SUCCESS, what="RESET RETRY COUNTER (same PIN)")
    check_sw(pin_status(conn), before, what="status query after it")
