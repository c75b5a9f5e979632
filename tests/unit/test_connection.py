"""The client connection stack over the in-process transport: framing, guard, transcript."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import PinVerifyError, StatusError
from simulator.piv.constants import pad_pin
from simulator.reader.connection import CardConnection, InProcessConnection, InProcessTransport
from simulator.reader.errors import CardRemovedError, StateChangeRefusedError, TransportError
from simulator.reader.framing import CommandChaining, ResponseChaining
from simulator.reader.guard import state_change
from simulator.reader.transcript import Transcript, mask_command

PIN = "123456"


class ScriptedCard:
    """A card double: chains commands, answers in 61xx parts, checks a PIN."""

    atr = bytes.fromhex("3B00")

    def __init__(self, answer: bytes = b"", part: int = 100) -> None:
        self.answer = answer
        self.part = part
        self.pending = b""
        self.chain = b""
        self.received: list[bytes] = []
        self.whole: list[CommandApdu] = []
        self.connection_dropped = False
        self.tries = 3

    def clear_drop(self) -> None:
        self.connection_dropped = False

    def execute(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        command = CommandApdu.parse(apdu)
        if command.ins == 0xC0:
            return self._next_part()
        if command.ins == 0xDD:
            self.connection_dropped = True
            return b"\x6f\x00"
        if command.ins == 0x20:
            if not command.data:
                return bytes((0x63, 0xC0 | self.tries))
            if command.data == pad_pin(PIN):
                return b"\x90\x00"
            self.tries -= 1
            return bytes((0x63, 0xC0 | self.tries))
        if command.chained:
            self.chain += command.data
            return b"\x90\x00"
        self.whole.append(
            CommandApdu(command.cla, command.ins, command.p1, command.p2, self.chain + command.data)
        )
        self.chain = b""
        self.pending = self.answer
        return self._next_part()

    def _next_part(self) -> bytes:
        chunk, self.pending = self.pending[: self.part], self.pending[self.part :]
        if self.pending:
            return chunk + bytes((0x61, min(len(self.pending), 256) % 256))
        return chunk + b"\x90\x00"


def test_get_response_collects_every_part() -> None:
    answer = bytes(range(256)) * 3
    card = ScriptedCard(answer, part=200)
    data, sw = InProcessConnection(card).transmit(bytes.fromhex("00CB3FFF055C035FC10500"))
    assert (data, sw) == (answer, 0x9000)
    assert sum(1 for apdu in card.received if apdu[1] == 0xC0) == 3


def test_long_data_is_sent_as_a_command_chain() -> None:
    card = ScriptedCard()
    payload = bytes(600)
    apdu = CommandApdu(0x00, 0x87, 0x07, 0x9A, payload, 256).to_bytes()  # extended form
    InProcessConnection(card).transmit(apdu)
    blocks = card.received
    assert [b[0] for b in blocks] == [0x10, 0x10, 0x00]
    assert all(len(CommandApdu.parse(b).data) <= 255 for b in blocks)
    assert card.whole[0].data == payload


def test_refused_chain_block_ends_the_chain() -> None:
    class Refusing:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            self.sent.append(apdu)
            return b"", 0x6884

    inner = Refusing()
    _, sw = CommandChaining(inner).transmit(CommandApdu(0, 0xDB, 0x3F, 0xFF, bytes(300)).to_bytes())
    assert sw == 0x6884 and len(inner.sent) == 1


def test_wrong_le_is_resent_once() -> None:
    class WantsLe:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            self.sent.append(apdu)
            if apdu[-1] == 0x10:
                return bytes(16), 0x9000
            return b"", 0x6C10

    inner = WantsLe()
    assert ResponseChaining(inner).transmit(bytes.fromhex("00CA000000")) == (bytes(16), 0x9000)
    assert inner.sent[-1] == bytes.fromhex("00CA000010")


def test_endless_response_parts_are_bounded() -> None:
    class Endless:
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            return b"x", 0x6101

    with pytest.raises(TransportError):
        ResponseChaining(Endless()).transmit(bytes.fromhex("00CA000000"))


def test_send_turns_status_words_into_exceptions() -> None:
    connection = InProcessConnection(ScriptedCard())
    with pytest.raises(PinVerifyError) as wrong:
        connection.send(0x00, 0x20, 0x00, 0x80, pad_pin("000000"))
    assert wrong.value.tries_left == 2
    assert connection.send(0x00, 0x20, 0x00, 0x80, pad_pin(PIN)) == b""
    with pytest.raises(StatusError):
        InProcessConnection(ScriptedCard()).send(0x00, 0x20, 0x00, 0x80)


def test_dropped_connection_raises_card_removed() -> None:
    card = ScriptedCard()
    with pytest.raises(CardRemovedError):
        InProcessConnection(card).transmit(bytes.fromhex("00DD0000"))
    assert card.connection_dropped is False


@pytest.mark.parametrize(
    "apdu",
    [
        bytes.fromhex("0020008008") + pad_pin(PIN),
        bytes.fromhex("0024008010") + pad_pin(PIN) + pad_pin("654321"),
        bytes.fromhex("002C008010") + b"12345678" + pad_pin(PIN),
    ],
)
def test_transcript_masks_pin_and_puk(apdu: bytes) -> None:
    stream = io.StringIO()
    transcript = Transcript(stream, title="unit")
    connection = InProcessConnection(ScriptedCard(), observers=[transcript])
    connection.transmit(apdu)
    text = stream.getvalue()
    assert "31 32 33 34 35 36" not in text  # "123456"
    assert PIN not in text and "12345678" not in text
    assert "**" in text
    record = transcript.records[0]
    assert record.command.startswith(apdu[:5].hex(" ").upper())
    assert record.response is not None and record.duration >= 0


def test_transcript_keeps_other_commands_and_wire_parts() -> None:
    transcript = Transcript()
    card = ScriptedCard(bytes(300), part=200)
    InProcessConnection(card, observers=[transcript]).transmit(bytes.fromhex("00CB3FFF00"))
    assert [r.command for r in transcript.records] == ["00 CB 3F FF 00", "00 C0 00 00 64"]
    assert transcript.records[0].sw == 0x6164


def test_mask_keeps_le_and_status_queries() -> None:
    assert mask_command(bytes.fromhex("00200080")) == "00 20 00 80"
    assert mask_command(bytes.fromhex("0020008002AABB")) == "00 20 00 80 02 ** **"
    assert mask_command(bytes.fromhex("0020008002AABB00")) == "00 20 00 80 02 ** ** 00"
    assert mask_command(bytes.fromhex("00200080AABB")) == "00 20 00 80 ** **"  # malformed


def test_guard_refuses_state_changes_on_physical_cards() -> None:
    card = ScriptedCard()
    physical = CardConnection(InProcessTransport(card), physical=True)
    for apdu in (
        bytes.fromhex("0020008008") + pad_pin(PIN),
        bytes.fromhex("0024008010") + bytes(16),
        bytes.fromhex("00DB3FFF02AABB"),
        bytes.fromhex("0047009A05AC03800111"),
    ):
        with pytest.raises(StateChangeRefusedError):
            physical.transmit(apdu)
    assert card.received == []
    # Reading and PIN-state queries are allowed.
    assert physical.transmit(bytes.fromhex("00200080"))[1] == 0x63C3
    assert state_change(bytes.fromhex("00A4040000")) is None


def test_guard_allows_when_asked_but_never_the_last_try() -> None:
    card = ScriptedCard()
    allowed = CardConnection(InProcessTransport(card), physical=True, allow_state_changes=True)
    wrong = bytes.fromhex("0020008008") + pad_pin("000000")
    assert allowed.transmit(wrong)[1] == 0x63C2
    assert allowed.transmit(wrong)[1] == 0x63C1
    with pytest.raises(StateChangeRefusedError):
        allowed.transmit(wrong)
    assert card.tries == 1


def test_in_process_connection_does_not_load_pyscard() -> None:
    code = (
        "import sys, simulator.reader.connection, simulator.reader.transcript;"
        "sys.exit('smartcard' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0  # noqa: S603
