"""Helpers for tests that talk to an in-process card."""

from __future__ import annotations

from simulator.card.card import VirtualCard
from simulator.card.state import CardState
from simulator.iso7816.apdu import CommandApdu, split_response
from simulator.piv.constants import pad_pin

PIN = "123456"
PUK = "87654321"
WRONG_PIN = "999999"


def clone(state: CardState) -> CardState:
    """A fresh copy of an issued card."""
    return state.fresh_copy()


def send(
    card: VirtualCard,
    ins: int,
    p1: int = 0,
    p2: int = 0,
    data: bytes = b"",
    le: int | None = None,
    cla: int = 0,
) -> tuple[bytes, int]:
    """Send one command; return (data, SW)."""
    return split_response(card.execute(CommandApdu(cla, ins, p1, p2, data, le).to_bytes()))


def raw(card: VirtualCard, hex_apdu: str) -> tuple[bytes, int]:
    return split_response(card.execute(bytes.fromhex(hex_apdu.replace(" ", ""))))


def verify(card: VirtualCard, pin: str = PIN) -> int:
    return send(card, 0x20, 0x00, 0x80, pad_pin(pin))[1]
