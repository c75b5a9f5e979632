"""Stateful property test: the card's PIN and PUK counters against a model (card-profile.md).

The model is tests/pin_model.py (shared with the fuzz test). Every step compares the exact
status word with the model's, and the invariants compare the counters, the PIN and PUK values
and the PIN's verified flag with the card's.
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
from tests.pin_model import PAD, PIN_LIMIT, PinModel, well_formed_pin

pytestmark = pytest.mark.slow

PUK_LIMITS = [3, 5, 10]  # "PUK a profile setting (<= 10)"
INITIAL_PIN = "123456"
INITIAL_PUK = "12345678"


@functools.cache
def _base_state(puk_tries: int, locked: bool) -> CardState:
    # Series 10 keys are P-256: building a state costs milliseconds.
    return blank_card_state(10, INITIAL_PIN, INITIAL_PUK, puk_tries=puk_tries, locked=locked)


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
    st.binary(min_size=8, max_size=8).filter(lambda f: not well_formed_pin(f)),
)
malformed_pins = st.one_of(malformed_pin_fields, wrong_length)
# Anything of 8 bytes: mostly well-formed, some malformed (the model decides which is which).
pin_fields = st.one_of(pins, malformed_pin_fields)
puk_values = st.one_of(
    st.text(alphabet=DIGITS, min_size=8, max_size=8).map(str.encode),
    st.binary(min_size=8, max_size=8),
)


class PinMachine(RuleBasedStateMachine):
    """The card and a model of its PIN/PUK reference data, driven by the same commands."""

    def __init__(self) -> None:
        super().__init__()
        self.card: VirtualCard | None = None
        self.model = PinModel(pad_pin(INITIAL_PIN), INITIAL_PUK.encode(), puk_limit=3)

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
        self.model = PinModel(
            pad_pin(INITIAL_PIN),
            INITIAL_PUK.encode(),
            puk_limit=puk_limit,
            pin_tries=pin_tries,
            puk_tries=state.puk.tries_left,
        )

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

    def _predicted(self, apdu: bytes) -> int:
        expected = self.model.predict(apdu)
        assert expected is not None
        return expected

    def _expect(self, apdu: bytes, expected: int) -> None:
        data, sw = self._send(apdu)
        assert sw == expected, f"{apdu.hex()}: card {sw:04X}, model {expected:04X}"
        assert data == b"", f"{apdu.hex()}: unexpected data {data.hex()}"

    @property
    def pin(self) -> bytes:
        return self.model.pin

    @property
    def puk(self) -> bytes:
        return self.model.puk

    # -- VERIFY ----------------------------------------------------------------------------

    @rule()
    def verify_right_pin(self) -> None:
        field = self.pin
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self.model.verify(field))

    @rule(field=pins)
    def verifywell_formed_pin(self, field: bytes) -> None:
        # Usually wrong; the model works out whether it happens to be the PIN.
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self.model.verify(field))

    @rule(field=malformed_pins)
    def verify_malformed_pin(self, field: bytes) -> None:
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self.model.verify(field))

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
        self._expect(_apdu(Ins.VERIFY, 0x00, KeyRef.PIN, field), self.model.verify(field))

    @rule(form=st.sampled_from(["4-byte", "Lc=00"]))
    def verify_status_query(self, form: str) -> None:
        apdu = _apdu(Ins.VERIFY, 0x00, KeyRef.PIN)
        if form == "Lc=00":
            apdu += b"\x00"
        self._expect(apdu, self.model.status())

    @rule(form=st.sampled_from(["4-byte", "Lc=00"]))
    def verify_reset(self, form: str) -> None:
        apdu = _apdu(Ins.VERIFY, 0xFF, KeyRef.PIN)
        if form == "Lc=00":
            apdu += b"\x00"
        self._expect(apdu, self.model.status(p1=0xFF))

    @rule(right=st.booleans(), field=pins)
    def verify_reset_with_data(self, right: bool, field: bytes) -> None:
        # Profile is silent; the card refuses data with P1=FF (6A 80) and changes nothing.
        apdu = _apdu(Ins.VERIFY, 0xFF, KeyRef.PIN, self.pin if right else field)
        self._expect(apdu, self.model.verify(self.pin if right else field, p1=0xFF))

    @rule(
        p1=st.sampled_from([0x00, 0xFF, 0x01, 0x80]),
        p2=st.sampled_from([0x00, 0x81, 0x9A, 0x9B, 0x01]),
        right=st.booleans(),
    )
    def verify_bad_parameters(self, p1: int, p2: int, right: bool) -> None:
        field = (self.pin if right else b"00000000") if p1 == 0x00 else None
        apdu = _apdu(Ins.VERIFY, p1, p2, field)
        self._expect(apdu, self._predicted(apdu))

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
        expected = self.model.change(data, p2=KeyRef.PIN)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PIN, data), expected)

    @rule(old=malformed_pin_fields, new=pins)
    def change_pin_malformed_old(self, old: bytes, new: bytes) -> None:
        data = old + new
        expected = self.model.change(data, p2=KeyRef.PIN)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PIN, data), expected)

    @rule(right_old=st.booleans(), old=puk_values, new=puk_values)
    def change_puk(self, right_old: bool, old: bytes, new: bytes) -> None:
        data = (self.puk if right_old else old) + new
        expected = self.model.change(data, p2=KeyRef.PUK)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PUK, data), expected)

    @rule(reference=st.sampled_from([KeyRef.PIN, KeyRef.PUK]), length=st.integers(1, 24))
    def change_wrong_length(self, reference: KeyRef, length: int) -> None:
        current = self.pin if reference == KeyRef.PIN else self.puk
        data = (current + pad_pin("654321") + b"\xff" * 16)[:length]
        if reference == KeyRef.PIN:
            expected = self.model.change(data, p2=KeyRef.PIN)
        else:
            expected = self.model.change(data, p2=KeyRef.PUK)
        self._expect(_apdu(Ins.CHANGE_REFERENCE_DATA, 0x00, reference, data), expected)

    @rule(p1=st.sampled_from([0x00, 0x01, 0xFF]), p2=st.sampled_from([0x00, 0x9A, 0x82]))
    def change_bad_parameters(self, p1: int, p2: int) -> None:
        apdu = _apdu(Ins.CHANGE_REFERENCE_DATA, p1, p2, self.pin + pad_pin("654321"))
        self._expect(apdu, self._predicted(apdu))

    # -- RESET RETRY COUNTER -----------------------------------------------------------------

    @rule(right_puk=st.booleans(), puk=puk_values, new=pins)
    def reset_retry_counter(self, right_puk: bool, puk: bytes, new: bytes) -> None:
        data = (self.puk if right_puk else puk) + new
        expected = self.model.reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(puk=puk_values, new=pins)
    def reset_retry_counter_wrong_puk(self, puk: bytes, new: bytes) -> None:
        data = puk + new  # the model works out whether it happens to be the PUK
        expected = self.model.reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(right_puk=st.booleans(), new=malformed_pin_fields)
    def reset_retry_counter_malformed_new_pin(self, right_puk: bool, new: bytes) -> None:
        data = (self.puk if right_puk else b"\x00" * 8) + new
        expected = self.model.reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(length=st.integers(1, 24))
    def reset_retry_counter_wrong_length(self, length: int) -> None:
        data = (self.puk + pad_pin("654321") + b"\xff" * 16)[:length]
        expected = self.model.reset_retry_counter(data)
        self._expect(_apdu(Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data), expected)

    @rule(p1=st.sampled_from([0x00, 0x01]), p2=st.sampled_from([0x81, 0x00, 0x9B]))
    def reset_retry_counter_bad_parameters(self, p1: int, p2: int) -> None:
        # "only for the PIN": RESET RETRY COUNTER of the PUK (81) is 6A 88.
        apdu = _apdu(Ins.RESET_RETRY_COUNTER, p1, p2, self.puk + pad_pin("654321"))
        self._expect(apdu, self._predicted(apdu))

    # -- power and application selection ------------------------------------------------------

    @rule()
    def power_up(self) -> None:
        assert self.card is not None
        self.card.power_up()
        self.model.power_cycle()

    @rule()
    def reset(self) -> None:
        assert self.card is not None
        self.card.reset()
        self.model.power_cycle()

    @rule()
    def power_down(self) -> None:
        # The next command powers the card up again (a contact card that receives a command).
        assert self.card is not None
        self.card.power_down()
        self.model.power_cycle()

    @rule(p2=st.sampled_from([0x00, 0x0C]), length=st.sampled_from([5, 8]))
    def select_card_manager(self, p2: int, length: int) -> None:
        data, sw = self._send(_apdu(Ins.SELECT, 0x04, p2, CARD_MANAGER_AID[:length]))
        assert sw == SW.SUCCESS
        assert (data == b"") if p2 == 0x0C else (data[:1] == b"\x6f")
        # "selecting another valid application resets PIV security status"
        self.model.select(0x04, p2, CARD_MANAGER_AID[:length])

    @rule(p2=st.sampled_from([0x00, 0x0C]), length=st.sampled_from([5, 9, 11]))
    def select_piv(self, p2: int, length: int) -> None:
        data, sw = self._send(_apdu(Ins.SELECT, 0x04, p2, PIV_AID[:length]))
        # Re-selecting PIV while PIV is selected is not "another application": nothing resets.
        self.model.select(0x04, p2, PIV_AID[:length])
        expected = SW.WARNING_SELECTED_FILE_DEACTIVATED if self.model.terminated else SW.SUCCESS
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
        assert state.pin.tries_left == self.model.pin_tries
        assert state.puk.tries_left == self.model.puk_tries
        assert state.pin.limit == PIN_LIMIT
        assert state.puk.limit == self.model.puk_limit
        assert 0 <= state.pin.tries_left <= PIN_LIMIT
        assert 0 <= state.puk.tries_left <= self.model.puk_limit
        assert self.card.piv.pin_verified == self.model.verified
        assert (self.card.selected == "piv") == self.model.piv_selected
        assert state.pin.matches(self.model.pin), "the card's PIN is not the model's"
        assert state.puk.matches(self.model.puk), "the card's PUK is not the model's"
        assert state.terminated == self.model.terminated
        # The card's own consistency: verified implies not blocked.
        assert not (self.card.piv.pin_verified and state.pin.blocked)


PinMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPinModel = PinMachine.TestCase
