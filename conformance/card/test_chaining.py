"""Response chaining (61 xx / GET RESPONSE) and command chaining (CLA 10), on the raw wire.

These tests send APDUs below the connection's own framing (`helpers.exchange`), so they see
exactly what the card answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography import x509

from conformance.card.helpers import (
    algorithm_of,
    apdu,
    check_signature,
    check_sw,
    exchange,
    general_authenticate_data,
    get_data,
    response_value,
    select_piv,
    signature_input,
    sw_name,
)
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import tlv
from simulator.piv.constants import Ins, KeyRef, ObjectTag
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
Certificate = Callable[[KeyRef], x509.Certificate]
BLOCK = 16  # small blocks, so even a P-256 hash (38 bytes with its TLVs) makes a chain


def _get_response(conn: CardConnection, first: bytes, sw: int) -> tuple[bytes, int, list[int]]:
    """Follow 61 xx with GET RESPONSE; (all data, final SW, every 61 xx seen)."""
    parts, announced = [first], []
    while sw >> 8 == 0x61:
        announced.append(sw)
        data, sw = exchange(conn, bytes((0x00, Ins.GET_RESPONSE, 0x00, 0x00, sw & 0xFF)))
        parts.append(data)
        assert len(announced) < 1024, "the card never finished its answer"
    return b"".join(parts), sw, announced


def _raw_get_data(conn: CardConnection, tag: int) -> tuple[bytes, int, list[int]]:
    command = apdu(0x00, Ins.GET_DATA, 0x3F, 0xFF, tlv(0x5C, tag.to_bytes(3, "big")), 256)
    data, sw = exchange(conn, command)
    return _get_response(conn, data, sw)


@requirement("CARD-CHAIN-001", expected="61 xx after 256 bytes; joined parts = the object")
def test_response_chaining(card_connection: CardConnection) -> None:
    """A long answer arrives in parts through GET RESPONSE."""
    select_piv(card_connection)
    whole, sw = get_data(card_connection, ObjectTag.AUTH_CERT)
    check_sw(sw, SW.SUCCESS, what="GET DATA 5FC105 (through the connection)")
    assert len(whole) > 256, f"the certificate object is only {len(whole)} bytes"
    data, sw, announced = _raw_get_data(card_connection, ObjectTag.AUTH_CERT)
    assert announced, "no 61 xx for an answer longer than 256 bytes"
    check_sw(sw, SW.SUCCESS, what="last part")
    assert data == whole, "the parts joined differ from the object"


@requirement("CARD-CHAIN-002", expected="each 61 xx = bytes remaining (00 = 256+), last 90 00")
def test_remaining_counts(card_connection: CardConnection) -> None:
    """61 xx announces the bytes still to come."""
    select_piv(card_connection)
    total, sw = get_data(card_connection, ObjectTag.AUTH_CERT)
    check_sw(sw, SW.SUCCESS, what="GET DATA 5FC105 (through the connection)")
    command = apdu(0x00, Ins.GET_DATA, 0x3F, 0xFF, tlv(0x5C, b"\x5f\xc1\x05"), 256)
    data, sw = exchange(card_connection, command)
    received = len(data)
    while sw >> 8 == 0x61:
        remaining = len(total) - received
        expected = remaining if remaining < 256 else 0
        assert sw & 0xFF == expected, f"{sw_name(sw)} with {remaining} bytes left"
        part, sw = exchange(card_connection, bytes((0x00, Ins.GET_RESPONSE, 0, 0, sw & 0xFF)))
        received += len(part)
    check_sw(sw, SW.SUCCESS, what="last part")
    assert received == len(total), f"received {received} of {len(total)} bytes"


@requirement("CARD-CHAIN-003", expected="69 85 or 69 86")
def test_get_response_nothing_pending(card_connection: CardConnection) -> None:
    """GET RESPONSE with nothing pending is refused."""
    select_piv(card_connection)
    get_data(card_connection, ObjectTag.DISCOVERY)
    _, sw = exchange(card_connection, bytes((0x00, Ins.GET_RESPONSE, 0x00, 0x00, 0x00)))
    check_sw(
        sw,
        SW.CONDITIONS_NOT_SATISFIED,
        SW.COMMAND_NOT_ALLOWED,
        what="GET RESPONSE with nothing pending",
    )


def _ga_blocks(certificate: x509.Certificate, message: bytes) -> list[bytes]:
    data = general_authenticate_data(signature_input(certificate, message))
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]


@requirement("CARD-CHAIN-004", expected="90 00 for each CLA 10 block; the signature verifies")
def test_command_chaining(card_connection: CardConnection, certificate: Certificate) -> None:
    """A chained GENERAL AUTHENTICATE is executed whole."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    algorithm = algorithm_of(cert.public_key())
    message = b"chained " + os.urandom(8)
    blocks = _ga_blocks(cert, message)
    assert len(blocks) >= 2, "the command is too short to chain"
    for block in blocks[:-1]:
        command = apdu(0x10, Ins.GENERAL_AUTHENTICATE, algorithm, KeyRef.CARD_AUTHENTICATION, block)
        check_sw(exchange(card_connection, command)[1], SW.SUCCESS, what="chained block")
    last = apdu(
        0x00, Ins.GENERAL_AUTHENTICATE, algorithm, KeyRef.CARD_AUTHENTICATION, blocks[-1], 256
    )
    data, sw = exchange(card_connection, last)
    data, sw, _ = _get_response(card_connection, data, sw)
    check_sw(sw, SW.SUCCESS, what="last block")
    signature = response_value(data)
    assert signature, "no signature in the answer"
    check_signature(cert, message, signature)


@requirement("CARD-CHAIN-005", expected="the lone last block is refused (not 90 00)")
def test_interrupted_chain(card_connection: CardConnection, certificate: Certificate) -> None:
    """A chain interrupted by another command has no effect."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    algorithm = algorithm_of(cert.public_key())
    blocks = _ga_blocks(cert, b"interrupted")
    first = apdu(0x10, Ins.GENERAL_AUTHENTICATE, algorithm, KeyRef.CARD_AUTHENTICATION, blocks[0])
    check_sw(exchange(card_connection, first)[1], SW.SUCCESS, what="first chained block")
    check_sw(get_data(card_connection, ObjectTag.DISCOVERY)[1], SW.SUCCESS, what="GET DATA between")
    last = apdu(
        0x00, Ins.GENERAL_AUTHENTICATE, algorithm, KeyRef.CARD_AUTHENTICATION, blocks[-1], 256
    )
    _, sw = exchange(card_connection, last)
    assert sw != SW.SUCCESS, "the card joined an interrupted chain (last block answered 90 00)"


@requirement("CARD-CHAIN-006", expected="68 84, then GET DATA works")
def test_chaining_not_allowed(card_connection: CardConnection) -> None:
    """GET DATA cannot be chained."""
    select_piv(card_connection)
    command = apdu(0x10, Ins.GET_DATA, 0x3F, 0xFF, tlv(0x5C, b"\x7e"))
    check_sw(
        exchange(card_connection, command)[1],
        SW.COMMAND_CHAINING_NOT_SUPPORTED,
        what="GET DATA CLA 10",
    )
    check_sw(
        get_data(card_connection, ObjectTag.DISCOVERY)[1], SW.SUCCESS, what="GET DATA after it"
    )


@requirement("CARD-CHAIN-007", expected="6A 84 before 17 KiB of chained blocks are taken")
def test_chain_too_long(card_connection: CardConnection, certificate: Certificate) -> None:
    """A chain longer than 16 KiB is refused."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    algorithm = algorithm_of(cert.public_key())
    block = bytes(255)
    for _ in range(17 * 1024 // 255 + 2):
        command = apdu(0x10, Ins.GENERAL_AUTHENTICATE, algorithm, KeyRef.CARD_AUTHENTICATION, block)
        sw = exchange(card_connection, command)[1]
        if sw != SW.SUCCESS:
            check_sw(sw, SW.NOT_ENOUGH_MEMORY, what="chain over 16 KiB")
            return
    pytest.fail("the card took a 17 KiB command chain")
