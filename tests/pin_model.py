"""A model of the card's PIN and PUK, written from card-profile.md, shared by the property
and fuzz tests.

Where the profile says nothing about the order of two checks, the model follows the order of
the card's handlers and says so in a comment marked ORDER:

* VERIFY: a blocked PIN answers 69 83 before the format of the PIN is looked at.
* CHANGE REFERENCE DATA / RESET RETRY COUNTER: the data length (16 bytes) first (6A 80), then
  "blocked" (69 83), then the format of the PIN fields (6A 80), then the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.iso7816.sw import SW
from simulator.piv.constants import CARD_MANAGER_AID, PIV_AID, KeyRef

PIN_LIMIT = 3  # card-profile.md: "Retry limits: PIN 3 (NHS)"
PAD = b"\xff"
PIN_INS = (0x20, 0x24, 0x2C)


def well_formed_pin(field: bytes) -> bool:
    """The profile's rule, written independently of the card: 6-8 ASCII digits, FF-padded to 8."""
    if len(field) != 8:
        return False
    digits = field.split(PAD, 1)[0]
    padding = field[len(digits) :]
    return 6 <= len(digits) <= 8 and digits.isdigit() and padding == PAD * len(padding)


def tries_sw(tries: int) -> int:
    return 0x63C0 | tries


def decode(raw: bytes) -> tuple[int, int, int, int, bytes] | None:
    """(CLA, INS, P1, P2, data), or None when the framing is invalid (the card answers 67 00)."""
    if len(raw) < 4:
        return None
    header, body = raw[:4], raw[4:]
    data = b""
    if len(body) >= 2 and body[0]:  # short Lc
        lc = body[0]
        if len(body) - 1 not in (lc, lc + 1):
            return None
        data = body[1 : 1 + lc]
    elif len(body) >= 2:  # 00: extended length
        if len(body) == 2:
            return None
        if len(body) > 3:
            lc = int.from_bytes(body[1:3], "big")
            if lc == 0 or len(body) - 3 not in (lc, lc + 2):
                return None
            data = body[3 : 3 + lc]
    return header[0], header[1], header[2], header[3], bytes(data)


@dataclass
class PinModel:
    pin: bytes
    puk: bytes
    puk_limit: int
    pin_tries: int = PIN_LIMIT
    puk_tries: int = -1  # -1: the limit
    verified: bool = False
    piv_selected: bool = True

    def __post_init__(self) -> None:
        if self.puk_tries < 0:
            self.puk_tries = self.puk_limit

    @property
    def terminated(self) -> bool:
        return self.pin_tries == 0 and self.puk_tries == 0

    def power_cycle(self) -> None:
        self.verified = False
        self.piv_selected = True

    def predict(self, raw: bytes) -> int | None:
        """Apply a raw APDU; the exact status word for PIN commands, else None."""
        decoded = decode(raw)
        if decoded is None:
            return None
        cla, ins, p1, p2, data = decoded
        if cla != 0x00:
            return None  # CLA 10: 68 84 for these (not chainable); others 6E 00 / 68 82
        if ins == 0xA4:
            self.select(p1, p2, data)
            return None
        if ins == 0x20:
            return self.verify(data, p1, p2) if data else self.status(p1, p2)
        if ins == 0x24:
            return self.change(data, p1, p2)
        if ins == 0x2C:
            return self.reset_retry_counter(data, p1, p2)
        return None

    def select(self, p1: int, p2: int, aid: bytes) -> None:
        if p1 != 0x04 or p2 not in (0x00, 0x0C):
            return
        if 5 <= len(aid) <= len(PIV_AID) and PIV_AID.startswith(aid):
            if not self.piv_selected:
                self.verified = False
            self.piv_selected = True
        elif 5 <= len(aid) <= len(CARD_MANAGER_AID) and CARD_MANAGER_AID.startswith(aid):
            self.verified = False
            self.piv_selected = False

    def status(self, p1: int = 0x00, p2: int = KeyRef.PIN) -> int:
        """VERIFY without data: the status query, or P1=FF (reset)."""
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED  # the card manager takes no PIV commands
        if p1 not in (0x00, 0xFF):
            return SW.INCORRECT_P1P2
        if p2 != KeyRef.PIN:
            return SW.REFERENCE_NOT_FOUND
        if p1 == 0xFF:
            self.verified = False
            return SW.SUCCESS
        # A blocked PIN answers 63 C0 here: 69 83 is for a PIN that would be compared.
        return SW.SUCCESS if self.verified else tries_sw(self.pin_tries)

    def verify(self, field: bytes, p1: int = 0x00, p2: int = KeyRef.PIN) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        if p1 not in (0x00, 0xFF):
            return SW.INCORRECT_P1P2
        if p2 != KeyRef.PIN:
            return SW.REFERENCE_NOT_FOUND
        if p1 == 0xFF:
            return SW.INCORRECT_DATA  # P1=FF resets and takes no data
        if self.pin_tries == 0:  # ORDER: blocked (69 83) before the format check (6A 80)
            return SW.AUTH_METHOD_BLOCKED
        if not well_formed_pin(field):
            return SW.INCORRECT_DATA
        if field == self.pin:
            self.pin_tries, self.verified = PIN_LIMIT, True
            return SW.SUCCESS
        self.pin_tries -= 1
        self.verified = False
        return tries_sw(self.pin_tries)

    def change(self, data: bytes, p1: int = 0x00, p2: int = KeyRef.PIN) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        if p1 != 0x00:
            return SW.INCORRECT_P1P2
        if p2 not in (KeyRef.PIN, KeyRef.PUK):
            return SW.REFERENCE_NOT_FOUND
        if len(data) != 16:  # ORDER: length first, even on a blocked reference
            return SW.INCORRECT_DATA
        old, new = data[:8], data[8:]
        if p2 == KeyRef.PUK:  # a PUK is any 8 bytes: no format check
            if self.puk_tries == 0:
                return SW.AUTH_METHOD_BLOCKED
            if old != self.puk:
                self.puk_tries -= 1
                return tries_sw(self.puk_tries)
            self.puk, self.puk_tries = new, self.puk_limit
            return SW.SUCCESS
        if self.pin_tries == 0:  # ORDER: blocked before the PIN format
            return SW.AUTH_METHOD_BLOCKED
        if not (well_formed_pin(old) and well_formed_pin(new)):
            return SW.INCORRECT_DATA
        if old != self.pin:
            self.pin_tries -= 1
            self.verified = False  # a wrong PIN, whatever the command, clears verification
            return tries_sw(self.pin_tries)
        self.pin, self.pin_tries = new, PIN_LIMIT  # the verified flag stays as it was
        return SW.SUCCESS

    def reset_retry_counter(self, data: bytes, p1: int = 0x00, p2: int = KeyRef.PIN) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        if p1 != 0x00:
            return SW.INCORRECT_P1P2
        if p2 != KeyRef.PIN:
            return SW.REFERENCE_NOT_FOUND
        if len(data) != 16:  # ORDER: length, then PUK blocked, then the new PIN's format
            return SW.INCORRECT_DATA
        if self.puk_tries == 0:
            return SW.AUTH_METHOD_BLOCKED
        puk, new_pin = data[:8], data[8:]
        if not well_formed_pin(new_pin):
            return SW.INCORRECT_DATA
        if puk != self.puk:
            self.puk_tries -= 1  # the PIN and its verified flag are untouched
            return tries_sw(self.puk_tries)
        self.puk_tries = self.puk_limit
        self.pin, self.pin_tries = new_pin, PIN_LIMIT  # "leaves the PIN's verified state"
        return SW.SUCCESS
