"""Application selection, the application property template, the ATR and GET VERSION."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

import pytest
from cryptography import x509

from conformance.card.helpers import algorithm_of, apdu, check_sw, get_data, select_piv, send
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import find, parse_tlv
from simulator.piv.constants import PIV_AID, PIV_PIX_WITH_VERSION, PIV_RID, Ins, KeyRef, ObjectTag
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement


def _template(connection: CardConnection, aid: bytes = PIV_AID) -> list[tuple[int, bytes]]:
    answer, sw = select_piv(connection, aid)
    check_sw(sw, SW.SUCCESS, what=f"SELECT {aid.hex(' ').upper()}")
    items = parse_tlv(answer)
    assert len(items) == 1 and items[0][0] == 0x61, "SELECT answer is not one 61 template"
    return parse_tlv(items[0][1])


@requirement("CARD-SEL-001", expected="90 00 with 61 { 4F, 79, 50, AC }")
def test_select_full_aid(card_connection: CardConnection) -> None:
    """SELECT with the full PIV AID answers the application property template."""
    tags = [tag for tag, _ in _template(card_connection)]
    for tag in (0x4F, 0x79, 0x50, 0xAC):
        assert tag in tags, f"template lacks tag {tag:02X} (has {[f'{t:02X}' for t in tags]})"


@pytest.mark.parametrize("aid", [PIV_RID, PIV_AID[:9]], ids=["rid-5-bytes", "pix-without-version"])
@requirement("CARD-SEL-002", expected="90 00 and the template for each truncated AID")
def test_select_truncated_aid(card_connection: CardConnection, aid: bytes) -> None:
    """SELECT accepts a right-truncated PIV AID."""
    assert find(_template(card_connection, aid), 0x4F) is not None, "no 4F in the template"


@requirement("CARD-SEL-003", expected="4F = 00 00 10 00 01 00, 79 { 4F A0 00 00 03 08 }")
def test_template_aid_fields(card_connection: CardConnection) -> None:
    """The template names the PIX and the RID of the PIV application."""
    items = _template(card_connection)
    pix = find(items, 0x4F)
    assert pix is not None and PIV_AID.endswith(pix) and pix.startswith(PIV_PIX_WITH_VERSION[:4]), (
        f"4F is {pix.hex(' ') if pix else None}, expected the PIX {PIV_PIX_WITH_VERSION.hex(' ')}"
    )
    authority = find(items, 0x79)
    assert authority is not None, "no coexistent tag allocation authority (79)"
    assert find(parse_tlv(authority), 0x4F) == PIV_RID, "79 does not hold 4F A0 00 00 03 08"


@requirement(
    "CARD-SEL-004", expected="AC { 80 alg ... 06 00 } naming every certified key's algorithm"
)
def test_template_algorithms(
    card_connection: CardConnection, certificate: Callable[[KeyRef], x509.Certificate]
) -> None:
    """The template lists the card's algorithms, closed by the object identifier 06 00."""
    block = find(_template(card_connection), 0xAC)
    assert block is not None, "no cryptographic algorithms template (AC)"
    items = parse_tlv(block)
    assert items and items[-1] == (0x06, b"\x00"), "AC does not end with 06 00"
    announced = {value[0] for tag, value in items if tag == 0x80 and len(value) == 1}
    used = {algorithm_of(certificate(KeyRef.AUTHENTICATION).public_key())}
    missing = used - announced
    assert not missing, f"AC lacks algorithm(s) {sorted(f'{a:02X}' for a in missing)} of its keys"


@requirement("CARD-SEL-005", expected="50 with printable ASCII")
def test_template_label(card_connection: CardConnection) -> None:
    """The template carries a printable application label."""
    label = find(_template(card_connection), 0x50)
    assert label, "no application label (50)"
    assert all(0x20 <= byte < 0x7F for byte in label), f"label is not printable ASCII: {label!r}"


@requirement("CARD-SEL-006", expected="6A 82; GET DATA then still answers from PIV")
def test_select_unknown_aid(card_connection: CardConnection) -> None:
    """SELECT of an unknown AID answers 6A 82 and PIV stays selected."""
    check_sw(select_piv(card_connection)[1], SW.SUCCESS, what="SELECT PIV")
    _, sw = select_piv(card_connection, bytes.fromhex("A0000000999999"))
    check_sw(sw, SW.NOT_FOUND, what="SELECT of an unknown AID")
    _, sw = get_data(card_connection, ObjectTag.DISCOVERY)
    check_sw(sw, SW.SUCCESS, what="GET DATA after the failed SELECT")


@requirement("CARD-SEL-007", expected="3B ... T=1 announced, TCK correct, not 3B 8x 80 01")
def test_atr(card_connection: CardConnection) -> None:
    """The ATR is a contact ATR announcing T=1."""
    atr = card_connection.atr
    assert len(atr) >= 2 and atr[0] in (0x3B, 0x3F), f"TS is not 3B/3F: {atr.hex(' ')}"
    assert not (atr[1] & 0xF0 == 0x80 and atr[2:4] == b"\x80\x01"), "contactless-style ATR"
    protocols, position, y = set(), 2, atr[1] >> 4
    while True:
        position += sum(1 for bit in (0x1, 0x2, 0x4) if y & bit)  # TA, TB, TC
        if not y & 0x8:
            break
        td = atr[position]
        protocols.add(td & 0x0F)
        position, y = position + 1, td >> 4
    assert 1 in protocols, f"T=1 not announced (protocols {sorted(protocols)})"
    # With any protocol other than T=0 announced, TCK is present and XORs T0..TCK to 0.
    assert reduce(lambda a, b: a ^ b, atr[1:], 0) == 0, "TCK does not check"


@requirement("CARD-SEL-008", expected="90 00 with 3 bytes")
def test_get_version(card_connection: CardConnection) -> None:
    """GET VERSION (INS FD) answers three version bytes."""
    select_piv(card_connection)
    data, sw = send(card_connection, apdu(0x00, Ins.GET_VERSION, 0x00, 0x00, le=256))
    check_sw(sw, SW.SUCCESS, what="GET VERSION")
    assert len(data) == 3, f"GET VERSION answered {len(data)} bytes, expected 3"
