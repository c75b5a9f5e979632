"""A PIV client over any connection: the reads and operations the agent and suites share.

It sees only `transmit(apdu) -> (data, sw)`; chaining and GET RESPONSE are the connection's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import (
    SW,
    StatusError,
    raise_for_status,
    verification_status,
)
from simulator.iso7816.tlv import find, iter_tlv, tlv
from simulator.piv.constants import (
    CERT_OBJECT_FOR_KEY,
    PIV_AID,
    TAG_CHALLENGE,
    TAG_DYN_AUTH,
    TAG_RESPONSE,
    Ins,
    KeyRef,
    ObjectTag,
    pad_pin,
)


class Connection(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...


@dataclass(frozen=True)
class CardIdentity:
    """What a read-only look at a card tells: enough to name the card and its holder."""

    label: str
    guid: str | None
    uuid: str | None
    name: str | None
    pin_tries_left: int | None  # None: the PIN is verified in this session
    certificates: dict[KeyRef, x509.Certificate]


class PivClient:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _send(self, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 256) -> bytes:
        body, sw = self.connection.transmit(CommandApdu(0, ins, p1, p2, data, le).to_bytes())
        raise_for_status(sw)
        return body

    def select(self) -> list[tuple[int, bytes]]:
        """SELECT the PIV application; the items of its application property template."""
        answer = self._send(Ins.SELECT, 0x04, 0x00, PIV_AID)
        template = find(iter_tlv(answer), 0x61) or b""
        return list(iter_tlv(template))

    def read_object(self, tag: int) -> bytes:
        """The content of a data object (inside tag 53; Discovery inside 7E)."""
        identifier = tag.to_bytes(1 if tag == ObjectTag.DISCOVERY else 3, "big")
        answer = self._send(Ins.GET_DATA, 0x3F, 0xFF, tlv(0x5C, identifier))
        wrapper = 0x7E if tag == ObjectTag.DISCOVERY else 0x53
        value = find(iter_tlv(answer), wrapper)
        if value is None:
            raise StatusError(SW.INCORRECT_DATA, f"object {tag:X} not wrapped in {wrapper:X}")
        return value

    def certificate(self, slot: KeyRef) -> x509.Certificate:
        content = self.read_object(CERT_OBJECT_FOR_KEY[slot])
        der = find(iter_tlv(content), 0x70)
        if der is None:
            raise StatusError(SW.INCORRECT_DATA, "certificate object without tag 70")
        return x509.load_der_x509_certificate(der)

    def pin_tries_left(self) -> int | None:
        """Tries left (the VERIFY status query, which spends nothing); None when verified."""
        _, sw = self.connection.transmit(bytes((0x00, Ins.VERIFY, 0x00, KeyRef.PIN)))
        return verification_status(sw)

    def verify_pin(self, pin: str) -> None:
        """Raises PinVerifyError with the tries left on a wrong PIN."""
        self._send(Ins.VERIFY, 0x00, KeyRef.PIN, pad_pin(pin), le=None)

    def sign(self, slot: KeyRef, algorithm: int, block: bytes) -> bytes:
        """GENERAL AUTHENTICATE: the card's signature over a prepared block (or hash)."""
        request = tlv(TAG_DYN_AUTH, tlv(TAG_RESPONSE) + tlv(TAG_CHALLENGE, block))
        answer = self._send(Ins.GENERAL_AUTHENTICATE, algorithm, slot, request)
        inner = find(iter_tlv(answer), TAG_DYN_AUTH) or b""
        signature = find(iter_tlv(inner), TAG_RESPONSE)
        if signature is None:
            raise StatusError(SW.INCORRECT_DATA, "no signature in the answer")
        return signature

    def identity(self) -> CardIdentity:
        """Read, without changing anything, who and what the card is."""
        label = (find(self.select(), 0x50) or b"").decode("ascii", "replace")
        guid = None
        try:
            guid_bytes = find(iter_tlv(self.read_object(ObjectTag.CHUID)), 0x34)
            guid = guid_bytes.hex().upper() if guid_bytes else None
        except StatusError:
            pass
        certificates: dict[KeyRef, x509.Certificate] = {}
        for slot in CERT_OBJECT_FOR_KEY:
            try:
                certificates[slot] = self.certificate(slot)
            except StatusError:
                continue
        uuid = name = None
        auth = certificates.get(KeyRef.AUTHENTICATION)
        if auth is not None:
            serials = auth.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
            names = auth.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            uuid = str(serials[0].value) if serials else None
            name = str(names[0].value) if names else None
        return CardIdentity(label, guid, uuid, name, self.pin_tries_left(), certificates)
