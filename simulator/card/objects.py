"""Builders for the PIV data objects an NHS card carries (SP 800-73-4 Part 1, Appendix A)."""

from __future__ import annotations

from datetime import date

from simulator.iso7816.tlv import tlv, tlvs
from simulator.piv.constants import PIV_AID

# A FASC-N of the non-federal issuer form (agency, system and credential numbers all 9s):
# PIV-I cards carry this value, and GUID (tag 34) is then the card's unique identifier.
NON_FEDERAL_FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")
GSC_RID = bytes.fromhex("A000000116")


def certificate_object(der: bytes) -> bytes:
    """Content of a certificate object: the certificate, CertInfo (uncompressed), LRC."""
    return tlvs(((0x70, der), (0x71, b"\x00"), (0xFE, b"")))


def chuid_content(guid: bytes, expiry: date) -> bytes:
    """The signed part of the CHUID: FASC-N, GUID and expiration date."""
    return tlvs(
        ((0x30, NON_FEDERAL_FASCN), (0x34, guid), (0x35, expiry.strftime("%Y%m%d").encode()))
    )


def chuid_object(guid: bytes, expiry: date, signature: bytes) -> bytes:
    """CHUID: FASC-N, GUID (unique per card), expiry, issuer asymmetric signature, LRC."""
    return chuid_content(guid, expiry) + tlv(0x3E, signature) + tlv(0xFE)


def ccc_object(card_id: bytes) -> bytes:
    """Card Capability Container with a 21-byte card identifier unique to this card."""
    identifier = (GSC_RID + b"\xff\x02" + card_id.ljust(14, b"\x00"))[:21]
    return tlvs(
        (
            (0xF0, identifier),
            (0xF1, b"\x21"),
            (0xF2, b"\x21"),
            (0xF3, b""),
            (0xF4, b"\x00"),
            (0xF5, b"\x10"),
            (0xF6, b""),
            (0xF7, b""),
            (0xFA, b""),
            (0xFB, b""),
            (0xFC, b""),
            (0xFD, b""),
            (0xFE, b""),
        )
    )


def printed_information_object(name: str, uuid: str, expiry: date, serial: str) -> bytes:
    """Printed Information (PIN-protected). Employee affiliation (02) carries the NHS UUID."""
    return tlvs(
        (
            (0x01, name.encode("utf-8")[:32]),
            (0x02, uuid.encode("ascii")[:20]),
            (0x04, expiry.strftime("%Y%b%d").upper().encode("ascii")),
            (0x05, serial.encode("ascii")[:10]),
            (0x06, b"NHS CIS TEST"),
            (0xFE, b""),
        )
    )


def discovery_content() -> bytes:
    """Value of the Discovery object (7E): the PIV AID and the PIN usage policy (PIV PIN only)."""
    return tlv(0x4F, PIV_AID) + tlv(0x5F2F, b"\x40\x00")
