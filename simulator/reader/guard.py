"""The read-only guard: against a physical card, send nothing that changes its state.

A physical card in a vendor's reader is not ours to lock or rewrite. Unless the caller
allows state changes, commands that spend PIN tries or rewrite the card are refused before
they reach it. Even when allowed, a command that may spend a PIN try is refused when only
one try is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.iso7816.sw import verification_status
from simulator.piv.constants import Ins, KeyRef
from simulator.reader.errors import StateChangeRefusedError

if TYPE_CHECKING:
    from simulator.reader.connection import Transport

MIN_TRIES_TO_SPEND = 2  # a command that may spend a PIN try needs at least this many left

# INS that change a PIV card's persistent state (Yubico's vendor INS included: real cards
# under test are often YubiKeys).
STATE_CHANGING_INS = {
    Ins.CHANGE_REFERENCE_DATA: "CHANGE REFERENCE DATA",
    Ins.RESET_RETRY_COUNTER: "RESET RETRY COUNTER",
    Ins.PUT_DATA: "PUT DATA",
    Ins.GENERATE_ASYMMETRIC_KEY_PAIR: "GENERATE ASYMMETRIC KEY PAIR",
    0xFA: "SET PIN RETRIES (Yubico)",
    0xFB: "RESET (Yubico)",
    0xFE: "IMPORT KEY (Yubico)",
    0xFF: "SET MANAGEMENT KEY (Yubico)",
}


def state_change(apdu: bytes) -> str | None:
    """What a command would change on the card, or None when it changes nothing lasting."""
    if len(apdu) < 4:
        return None
    ins = apdu[1]
    if ins == Ins.VERIFY and apdu[2] == 0x00 and len(apdu) > 5:
        return "VERIFY with a PIN (a wrong one spends a try)"
    return STATE_CHANGING_INS.get(ins)


def spends_pin_try(apdu: bytes) -> bool:
    """True for a command that decrements the PIN counter when its PIN is wrong."""
    if len(apdu) <= 5:
        return False
    if apdu[1] == Ins.VERIFY:
        return apdu[2] == 0x00
    return apdu[1] == Ins.CHANGE_REFERENCE_DATA and apdu[3] == KeyRef.PIN


def pin_tries_left(exchange: Callable[[bytes], bytes]) -> int | None:
    """Tries left from the VERIFY status query (spends nothing); None when verified."""
    response = exchange(bytes((0x00, Ins.VERIFY, 0x00, KeyRef.PIN)))
    return verification_status(int.from_bytes(response[-2:], "big"))


class PhysicalCardGuard:
    """The one guard for a card that is not ours, at the wire: under framing and under the
    suites' raw access alike, so nothing reaches the card around it.

    Unless state changes are allowed, every command that changes the card is refused. When
    they are, a command that may spend a PIN try is refused while fewer than
    MIN_TRIES_TO_SPEND are left: the guard never risks the try that would lock the card.
    """

    def __init__(self, inner: Transport, *, allow_state_changes: bool) -> None:
        self.inner = inner
        self.name = inner.name
        self.allow_state_changes = allow_state_changes

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def exchange(self, apdu: bytes) -> bytes:
        what = state_change(apdu)
        if what is not None and not self.allow_state_changes:
            raise StateChangeRefusedError(what)
        if spends_pin_try(apdu):
            left = pin_tries_left(self.inner.exchange)
            if left is not None and left < MIN_TRIES_TO_SPEND:
                raise StateChangeRefusedError(
                    what or "a command that may spend a PIN try",
                    f"only {left} PIN tries left, and the guard never risks the last one",
                )
        return self.inner.exchange(apdu)

    @property
    def can_reset(self) -> bool:
        return callable(getattr(self.inner, "reset", None))

    def reset(self) -> None:
        reset = getattr(self.inner, "reset", None)
        if reset is None:
            raise NotImplementedError("this transport cannot reset the card")
        reset()

    def close(self) -> None:
        self.inner.close()
