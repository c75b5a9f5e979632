"""Stateful property test: the card's PIN and PUK counters against a model (card-profile.md).

The model is written from card-profile.md ("VERIFY", "CHANGE REFERENCE DATA", "RESET RETRY
COUNTER", "Selecting another valid application resets PIV security status"). Where the profile
says nothing about the order of two checks, the model follows the order of the card's handlers
(simulator/card/piv_application.py) and says so in a comment marked ORDER:

* VERIFY: a blocked PIN answers 69 83 before the format of the PIN is looked at.
* CHANGE REFERENCE DATA / RESET RETRY COUNTER: the data length (16 bytes) is checked first
  (6A 80), then "blocked" (69 83), then the format of the PIN fields (6A 80), then the value.

Every step compares the exact status word with the model's, and the invariants compare the
counters, the PIN and PUK values and the PIN's verified flag with the card's.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from simulator.card.card import VirtualCard
from simulator.card.factory import blank_card_state
from simulator.card.state import CardState
from simulator.iso7816.sw import SW, is_valid_sw
from simulator.piv.constants import CARD_MANAGER_AID, PIV_AID, Ins, KeyRef, pad_pin
from tests.cards import clone as _clone

pytestmark = pytest.mark.slow

PIN_LIMIT = 3  # card-profile.md: "Retry limits: PIN 3 (NHS)"
PUK_LIMITS = [3, 5, 10]  # "PUK a profile setting (<= 10)"
INITIAL_PIN = "123456"
INITIAL_PUK = "12345678"
PAD = b"\xff"


@functools.cache
def _base_state(puk_tries: int, locked: bool) -> CardState:
    # Series 10 keys are P-256: building a state costs milliseconds.
    return blank_card_state(10, INITIAL_PIN, INITIAL_PUK, puk_tries=puk_tries, locked=locked)


def _well_formed_pin(field: bytes) -> bool:
    """The profile's rule, written independently of the card: 6-8 ASCII digits, FF-padded to 8."""
    if len(field) != 8:
        return False
    digits = field.split(PAD, 1)[0]
    padding = field[len(digits) :]
    return (
        6 <= len(digits) <= 8
        and all(0x30 <= b <= 0x39 for b in digits)
        and padding == PAD * len(padding)
    )


def _tries_sw(tries: int) -> int:
    return 0x63C0 | tries


def _apdu(ins: int, p1: int, p2: int, data: bytes | None = None, cla: int = 0x00) -> bytes:
    header = bytes((cla, ins, p1, p2))
    if data is None:
        return header
    return header + bytes((len(data),)) + data


# -- strategies -------------------------------------------------------------------------------

DIGITS = "0123456789"
pins = st.text(alphabet=DIGITS, min_size=6, max_size=8).map(pad_pin)
short_pins = st.text(alphabet=DIGITS, min_size=0, max_size=5).map(pad_pin)
pins_with_letters = st.builds(
    lambda digits, letter, at: pad_pin(digits[:at] + letter + digits[at:]),
    st.text(alphabet=DIGITS, min_size=5, max_size=7),
    st.sampled_from("aZ- .x"),
    st.integers(0, 7),
)
pins_with_wrong_padding = st.builds(
    lambda digits, pad: digits.encode() + pad * (8 - len(digits)),
    st.text(alphabet=DIGITS, min_size=6, max_size=7),
    st.sampled_from([b"\x00", b" ", b"\xfe", b"\x7f"]),
)
pins_with_gap = st.builds(
    lambda a, b: (a.encode() + b"\xff" + b.encode()).ljust(8, b"\xff")[:8],
    st.text(alphabet=DIGITS, min_size=1, max_size=5),
    st.text(alphabet=DIGITS, min_size=1, max_size=2),
)
wrong_length = st.one_of(
    st.text(alphabet=DIGITS, min_size=6, max_size=8).map(str.encode),  # unpadded
    st.binary(min_size=1, max_size=7),
    st.binary(min_size=9, max_size=20),
    pins.map(lambda field: field + b"\xff"),
)
malformed_pin_fields = st.one_of(  # 8 bytes, not 6-8 digits padded with FF
    short_pins,
    pins_with_letters,
    pins_with_wrong_padding,
    pins_with_gap,
    st.binary(min_size=8, max_size=8).filter(lambda f: not _well_formed_pin(f)),
)
malformed_pins = st.one_of(malformed_pin_fields, wrong_length)
# Anything of 8 bytes: mostly well-formed, some malformed (the model decides which is which).
pin_fields = st.one_of(pins, malformed_pin_fields)
puk_values = st.one_of(
    st.text(alphabet=DIGITS, min_size=8, max_size=8).map(str.encode),
    st.binary(min_size=8, max_size=8),
)


class PinModel(RuleBasedStateMachine):
    """The card and a model of its PIN/PUK reference data, driven by the same commands."""

    def __init__(self) -> None:
        super().__init__()
        self.card: VirtualCard | None = None
        self.pin = pad_pin(INITIAL_PIN)
        self.puk = INITIAL_PUK.encode()
        self.pin_tries = PIN_LIMIT
        self.puk_tries = 3
        self.puk_limit = 3
        self.verified = False
        self.piv_selected = True

    @initialize(
        puk_limit=st.sampled_from(PUK_LIMITS),
        pin_tries=st.sampled_from([PIN_LIMIT, PIN_LIMIT, 2, 1, 0]),
        puk_spent=st.sampled_from([0, 0, 1, 2, 3]),
    )
    def new_card(self, puk_limit: int, pin_tries: int, puk_spent: int) -> None:
        # A locked card comes from the factory; partly spent counters are set on the clone
        # (a card file can hold them), so blocked PUKs and terminated cards are reached.
        state = _clone(_base_state(puk_limit, pin_tries == 0))
        state.pin.tries_left = pin_tries
        state.puk.tries_left = puk_limit - min(puk_spent, puk_limit)
        self.card = VirtualCard(state, sleep=lambda _: None)
        self.puk_limit = puk_limit
        self.pin_tries = pin_tries
        self.puk_tries = state.puk.tries_left

    # -- helpers ---------------------------------------------------------------------------

    def _send(self, apdu: bytes) -> tuple[bytes, int]:
        assert self.card is not None
        response = self.card.execute(apdu)
        assert isinstance(response, bytes)
        assert len(response) >= 2
        sw = int.from_bytes(response[-2:], "big")
        assert is_valid_sw(sw), f"{apdu.hex()} -> {response.hex()}"
        assert sw != SW.INTERNAL_ERROR, f"card bug on {apdu.hex()}"
        return response[:-2], sw

    def _expect(self, apdu: bytes, expected: int) -> None:
        data, sw = self._send(apdu)
        assert sw == expected, f"{apdu.hex()}: card {sw:04X}, model {expected:04X}"
        assert data == b"", f"{apdu.hex()}: unexpected data {data.hex()}"

    @property
    def terminated(self) -> bool:
        return self.pin_tries == 0 and self.puk_tries == 0

    def _model_verify(self, field: bytes) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED  # the card manager takes no PIV commands
        if self.pin_tries == 0:  # ORDER: blocked (69 83) before the format check (6A 80)
            return SW.AUTH_METHOD_BLOCKED
        if not _well_formed_pin(field):
            return SW.INCORRECT_DATA
        if field == self.pin:
            self.pin_tries = PIN_LIMIT
            self.verified = True
            return SW.SUCCESS
        self.pin_tries -= 1
        self.verified = False
        return _tries_sw(self.pin_tries)

    def _model_change_pin(self, data: bytes) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        if len(data) != 16:  # ORDER: length first, even on a blocked PIN
            return SW.INCORRECT_DATA
        if self.pin_tries == 0:  # ORDER: blocked before the PIN format
            return SW.AUTH_METHOD_BLOCKED
        old, new = data[:8], data[8:]
        if not (_well_formed_pin(old) and _well_formed_pin(new)):
            return SW.INCORRECT_DATA
        if old != self.pin:
            self.pin_tries -= 1
            self.verified = False  # a wrong PIN, whatever the command, clears verification
            return _tries_sw(self.pin_tries)
        self.pin = new
        self.pin_tries = PIN_LIMIT  # the verified flag stays as it was
        return SW.SUCCESS

    def _model_change_puk(self, data: bytes) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        if len(data) != 16:
            return SW.INCORRECT_DATA
        if self.puk_tries == 0:
            return SW.AUTH_METHOD_BLOCKED
        old, new = data[:8], data[8:]  # a PUK is any 8 bytes: no format check
        if old != self.puk:
            self.puk_tries -= 1
            return _tries_sw(self.puk_tries)
        self.puk = new
        self.puk_tries = self.puk_limit
        return SW.SUCCESS

    def _model_reset_retry_counter(self, data: bytes) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        if len(data) != 16:  # ORDER: length, then PUK blocked, then the new PIN's format
            return SW.INCORRECT_DATA
        if self.puk_tries == 0:
            return SW.AUTH_METHOD_BLOCKED
        puk, new_pin = data[:8], data[8:]
        if not _well_formed_pin(new_pin):
            return SW.INCORRECT_DATA
        if puk != self.puk:
            self.puk_tries -= 1  # the PIN and its verified flag are untouched
            return _tries_sw(self.puk_tries)
        self.puk_tries = self.puk_limit
        self.pin = new_pin
        self.pin_tries = PIN_LIMIT  # "leaves the PIN's verified state as it was"
        return SW.SUCCESS

    def _model_status(self) -> int:
        if not self.piv_selected:
            return SW.INS_NOT_SUPPORTED
        # Profile: "90 00 if verified, else 63 CX (X = tries left); counter unchanged" -- a
        # blocked PIN answers 63 C0 here: the 69 83 rule is for a PIN that would be compared.
        return SW.SUCCESS if self.verified else _tries_sw(self.pin_tries)

    def _power_cycle(self) -> None:
        self.verified = False
        self.piv_selected = True

    # -- VERIFY ----------------------------------------------------------------------------

    @rule()
    def verify_right_pin(self) -> None:
        field = self.pin
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self._model_verify(field))

    @rule(field=pins)
    def verify_well_formed_pin(self, field: bytes) -> None:
        # Usually wrong; the model works out whether it happens to be the PIN.
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self._model_verify(field))

    @rule(field=malformed_pins)
    def verify_malformed_pin(self, field: bytes) -> None:
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self._model_verify(field))

    @rule(transform=st.sampled_from(["unpadded", "zero-padded", "space-padded", "extra-byte"]))
    def verify_right_pin_badly_encoded(self, transform: str) -> None:
        digits = self.pin.rstrip(PAD)
        field = {
            "unpadded": digits,
            "zero-padded": digits.ljust(8, b"\x00"),
            "space-padded": digits.ljust(8, b" "),
            "extra-byte": self.pin + PAD,
        }[transform]
        if field == self.pin:  # an 8-digit PIN has no padding to get wrong
            return
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self._model_verify(field))

    @rule(form=st.sampled_from(["4-byte", "Lc=00"]))
    def verify_status_query(self, form: str) -> None:
        apdu = _apdu(Ins.VERIFY, 0x00, KeyRef.PIN)
        if form == "Lc=00":
            apdu += b"\x00"
        self._expect(apdu, self._model_status())

    @rule(form=st.sampled_from(["4-byte", "Lc=00"]))
    def verify_reset(self, form: str) -> None:
        apdu = _apdu(Ins.VERIFY, 0xFF, KeyRef.PIN)
        if form == "Lc=00":
            apdu += b"\x00"
        expected: int = SW.INS_NOT_SUPPORTED
        if self.piv_selected:
            self.verified = False
            expected = SW.SUCCESS
        self._expect(apdu, expected)

    @rule(right=st.booleans(), field=pins)
    def verify_reset_with_data(self, right: bool, field: bytes) -> None:
        # Profile is silent; the card refuses data with P1=FF (6A 80) and changes nothing.
        apdu = _apdu(Ins.VERIFY, 0xFF, KeyRef.PIN, self.pin if right else field)
        expected = SW.INCORRECT_DATA if self.piv_selected else SW.INS_NOT_SUPPORTED
        self._expect(apdu, expected)

    @rule(
        p1=st.sampled_from([0x00, 0xFF, 0x01, 0x80]),
        p2=st.sampled_from([0x00, 0x81, 0x9A, 0x9B, 0x01]),
        right=st.booleans(),
    )
    def verify_bad_parameters(self, p1: int, p2: int, right: bool) -> None:
        field = (self.pin if right else b"00000000") if p1 == 0x00 else None
        if not self.piv_selected:
            expected: int = SW.INS_NOT_SUPPORTED
        elif p1 not in (0x00, 0xFF):
            expected = SW.INCORRECT_P1P2
        else:
            expected = SW.REFERENCE_NOT_FOUND
        self._expect(_apdu(Ins.VERIFY, p1, p2, field), expected)

    @rule(cla=st.sampled_from([0x10, 0x0C, 0x80, 0x01]))
    def verify_right_pin_with_wrong_class(self, cla: int) -> None:
        # CLA 10: VERIFY is not chainable (68 84); 0C: secure messaging (68 82); else 6E 00.
        expected = {
            0x10: SW.COMMAND_CHAINING_NOT_SUPPORTED,
            0x0C: SW.SECURE_MESSAGING_NOT_SUPPORTED,
        }.get(cla, SW.CLA_NOT_SUPPORTED)
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, self.pin, cla=cla), expected)

    # -- CHANGE REFERENCE DATA ---------------------------------------------------------------

    @rule(right_old=st.booleans(), old=pins, new=pin_fields)
    def change_pin(self, right_old: bool, old: bytes, new: bytes) -> None:
        data = (self.pin if right_old else old) + new
        expected = self._model_change_pin(data)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PIN, data), expected)

    @rule(old=malformed_pin_fields, new=pins)
    def change_pin_malformed_old(self, old: bytes, new: bytes) -> None:
        data = old + new
        expected = self._model_change_pin(data)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PIN, data), expected)

    @rule(right_old=st.booleans(), old=puk_values, new=puk_values)
    def change_puk(self, right_old: bool, old: bytes, new: bytes) -> None:
        data = (self.puk if right_old else old) + new
        expected = self._model_change_puk(data)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PUK, data), expected)

    @rule(reference=st.sampled_from([KeyRef.PIN, KeyRef.PUK]), length=st.integers(1, 24))
    def change_wrong_length(self, reference: KeyRef, length: int) -> None:
        current = self.pin if reference == KeyRef.PIN else self.puk
        data = (current + pad_pin("654321") + b"\xff" * 16)[:length]
        if reference == KeyRef.PIN:
            expected = self._model_change_pin(data)
        else:
            expected = self._model_change_puk(data)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, reference, data), expected)

    @rule(p1=st.sampled_from([0x00, 0x01, 0xFF]), p2=st.sampled_from([0x00, 0x9A, 0x82]))
    def change_bad_parameters(self, p1: int, p2: int) -> None:
        if not self.piv_selected:
            expected: int = SW.INS_NOT_SUPPORTED
        elif p1 != 0x00:
            expected = SW.INCORRECT_P1P2
        else:
            expected = SW.REFERENCE_NOT_FOUND
        data = self.pin + pad_pin("654321")
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, p1, p2, data), expected)

    # -- RESET RETRY COUNTER -----------------------------------------------------------------

    @rule(right_puk=st.booleans(), puk=puk_values, new=pins)
    def reset_retry_counter(self, right_puk: bool, puk: bytes, new: bytes) -> None:
        data = (self.puk if right_puk else puk) + new
        expected = self._model_reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(puk=puk_values, new=pins)
    def reset_retry_counter_wrong_puk(self, puk: bytes, new: bytes) -> None:
        data = puk + new  # the model works out whether it happens to be the PUK
        expected = self._model_reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(right_puk=st.booleans(), new=malformed_pin_fields)
    def reset_retry_counter_malformed_new_pin(self, right_puk: bool, new: bytes) -> None:
        data = (self.puk if right_puk else b"\x00" * 8) + new
        expected = self._model_reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(length=st.integers(1, 24))
    def reset_retry_counter_wrong_length(self, length: int) -> None:
        data = (self.puk + pad_pin("654321") + b"\xff" * 16)[:length]
        expected = self._model_reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(p1=st.sampled_from([0x00, 0x01]), p2=st.sampled_from([0x81, 0x00, 0x9B]))
    def reset_retry_counter_bad_parameters(self, p1: int, p2: int) -> None:
        # "only for the PIN": RESET RETRY COUNTER of the PUK (81) is 6A 88.
        if not self.piv_selected:
            expected: int = SW.INS_NOT_SUPPORTED
        elif p1 != 0x00:
            expected = SW.INCORRECT_P1P2
        else:
            expected = SW.REFERENCE_NOT_FOUND
        data = self.puk + pad_pin("654321")
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, p1, p2, data), expected)

    # -- power and application selection ------------------------------------------------------

    @rule()
    def power_up(self) -> None:
        assert self.card is not None
        self.card.power_up()
        self._power_cycle()

    @rule()
    def reset(self) -> None:
        assert self.card is not None
        self.card.reset()
        self._power_cycle()

    @rule()
    def power_down(self) -> None:
        # The next command powers the card up again (a contact card that receives a command).
        assert self.card is not None
        self.card.power_down()
        self._power_cycle()

    @rule(p2=st.sampled_from([0x00, 0x0C]), length=st.sampled_from([5, 8]))
    def select_card_manager(self, p2: int, length: int) -> None:
        data, sw = self._send(_apdu(Ins.SELECT, 0x04, p2, CARD_MANAGER_AID[:length]))
        assert sw == SW.SUCCESS
        assert (data == b"") if p2 == 0x0C else (data[:1] == b"\x6f")
        self.verified = False  # "selecting another valid application resets PIV security"
        self.piv_selected = False

    @rule(p2=st.sampled_from([0x00, 0x0C]), length=st.sampled_from([5, 9, 11]))
    def select_piv(self, p2: int, length: int) -> None:
        data, sw = self._send(_apdu(Ins.SELECT, 0x04, p2, PIV_AID[:length]))
        # Re-selecting PIV while PIV is selected is not "another application": nothing resets.
        if not self.piv_selected:
            self.verified = False
        self.piv_selected = True
        expected = SW.WARNING_SELECTED_FILE_DEACTIVATED if self.terminated else SW.SUCCESS
        assert sw == expected, f"SELECT PIV: card {sw:04X}, model {expected:04X}"
        assert (data == b"") if p2 == 0x0C else (data[:1] == b"\x61")

    @rule()
    def select_unknown_application(self) -> None:
        # "an unknown AID returns 6A 82 and leaves everything as it was"
        unknown = bytes.fromhex("A000000063504B43532D3135")  # PKCS#15, not on this card
        self._expect(_apdu(Ins.SELECT, 0x04, 0x00, unknown), SW.NOT_FOUND)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def card_matches_model(self) -> None:
        if self.card is None:
            return
        state = self.card.state
        assert state.pin.tries_left == self.pin_tries
        assert state.puk.tries_left == self.puk_tries
        assert state.pin.limit == PIN_LIMIT
        assert state.puk.limit == self.puk_limit
        assert 0 <= state.pin.tries_left <= PIN_LIMIT
        assert 0 <= state.puk.tries_left <= self.puk_limit
        assert self.card.piv.pin_verified == self.verified
        assert (self.card.selected == "piv") == self.piv_selected
        assert state.pin.matches(self.pin), "the card's PIN is not the model's"
        assert state.puk.matches(self.puk), "the card's PUK is not the model's"
        assert state.terminated == self.terminated
        # The card's own consistency: verified implies not blocked.
        assert not (self.card.piv.pin_verified and state.pin.blocked)


PinModel.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPinModel = PinModel.TestCase
