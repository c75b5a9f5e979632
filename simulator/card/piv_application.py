"""The PIV card application: its commands, its security status and its rules."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from simulator.card.crypto import SlotKey, encrypt_block
from simulator.card.faults import ConnectionDrop, Fault
from simulator.card.profile import CardProfile
from simulator.card.reference_data import ReferenceData, is_well_formed_pin
from simulator.card.state import CardState
from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import SW, PinVerifyError, StatusError
from simulator.iso7816.tlv import find, parse_tlv, single_tlv, tlv
from simulator.piv.constants import (
    ASYMMETRIC_SLOTS,
    BLOCK_SIZE,
    PIN_FIELD_LENGTH,
    PIN_PROTECTED_OBJECTS,
    PIV_PIX_WITH_VERSION,
    PIV_RID,
    TAG_CHALLENGE,
    TAG_DYN_AUTH,
    TAG_EXPONENTIATION,
    TAG_RESPONSE,
    TAG_WITNESS,
    Alg,
    Ins,
    KeyRef,
    ObjectTag,
)

Handler = Callable[[CommandApdu], bytes]

MAX_OBJECT_BYTES = 8 * 1024
MAX_TOTAL_OBJECT_BYTES = 64 * 1024
RANDOM_BYTES = 8  # answer length of the GENERAL AUTHENTICATE random-number form


def _writable_object(tag: int) -> bool:
    return tag == ObjectTag.DISCOVERY or 0x5FC101 <= tag <= 0x5FC123


class PivApplication:
    """Commands of the PIV application over a CardState. Handlers raise StatusError on failure."""

    def __init__(
        self,
        state: CardState,
        profile: CardProfile,
        *,
        on_change: Callable[[], None],
        delay: Callable[[str], None],
        random: Callable[[int], bytes] = os.urandom,
        comparing: Callable[[], None] = lambda: None,
    ) -> None:
        self.state = state
        self.profile = profile
        self._on_change = on_change
        self._delay = delay
        self._comparing = comparing
        self._random = random
        self.handlers: dict[int, Handler] = {
            Ins.GET_DATA: self.get_data,
            Ins.VERIFY: self.verify,
            Ins.CHANGE_REFERENCE_DATA: self.change_reference_data,
            Ins.RESET_RETRY_COUNTER: self.reset_retry_counter,
            Ins.GENERAL_AUTHENTICATE: self.general_authenticate,
            Ins.PUT_DATA: self.put_data,
            Ins.GENERATE_ASYMMETRIC_KEY_PAIR: self.generate_key_pair,
            Ins.GET_VERSION: self.get_version,
        }
        self._template = self._build_template()
        self.reset_security()

    # -- security status ------------------------------------------------------------------

    def reset_security(self) -> None:
        """Forget every verification: power-up, reset, another application selected."""
        self.pin_verified = False
        self.pin_always_ready = False  # a VERIFY that the next 9C signature may consume
        self.admin_authenticated = False
        self._admin_challenge: bytes | None = None
        self._admin_witness: bytes | None = None

    # -- SELECT ------------------------------------------------------------------------------

    def application_property_template(self) -> bytes:
        return self._template

    def _build_template(self) -> bytes:
        # Built once: SELECT is the most frequent command, and its answer never changes.
        algorithms = b"".join(tlv(0x80, bytes((alg,))) for alg in self.profile.supported_algorithms)
        return tlv(
            0x61,
            tlv(0x4F, PIV_PIX_WITH_VERSION)
            + tlv(0x79, tlv(0x4F, PIV_RID))
            + tlv(0x50, self.profile.label.encode("ascii"))
            + tlv(0xAC, algorithms + tlv(0x06, b"\x00")),
        )

    # -- GET DATA / PUT DATA -----------------------------------------------------------------

    def get_data(self, apdu: CommandApdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0x3F, 0xFF):
            raise StatusError(SW.INCORRECT_P1P2)
        tag = self._object_id(single_tlv(apdu.data, 0x5C))
        content = self.state.objects.get(tag)
        if content is None:
            raise StatusError(SW.NOT_FOUND, f"no object {tag:X}")
        if tag in PIN_PROTECTED_OBJECTS and not self.pin_verified:
            raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "object needs the PIN")
        if tag == ObjectTag.DISCOVERY:
            return tlv(0x7E, content)
        return tlv(0x53, content)

    def put_data(self, apdu: CommandApdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0x3F, 0xFF):
            raise StatusError(SW.INCORRECT_P1P2)
        if not self.admin_authenticated:
            raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "PUT DATA needs the admin key")
        items = parse_tlv(apdu.data)
        if len(items) != 2 or items[0][0] != 0x5C:
            raise StatusError(SW.INCORRECT_DATA, "expected 5C <id> then the object")
        tag = self._object_id(items[0][1])
        wrapper = 0x7E if tag == ObjectTag.DISCOVERY else 0x53
        if items[1][0] != wrapper or not _writable_object(tag):
            raise StatusError(SW.INCORRECT_DATA, "not a writable PIV object")
        content = items[1][1]
        others = sum(len(v) for t, v in self.state.objects.items() if t != tag)
        if len(content) > MAX_OBJECT_BYTES or others + len(content) > MAX_TOTAL_OBJECT_BYTES:
            raise StatusError(SW.NOT_ENOUGH_MEMORY)
        if content:
            self.state.objects[tag] = content
        else:
            self.state.objects.pop(tag, None)
        self._on_change()
        return b""

    @staticmethod
    def _object_id(value: bytes) -> int:
        if len(value) not in (1, 3):
            raise StatusError(SW.INCORRECT_DATA, "object identifiers are 1 or 3 bytes")
        return int.from_bytes(value, "big")

    # -- PIN and PUK ------------------------------------------------------------------------

    def verify(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 not in (0x00, 0xFF):
            raise StatusError(SW.INCORRECT_P1P2)
        if apdu.p2 != KeyRef.PIN:
            raise StatusError(SW.REFERENCE_NOT_FOUND, "only the PIV PIN can be verified")
        pin = self.state.pin
        if apdu.p1 == 0xFF:
            if apdu.data:
                raise StatusError(SW.INCORRECT_DATA, "P1=FF resets and takes no data")
            self.pin_verified = self.pin_always_ready = False
            return b""
        if not apdu.data:  # a status query: spends nothing
            if self.pin_verified:
                return b""
            raise PinVerifyError(pin.tries_left)
        if pin.blocked:
            raise StatusError(SW.AUTH_METHOD_BLOCKED)
        if not is_well_formed_pin(apdu.data):
            raise StatusError(SW.INCORRECT_DATA, "PIN must be 6-8 digits padded with FF")
        if self._check(pin, apdu.data, is_pin=True):
            self.pin_verified = self.pin_always_ready = True
            return b""
        self.pin_verified = self.pin_always_ready = False
        raise self._wrong_secret(pin, is_pin=True)

    def change_reference_data(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 != 0x00:
            raise StatusError(SW.INCORRECT_P1P2)
        if apdu.p2 not in (KeyRef.PIN, KeyRef.PUK):
            raise StatusError(SW.REFERENCE_NOT_FOUND)
        is_pin = apdu.p2 == KeyRef.PIN
        reference = self.state.pin if is_pin else self.state.puk
        if len(apdu.data) != 2 * PIN_FIELD_LENGTH:
            raise StatusError(SW.INCORRECT_DATA, "old and new values, 8 bytes each")
        if reference.blocked:
            raise StatusError(SW.AUTH_METHOD_BLOCKED)
        old, new = apdu.data[:PIN_FIELD_LENGTH], apdu.data[PIN_FIELD_LENGTH:]
        if is_pin and not (is_well_formed_pin(old) and is_well_formed_pin(new)):
            raise StatusError(SW.INCORRECT_DATA, "PIN must be 6-8 digits padded with FF")
        if not self._check(reference, old, is_pin=is_pin):
            if is_pin:
                self.pin_verified = self.pin_always_ready = False
            raise self._wrong_secret(reference, is_pin=is_pin)
        reference.replace(new)
        self._on_change()
        return b""

    def reset_retry_counter(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 != 0x00:
            raise StatusError(SW.INCORRECT_P1P2)
        if apdu.p2 != KeyRef.PIN:
            raise StatusError(SW.REFERENCE_NOT_FOUND, "only the PIN's counter can be reset")
        if len(apdu.data) != 2 * PIN_FIELD_LENGTH:
            raise StatusError(SW.INCORRECT_DATA, "PUK and new PIN, 8 bytes each")
        puk = self.state.puk
        if puk.blocked:
            raise StatusError(SW.AUTH_METHOD_BLOCKED)
        puk_field, new_pin = apdu.data[:PIN_FIELD_LENGTH], apdu.data[PIN_FIELD_LENGTH:]
        if not is_well_formed_pin(new_pin):
            raise StatusError(SW.INCORRECT_DATA, "PIN must be 6-8 digits padded with FF")
        if not self._check(puk, puk_field, is_pin=False):
            raise self._wrong_secret(puk, is_pin=False)
        self.state.pin.replace(new_pin)  # verified state of the PIN stays as it was
        self._on_change()
        return b""

    def _check(self, reference: ReferenceData, field: bytes, *, is_pin: bool) -> bool:
        """Anti-tearing: spend a try durably, then compare; only a match gives it back.

        The try is written (atomically, synced) before the comparison, so cutting the card
        off at any later moment costs the try; nothing observable before the write depends
        on the secret. The comparison itself is constant-time.
        """
        if Fault.TEARING_UNSAFE in self.state.faults:
            return self._check_then_spend(reference, field, is_pin=is_pin)
        spends = not (is_pin and Fault.COUNTER_NOT_DECREMENTED in self.state.faults)
        if spends:
            reference.tries_left -= 1
            self._on_change()
        self._comparing()
        if is_pin:
            self._delay("verify")
        if not reference.matches(field):
            return False
        self._restore(reference)
        return True

    def _check_then_spend(self, reference: ReferenceData, field: bytes, *, is_pin: bool) -> bool:
        """The tearing_unsafe fault: compare first, write the counter afterwards."""
        self._comparing()
        if is_pin:
            self._delay("verify")
        if not reference.matches(field):
            reference.tries_left -= 1
            self._on_change()
            return False
        self._restore(reference)
        return True

    def _restore(self, reference: ReferenceData) -> None:
        """A match: the counter back at its limit (written only if it moved)."""
        if reference.tries_left != reference.limit:
            reference.tries_left = reference.limit
            self._on_change()

    def _wrong_secret(self, reference: ReferenceData, *, is_pin: bool) -> StatusError:
        if is_pin and Fault.WRONG_SW_ON_WRONG_PIN in self.state.faults:
            return StatusError(SW.SECURITY_STATUS_NOT_SATISFIED)
        return PinVerifyError(reference.tries_left)

    # -- GENERAL AUTHENTICATE --------------------------------------------------------------

    def general_authenticate(self, apdu: CommandApdu) -> bytes:
        items = parse_tlv(single_tlv(apdu.data, TAG_DYN_AUTH))
        if apdu.p2 == KeyRef.CARD_MANAGEMENT:
            return tlv(TAG_DYN_AUTH, self._admin_authenticate(apdu.p1, items))
        try:
            slot = KeyRef(apdu.p2)
        except ValueError:
            raise StatusError(SW.INCORRECT_P1P2, "unknown key reference") from None
        if slot not in ASYMMETRIC_SLOTS:
            raise StatusError(SW.INCORRECT_P1P2, "not a key for GENERAL AUTHENTICATE")
        key = self.state.keys.get(slot)
        if key is None:
            raise StatusError(SW.REFERENCE_NOT_FOUND, "no key in this slot")
        if apdu.p1 != key.algorithm:
            raise StatusError(SW.INCORRECT_P1P2, "algorithm does not match the key")
        self._require_pin_for(slot)
        return tlv(TAG_DYN_AUTH, tlv(TAG_RESPONSE, self._private_key_operation(slot, key, items)))

    def _require_pin_for(self, slot: KeyRef) -> None:
        if slot == KeyRef.CARD_AUTHENTICATION:
            return
        if not self.pin_verified:
            raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "key needs the PIN")
        if slot == KeyRef.SIGNATURE:
            if not self.pin_always_ready:
                raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "9C needs a fresh VERIFY")
            self.pin_always_ready = False  # PIN-always: each signature consumes the VERIFY

    def _private_key_operation(
        self, slot: KeyRef, key: SlotKey, items: list[tuple[int, bytes]]
    ) -> bytes:
        tags = [tag for tag, _ in items]
        if find(items, TAG_RESPONSE) != b"" or len(tags) != 2:
            raise StatusError(SW.INCORRECT_DATA, "expected an empty 82 and one of 81 or 85")
        if Fault.DROP_CONNECTION in self.state.faults:
            raise ConnectionDrop
        exponentiation = find(items, TAG_EXPONENTIATION)
        if exponentiation is not None:
            if slot != KeyRef.KEY_MANAGEMENT or key.is_rsa:
                raise StatusError(SW.INCORRECT_DATA, "key agreement is for an EC 9D key")
            self._delay("ec_sign")
            return key.key_agreement(exponentiation)
        challenge = find(items, TAG_CHALLENGE)
        if challenge is None:
            raise StatusError(SW.INCORRECT_DATA, "nothing to sign")
        if slot == KeyRef.KEY_MANAGEMENT and not key.is_rsa:
            raise StatusError(SW.INCORRECT_DATA, "an EC key management key only agrees keys")
        self._delay("rsa_sign" if key.is_rsa else "ec_sign")
        return key.private_operation(challenge)

    def _admin_authenticate(self, algorithm: int, items: list[tuple[int, bytes]]) -> bytes:
        """9B: random bytes (alg 00), or witness / challenge / response with the admin key."""
        values = dict(items)
        if algorithm == 0x00:
            if values != {TAG_CHALLENGE: b""}:
                raise StatusError(SW.INCORRECT_DATA)
            return tlv(TAG_CHALLENGE, self._random(RANDOM_BYTES))
        if algorithm != self.state.admin_algorithm:
            raise StatusError(SW.INCORRECT_P1P2, "algorithm does not match the admin key")
        block = BLOCK_SIZE[Alg(algorithm)]

        def encrypt(data: bytes) -> bytes:
            return encrypt_block(Alg(algorithm), self.state.admin_key, data)

        if values == {TAG_WITNESS: b""}:  # mutual authentication, step 1
            self._admin_witness = self._random(block)
            self._admin_challenge = None
            return tlv(TAG_WITNESS, encrypt(self._admin_witness))
        if set(values) == {TAG_WITNESS, TAG_CHALLENGE} and values[TAG_CHALLENGE]:
            witness, self._admin_witness = self._admin_witness, None
            if witness is None or not hmac.compare_digest(witness, values[TAG_WITNESS]):
                self.admin_authenticated = False
                raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "wrong witness")
            if len(values[TAG_CHALLENGE]) != block:
                raise StatusError(SW.INCORRECT_DATA, "challenge must be one block")
            self.admin_authenticated = True
            return tlv(TAG_RESPONSE, encrypt(values[TAG_CHALLENGE]))
        if values == {TAG_CHALLENGE: b""}:  # external authentication, step 1
            self._admin_challenge = self._random(block)
            self._admin_witness = None
            return tlv(TAG_CHALLENGE, self._admin_challenge)
        if set(values) == {TAG_RESPONSE} and values[TAG_RESPONSE]:
            challenge, self._admin_challenge = self._admin_challenge, None
            expected = encrypt(challenge) if challenge is not None else None
            if expected is None or not hmac.compare_digest(expected, values[TAG_RESPONSE]):
                self.admin_authenticated = False
                raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "wrong response")
            self.admin_authenticated = True
            return b""
        raise StatusError(SW.INCORRECT_DATA, "not a card management authentication step")

    # -- GENERATE ASYMMETRIC KEY PAIR, GET VERSION -----------------------------------------

    def generate_key_pair(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 != 0x00 or apdu.p2 not in ASYMMETRIC_SLOTS:
            raise StatusError(SW.INCORRECT_P1P2)
        if not self.admin_authenticated:
            raise StatusError(SW.SECURITY_STATUS_NOT_SATISFIED, "GENERATE needs the admin key")
        template = parse_tlv(single_tlv(apdu.data, 0xAC))
        algorithm = find(template, 0x80)
        if algorithm is None or len(algorithm) != 1:
            raise StatusError(SW.INCORRECT_DATA, "expected AC { 80 01 <alg> }")
        if algorithm[0] not in self.profile.generation_algorithms:
            raise StatusError(SW.INCORRECT_DATA, "algorithm not supported by this card")
        key = SlotKey.generate(Alg(algorithm[0]))
        self.state.keys[KeyRef(apdu.p2)] = key
        self._on_change()
        return key.public_key_template()

    def get_version(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 or apdu.p2:
            raise StatusError(SW.INCORRECT_P1P2)
        if apdu.data:
            raise StatusError(SW.WRONG_LENGTH)
        return self.profile.version
