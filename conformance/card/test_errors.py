"""Status words on malformed commands: unknown INS and CLA, wrong lengths, bad P1 P2."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509

from conformance.card.helpers import algorithm_of, apdu, check_sw, select_piv, send, sw_name
from simulator.iso7816.sw import SW, is_valid_sw
from simulator.piv.constants import PIV_AID, Ins, KeyRef
from simulator.reader.connection import CardConnection
from simulator.reader.guard import spends_pin_try, state_change

requirement = pytest.mark.requirement
Certificate = Callable[[KeyRef], x509.Certificate]


@pytest.fixture
def conn(card_connection: CardConnection) -> CardConnection:
    check_sw(select_piv(card_connection)[1], SW.SUCCESS, what="SELECT PIV")
    return card_connection


@pytest.mark.parametrize("ins", [0x50, 0x0E, 0xE2], ids=lambda i: f"ins-{i:02x}")
@requirement("CARD-ERR-001", expected="6D 00")
def test_unknown_instruction(conn: CardConnection, ins: int) -> None:
    """An unknown instruction answers 6D 00."""
    check_sw(
        send(conn, bytes((0x00, ins, 0x00, 0x00)))[1], SW.INS_NOT_SUPPORTED, what=f"INS {ins:02X}"
    )


@requirement("CARD-ERR-002", expected="6E 00")
def test_unknown_class(conn: CardConnection) -> None:
    """An unknown class byte answers 6E 00."""
    command = apdu(0x80, Ins.GET_DATA, 0x3F, 0xFF, bytes.fromhex("5C017E"), 256)
    check_sw(send(conn, command)[1], SW.CLA_NOT_SUPPORTED, what="CLA 80")


@requirement("CARD-ERR-003", expected="68 82")
def test_secure_messaging_class(conn: CardConnection) -> None:
    """Secure messaging in CLA answers 68 82."""
    command = apdu(0x0C, Ins.GET_DATA, 0x3F, 0xFF, bytes.fromhex("5C017E"), 256)
    check_sw(send(conn, command)[1], SW.SECURE_MESSAGING_NOT_SUPPORTED, what="CLA 0C")


@pytest.mark.parametrize(
    "raw",
    ["00CB3FFF055C035FC1", "00CB3FFF035C035FC10200", "00CB3FFF0A5C035FC102"],
    ids=["lc-longer-than-data", "data-longer-than-lc-le", "lc-10-data-5"],
)
@requirement("CARD-ERR-004", expected="67 00")
def test_wrong_length(conn: CardConnection, raw: str) -> None:
    """Lc that does not match the data answers 67 00."""
    check_sw(send(conn, bytes.fromhex(raw))[1], SW.WRONG_LENGTH, what=f"APDU {raw}")


@pytest.mark.parametrize("p1p2", [(0x00, 0x00), (0x04, 0x01), (0x02, 0x00)], ids=str)
@requirement("CARD-ERR-005", expected="6A 86")
def test_select_bad_p1p2(conn: CardConnection, p1p2: tuple[int, int]) -> None:
    """SELECT with bad P1 P2 answers 6A 86."""
    _, sw = send(conn, apdu(0x00, Ins.SELECT, *p1p2, PIV_AID, 256))
    check_sw(sw, SW.INCORRECT_P1P2, what=f"SELECT P1 P2 {p1p2[0]:02X} {p1p2[1]:02X}")


@requirement("CARD-ERR-006", expected="6A 80")
def test_truncated_template(conn: CardConnection, certificate: Certificate) -> None:
    """A TLV length running past the data answers 6A 80."""
    algorithm = algorithm_of(certificate(KeyRef.CARD_AUTHENTICATION).public_key())
    data = bytes.fromhex("7C108200810501020304")
    command = apdu(0x00, Ins.GENERAL_AUTHENTICATE, algorithm, KeyRef.CARD_AUTHENTICATION, data, 256)
    check_sw(send(conn, command)[1], SW.INCORRECT_DATA, what="7C with a length past the data")


MALFORMED = [
    "00A40400",  # SELECT without an AID
    "00A404000100",  # SELECT with a 1-byte AID 00
    "00A40400FF" + "A0" * 255,  # AID far too long
    "00CB3FFF",  # GET DATA without data
    "00CB3FFF00",  # GET DATA with only Le
    "00CB3FFF0000",  # extended-length marker without a length
    "00CB3FFF000003",  # extended Lc of 3 with no data
    "00CB3FFF015C",  # 5C without a length
    "00CB3FFF035C817E",  # long-form length byte mismatch
    "00CB3FFF025CFF",  # 5C with a length past the data
    "00CB3FFF055C835FC102",  # 83 length with too few bytes
    "00870000",  # GENERAL AUTHENTICATE without data
    "0087009A027C00",  # empty template
    "0087009E037C0181",  # template with a truncated inner TLV
    "0087009B047C028000",  # 9B with algorithm 00 and a witness request
    "00C0000000",  # GET RESPONSE with nothing pending
    "00C0000102",  # GET RESPONSE with P1 P2
    "00FD000001",  # GET VERSION with Le 1
    "00FD0000020102",  # GET VERSION with data
    "0020FF8001FF",  # VERIFY reset with data
    "00208000",  # VERIFY P1=80
    "0020009A",  # VERIFY of a key that has no PIN
    "01CB3FFF035C017E00",  # logical channel 1
    "03CB3FFF035C017E00",  # logical channel 3
    "40CB3FFF035C017E00",  # further interindustry class
    "FFCB3FFF035C017E00",  # CLA FF (PTS)
    "1CCB3FFF035C017E00",  # chained and secure messaging
    "00A4040C05A000000308",  # SELECT without answer data (P2 0C)
]


@requirement(
    "CARD-ERR-007", expected="a profile status word for each, never 6F 00; SELECT works after"
)
def test_malformed_commands(conn: CardConnection) -> None:
    """Malformed commands get proper status words and leave the card working."""
    for raw in MALFORMED:
        command = bytes.fromhex(raw)
        if state_change(command) or spends_pin_try(command):
            continue  # never on a card that is not ours; these carry no PIN anyway
        _, sw = send(conn, command)
        assert sw != SW.INTERNAL_ERROR, f"{raw}: 6F 00 (a card bug)"
        assert is_valid_sw(sw), f"{raw}: {sw_name(sw)} is not a status word of the profile"
        check_sw(select_piv(conn)[1], SW.SUCCESS, what=f"SELECT PIV after {raw}")
