"""APDU framing as small stacked processors: command chaining and response chaining.

Each processor wraps the one below it and has the same one method, `transmit(apdu) ->
(data, sw)`, so a connection is a stack of them over a transport and each is tested alone.
"""

from __future__ import annotations

from typing import Protocol

from simulator.iso7816.apdu import CLA_CHAINING, CommandApdu
from simulator.iso7816.sw import StatusError
from simulator.piv.constants import Ins
from simulator.reader.errors import TransportError

SHORT_DATA_MAX = 255
MAX_RESPONSE_PARTS = 1024  # 256 KiB of 61xx parts: more means a card that never finishes


class ApduProcessor(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...


class ResponseChaining:
    """Collects `61 xx` parts with GET RESPONSE, and resends once with the Le a `6C xx` asks."""

    def __init__(self, inner: ApduProcessor) -> None:
        self.inner = inner

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self.inner.transmit(apdu)
        if sw >> 8 == 0x6C and len(apdu) >= 4:
            data, sw = self.inner.transmit(_with_le(apdu, sw & 0xFF or 256))
        if sw >> 8 != 0x61:
            return data, sw
        cla = apdu[0] & ~CLA_CHAINING & 0xFF
        parts = [data]
        for _ in range(MAX_RESPONSE_PARTS):
            data, sw = self.inner.transmit(bytes((cla, Ins.GET_RESPONSE, 0, 0, sw & 0xFF)))
            parts.append(data)
            if sw >> 8 != 0x61:
                return b"".join(parts), sw
        raise TransportError(f"the card sent more than {MAX_RESPONSE_PARTS} response parts")


class CommandChaining:
    """Sends command data longer than 255 bytes as a chain of short APDUs (CLA bit 0x10)."""

    def __init__(self, inner: ApduProcessor, *, block: int = SHORT_DATA_MAX) -> None:
        self.inner = inner
        self.block = block

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            command = CommandApdu.parse(apdu)
        except StatusError:
            return self.inner.transmit(apdu)  # malformed on purpose (a test): send it as is
        if len(command.data) <= self.block or command.chained:
            return self.inner.transmit(apdu)
        data = command.data
        chunks = [data[i : i + self.block] for i in range(0, len(data), self.block)]
        for chunk in chunks[:-1]:
            cla = command.cla | CLA_CHAINING
            part = CommandApdu(cla, command.ins, command.p1, command.p2, chunk)
            body, sw = self.inner.transmit(part.to_bytes())
            if sw != 0x9000:
                return body, sw  # the card refused the chain; its answer is the answer
        # Short Le on the last block: longer answers come back through 61xx.
        le = None if command.le is None else min(command.le, 256)
        last = CommandApdu(command.cla, command.ins, command.p1, command.p2, chunks[-1], le)
        return self.inner.transmit(last.to_bytes())


def _with_le(apdu: bytes, le: int) -> bytes:
    try:
        command = CommandApdu.parse(apdu)
    except StatusError:
        return apdu
    cla, ins, p1, p2 = command.cla, command.ins, command.p1, command.p2
    return CommandApdu(cla, ins, p1, p2, command.data, le).to_bytes()
