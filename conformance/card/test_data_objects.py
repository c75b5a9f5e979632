"""Data objects: CCC, CHUID, Discovery, Printed Information, certificate containers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from conformance.card.helpers import apdu, check_sw, get_data, send, verify
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import find, parse_tlv, tlv
from simulator.piv.client import PivClient
from simulator.piv.constants import CERT_OBJECT_FOR_KEY, PIV_AID, Ins, KeyRef, ObjectTag
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
# DER of the signedData content type, 1.2.840.113549.1.7.2.
SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")


def _object(connection: CardConnection, tag: int) -> list[tuple[int, bytes]]:
    """The TLVs inside a 53-wrapped object; asserts the wrapping is exact."""
    answer, sw = get_data(connection, tag)
    check_sw(sw, SW.SUCCESS, what=f"GET DATA {tag:X}")
    items = parse_tlv(answer)
    assert len(items) == 1 and items[0][0] == 0x53, f"object {tag:X} is not exactly one 53 TLV"
    return parse_tlv(items[0][1])


@requirement("CARD-DATA-001", expected="53 { F0 (21 bytes), F1, F2, ... } without a PIN")
def test_ccc(piv: PivClient, card_connection: CardConnection) -> None:
    """The Card Capability Container is readable and well formed."""
    items = _object(card_connection, ObjectTag.CCC)
    identifier = find(items, 0xF0)
    assert identifier is not None and len(identifier) == 21, "card identifier F0 is not 21 bytes"
    for tag in (0xF1, 0xF2):
        assert find(items, tag) is not None, f"CCC lacks version field {tag:02X}"


@requirement("CARD-DATA-002", expected="30 (25 bytes), 34 (16 bytes, not all 00/FF), 35, 3E, FE")
def test_chuid_structure(piv: PivClient, card_connection: CardConnection) -> None:
    """The CHUID holds FASC-N, GUID, expiry, signature and LRC."""
    items = _object(card_connection, ObjectTag.CHUID)
    tags = [tag for tag, _ in items]
    for tag in (0x30, 0x34, 0x35, 0x3E, 0xFE):
        assert tag in tags, f"CHUID lacks tag {tag:02X}"
    fascn, guid = find(items, 0x30), find(items, 0x34)
    assert fascn is not None and len(fascn) == 25, "FASC-N is not 25 bytes"
    assert guid is not None and len(guid) == 16, "GUID is not 16 bytes"
    assert guid not in (b"\x00" * 16, b"\xff" * 16), "GUID is all 00 or all FF"


@requirement("CARD-DATA-003", expected="35 = YYYYMMDD, today or later")
def test_chuid_expiry(piv: PivClient, card_connection: CardConnection) -> None:
    """The CHUID expiration date is valid and has not passed."""
    expiry = find(_object(card_connection, ObjectTag.CHUID), 0x35)
    assert expiry is not None and len(expiry) == 8 and expiry.isdigit(), f"35 is {expiry!r}"
    text = expiry.decode()
    when = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    assert when >= datetime.now(UTC).date(), f"the CHUID expired on {when}"


@requirement("CARD-DATA-004", expected="3E holds DER ContentInfo with content type signedData")
def test_chuid_signature(piv: PivClient, card_connection: CardConnection) -> None:
    """The CHUID signature is a CMS SignedData."""
    signature = find(_object(card_connection, ObjectTag.CHUID), 0x3E)
    assert signature, "the CHUID signature (3E) is empty"
    items = parse_tlv(signature)
    assert len(items) == 1 and items[0][0] == 0x30, "3E is not one DER SEQUENCE"
    assert items[0][1].startswith(SIGNED_DATA_OID), "content type is not signedData"


@requirement("CARD-DATA-005", expected="7E { 4F <PIV AID>, 5F 2F 02 40 00 }, not wrapped in 53")
def test_discovery(piv: PivClient, card_connection: CardConnection) -> None:
    """The Discovery object names the PIV AID and the PIN usage policy."""
    answer, sw = get_data(card_connection, ObjectTag.DISCOVERY)
    check_sw(sw, SW.SUCCESS, what="GET DATA 7E")
    items = parse_tlv(answer)
    assert len(items) == 1 and items[0][0] == 0x7E, "Discovery is not one bare 7E TLV"
    inner = parse_tlv(items[0][1])
    assert find(inner, 0x4F) == PIV_AID, "Discovery 4F is not the PIV AID"
    policy = find(inner, 0x5F2F)
    assert policy is not None and len(policy) == 2, "no PIN usage policy (5F 2F)"
    assert policy[0] & 0x40, f"PIN usage policy {policy.hex(' ')} does not say PIV PIN"


@requirement("CARD-DATA-006", expected="69 82 without a verified PIN")
def test_printed_information_needs_pin(piv: PivClient, card_connection: CardConnection) -> None:
    """The Printed Information cannot be read without the PIN."""
    _, sw = get_data(card_connection, ObjectTag.PRINTED_INFORMATION)
    check_sw(sw, SW.SECURITY_STATUS_NOT_SATISFIED, what="GET DATA 5FC109 without PIN")


@requirement("CARD-DATA-007", expected="01 = name, 02 = the certificate's 12-digit UUID")
def test_printed_information_after_pin(
    piv: PivClient, card_connection: CardConnection, card_pin: str
) -> None:
    """After VERIFY, the Printed Information carries the name and the UUID."""
    subject = piv.certificate(KeyRef.AUTHENTICATION).subject
    uuid = str(subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    items = _object(card_connection, ObjectTag.PRINTED_INFORMATION)
    name, affiliation = find(items, 0x01), find(items, 0x02)
    assert name, "no name (01)"
    assert affiliation is not None, "no employee affiliation (02)"
    assert affiliation.decode(errors="replace") == uuid, f"02 is {affiliation!r}, UUID is {uuid}"
    assert len(uuid) == 12 and uuid.isdigit(), f"UUID {uuid!r} is not 12 digits"


@requirement("CARD-DATA-008", expected="6A 82")
def test_missing_object(piv: PivClient, card_connection: CardConnection) -> None:
    """GET DATA of an object the card does not hold answers 6A 82."""
    _, sw = get_data(card_connection, 0x5FC120)  # retired key 20: not on NHS cards
    check_sw(sw, SW.NOT_FOUND, what="GET DATA 5FC120")


@pytest.mark.parametrize("p1p2", [(0x00, 0x00), (0x3F, 0x00), (0x00, 0xFF)], ids=str)
@requirement("CARD-DATA-009", expected="6A 86")
def test_get_data_bad_p1p2(
    piv: PivClient, card_connection: CardConnection, p1p2: tuple[int, int]
) -> None:
    """GET DATA with P1 P2 other than 3F FF answers 6A 86."""
    data = tlv(0x5C, ObjectTag.CHUID.to_bytes(3, "big"))
    _, sw = send(card_connection, apdu(0x00, Ins.GET_DATA, *p1p2, data, 256))
    check_sw(sw, SW.INCORRECT_P1P2, what=f"GET DATA with P1 P2 {p1p2[0]:02X} {p1p2[1]:02X}")


@pytest.mark.parametrize(
    "data",
    [bytes.fromhex("5C025FC1"), bytes.fromhex("5D035FC102"), bytes.fromhex("5C04005FC102")],
    ids=["5c-2-bytes", "not-5c", "5c-4-bytes"],
)
@requirement("CARD-DATA-010", expected="6A 80")
def test_get_data_bad_tag_list(
    piv: PivClient, card_connection: CardConnection, data: bytes
) -> None:
    """GET DATA with a malformed tag list answers 6A 80."""
    _, sw = send(card_connection, apdu(0x00, Ins.GET_DATA, 0x3F, 0xFF, data, 256))
    check_sw(sw, SW.INCORRECT_DATA, what=f"GET DATA with {data.hex(' ').upper()}")


@requirement("CARD-DATA-011", expected="53 { 70 <DER>, 71 01 00, FE 00 } for every certificate")
def test_certificate_containers(piv: PivClient, card_connection: CardConnection) -> None:
    """Every certificate object has the PIV container layout."""
    seen = 0
    for slot, tag in CERT_OBJECT_FOR_KEY.items():
        _, sw = get_data(card_connection, tag)
        if sw == SW.NOT_FOUND:
            continue
        check_sw(sw, SW.SUCCESS, what=f"GET DATA {tag:X}")
        seen += 1
        items = _object(card_connection, tag)
        assert [t for t, _ in items] == [0x70, 0x71, 0xFE], (
            f"key {slot:02X} container tags are {[f'{t:02X}' for t, _ in items]}"
        )
        assert find(items, 0x71) == b"\x00", f"key {slot:02X}: CertInfo is not 71 01 00"
        assert find(items, 0xFE) == b"", f"key {slot:02X}: LRC is not FE 00"
        x509.load_der_x509_certificate(find(items, 0x70) or b"")
    assert seen, "no certificate objects at all"
