"""A tiny stand-in card for transport tests: SELECT of the PIV AID answers 90 00."""

from __future__ import annotations

from simulator.piv.constants import PIV_AID

ECHO_CARD = "tests.integration._echo_card:EchoCard"  # runner factory spec
ATR = bytes.fromhex("3B F8 13 00 00 81 31 FE 15 59 75 62 69 6B 65 79 34 D4".replace(" ", ""))


class EchoCard:
    """Answers SELECT PIV with 90 00, echoes INS 0xEE data, and 6D 00 otherwise."""

    def __init__(self) -> None:
        self.connection_dropped = False
        self.powered = False

    @property
    def atr(self) -> bytes:
        return ATR

    def execute(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xA4 and PIV_AID.startswith(apdu[5 : 5 + apdu[4]]):
            return b"\x90\x00"
        if apdu[1] == 0xEE:
            return apdu[5 : 5 + apdu[4]] + b"\x90\x00"
        if apdu[1] == 0xEF:
            raise RuntimeError("a card bug")
        return b"\x6d\x00"

    def power_up(self) -> None:
        self.powered = True

    def power_down(self) -> None:
        self.powered = False

    def reset(self) -> None:
        self.powered = True

    def clear_drop(self) -> None:
        self.connection_dropped = False
