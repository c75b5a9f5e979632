"""Anti-tearing: a card cut off in the middle of VERIFY has already spent the try.

A card that compares the PIN before it writes the decremented counter gives an attacker free
guesses: pull the card (or cut its power) once the answer is decided but not yet recorded.
Real cards decrement in non-volatile memory first and give the try back only on a match.
The harness can cut the power at the comparison only on its own virtual cards; a physical
card is skipped with the reason.
"""

from __future__ import annotations

import pytest

from conformance.card.helpers import check_sw, pin_status, select_piv, sw_name, tries, wrong_pin
from conformance.targets import CardSession
from simulator.iso7816.sw import SW, retries_remaining
from simulator.piv.constants import Ins, KeyRef, pad_pin
from simulator.reader.errors import ReaderError

requirement = pytest.mark.requirement


@requirement("CARD-PIN-017", expected="63 C(X-1) after the card came back from a torn VERIFY")
def test_a_torn_verify_has_spent_the_try(card_session: CardSession, card_pin: str) -> None:
    """Power lost while the card compares a wrong PIN: the try is spent all the same."""
    if not card_session.can_tear:
        pytest.skip(
            f"the harness cannot cut the power mid-command on the {card_session.target.kind} "
            "target (only on its virtual cards)"
        )
    check_sw(select_piv(card_session.connection)[1], SW.SUCCESS, what="SELECT PIV")
    before = tries(pin_status(card_session.connection))
    assert before is not None and before > 1, "the card has too few tries left for this test"
    card_session.tear_at_comparison()
    apdu = bytes([0x00, Ins.VERIFY, 0x00, KeyRef.PIN, 8]) + pad_pin(wrong_pin(card_pin))
    try:
        answer = card_session.connection.transmit(apdu)
    except ReaderError:
        answer = None  # the expected outcome: the card lost power and gave no answer
    assert answer is None, f"the card answered {answer!r} although its power was cut"
    conn = card_session.reinsert()
    check_sw(select_piv(conn)[1], SW.SUCCESS, what="SELECT PIV after the card came back")
    after = pin_status(conn)
    assert after == retries_remaining(before - 1), (
        f"{before} tries before the torn VERIFY, {sw_name(after)} after it: "
        "the try was not written before the comparison"
    )
