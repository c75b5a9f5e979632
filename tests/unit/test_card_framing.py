"""Class byte, instruction byte, length errors, chaining both ways, and the 6F 00 boundary."""

from __future__ import annotations

import pytest

from simulator.card.card import VirtualCard
from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import iter_tlv
from simulator.piv.constants import ObjectTag
from tests.cards import raw, send, verify


@pytest.mark.parametrize("cla", [0x80, 0xFF, 0x40, 0x01, 0x20])
def test_unknown_class_is_6e00(card: VirtualCard, cla: int) -> None:
    assert send(card, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C017E"), cla=cla)[1] == SW.CLA_NOT_SUPPORTED


@pytest.mark.parametrize("cla", [0x04, 0x08, 0x0C, 0x1C])
def test_secure_messaging_is_6882(card: VirtualCard, cla: int) -> None:
    assert send(card, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C017E"), cla=cla)[1] == (
        SW.SECURE_MESSAGING_NOT_SUPPORTED
    )


@pytest.mark.parametrize("ins", [0x00, 0x0E, 0xB0, 0xCA, 0xE2, 0xF8])
def test_unknown_instruction_is_6d00(card: VirtualCard, ins: int) -> None:
    assert send(card, ins)[1] == SW.INS_NOT_SUPPORTED


@pytest.mark.parametrize(
    "apdu",
    ["", "00", "00 CB", "00 CB 3F", "00 CB 3F FF 05 5C 03", "00 CB 3F FF 02 5C 01 7E 00 00"],
)
def test_bad_framing_is_6700(card: VirtualCard, apdu: str) -> None:
    assert card.execute(bytes.fromhex(apdu)) == SW.WRONG_LENGTH.bytes


def test_extended_length_commands_work(card: VirtualCard) -> None:
    data, sw = raw(card, "00 CB 3F FF 00 00 03 5C 01 7E 00 00")
    assert sw == SW.SUCCESS and data.startswith(b"\x7e\x12")


def test_long_response_comes_in_parts_and_reassembles(card: VirtualCard) -> None:
    whole = card.state.objects[ObjectTag.AUTH_CERT]
    first, sw = raw(card, "00 CB 3F FF 05 5C 03 5F C1 05 00")
    assert len(first) == 256 and sw & 0xFF00 == 0x6100
    received = first
    while sw & 0xFF00 == 0x6100:
        part, sw = raw(card, f"00 C0 00 00 {sw & 0xFF:02X}")
        received += part
    assert sw == SW.SUCCESS
    ((tag, value),) = iter_tlv(received)
    assert (tag, value) == (0x53, whole)


def test_le_smaller_than_the_answer_gives_that_many_bytes(card: VirtualCard) -> None:
    data, sw = raw(card, "00 CB 3F FF 03 5C 01 7E 10")
    assert len(data) == 16 and sw == 0x6104
    rest, sw = raw(card, "00 C0 00 00 00")
    assert sw == SW.SUCCESS and len(rest) == 4


def test_get_response_without_pending_data_is_6986(card: VirtualCard) -> None:
    assert raw(card, "00 C0 00 00 00")[1] == SW.COMMAND_NOT_ALLOWED


def test_another_command_discards_a_pending_response(card: VirtualCard) -> None:
    assert raw(card, "00 CB 3F FF 05 5C 03 5F C1 05 00")[1] & 0xFF00 == 0x6100
    assert raw(card, "00 FD 00 00 00")[1] == SW.SUCCESS
    assert raw(card, "00 C0 00 00 00")[1] == SW.COMMAND_NOT_ALLOWED


def test_get_response_with_bad_parameters(card: VirtualCard) -> None:
    raw(card, "00 CB 3F FF 05 5C 03 5F C1 05 00")
    assert raw(card, "00 C0 01 00 00")[1] == SW.INCORRECT_P1P2


def _chained(card: VirtualCard, ins: int, p1: int, p2: int, data: bytes) -> list[int]:
    blocks = [data[i : i + 100] for i in range(0, len(data), 100)]
    sws = []
    for index, block in enumerate(blocks):
        cla = 0x00 if index == len(blocks) - 1 else 0x10
        sws.append(send(card, ins, p1, p2, block, le=256 if cla == 0 else None, cla=cla)[1])
    return sws


def test_command_chaining_assembles_the_command(card: VirtualCard) -> None:
    from tests.unit.test_card_auth import rsa_sign_command_data

    assert verify(card) == SW.SUCCESS
    sws = _chained(card, 0x87, 0x07, 0x9A, rsa_sign_command_data(b"chained"))
    assert sws[:-1] == [SW.SUCCESS] * (len(sws) - 1)
    assert sws[-1] == SW.SUCCESS or sws[-1] & 0xFF00 == 0x6100


def test_interrupted_chain_has_no_effect(card: VirtualCard) -> None:
    from tests.unit.test_card_auth import rsa_sign_command_data

    assert verify(card) == SW.SUCCESS
    data = rsa_sign_command_data(b"interrupted")
    assert send(card, 0x87, 0x07, 0x9A, data[:100], cla=0x10)[1] == SW.SUCCESS
    assert raw(card, "00 FD 00 00 00")[1] == SW.SUCCESS
    # The tail alone is not a valid template: the first block was discarded.
    assert send(card, 0x87, 0x07, 0x9A, data[100:], le=256)[1] == SW.INCORRECT_DATA


def test_chaining_an_instruction_that_does_not_chain_is_6884(card: VirtualCard) -> None:
    assert raw(card, "10 CB 3F FF 03 5C 01 7E")[1] == SW.COMMAND_CHAINING_NOT_SUPPORTED


def test_an_unexpected_exception_becomes_6f00_and_the_card_carries_on(card: VirtualCard) -> None:
    def broken(apdu: CommandApdu) -> bytes:
        raise RuntimeError("bug")

    card.piv.handlers[0xCB] = broken
    assert raw(card, "00 CB 3F FF 03 5C 01 7E 00") == (b"", SW.INTERNAL_ERROR)
    assert raw(card, "00 FD 00 00 00")[1] == SW.SUCCESS


def test_unpowered_card_powers_up_on_a_command(card: VirtualCard) -> None:
    card.power_down()
    assert raw(card, "00 FD 00 00 00")[1] == SW.SUCCESS
    assert card.powered
