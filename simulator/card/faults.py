"""Fault modes: deliberate misbehaviour, off unless asked, so suites can prove they catch it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    WRONG_SW_ON_WRONG_PIN = "wrong_sw_on_wrong_pin"  # answers 69 82 instead of 63 CX
    COUNTER_NOT_DECREMENTED = "counter_not_decremented"  # a wrong PIN spends no try
    SLOW = "slow"  # a real card's timing
    DROP_CONNECTION = "drop_connection"  # the card vanishes in the middle of a signature
    TEARING_UNSAFE = "tearing_unsafe"  # compares a PIN or PUK before spending the try


@dataclass(frozen=True)
class CardTiming:
    """Seconds a real card takes (card-profile.md: mid-range Java Card figures)."""

    apdu: float = 0.040
    rsa_sign: float = 0.114
    ec_sign: float = 0.045
    verify: float = 0.010


REAL_CARD_TIMING = CardTiming()


class ConnectionDrop(Exception):
    """Raised inside the card when the drop fault fires; the boundary turns it into a removal."""
