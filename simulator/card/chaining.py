"""Command chaining (CLA bit 0x10) and response chaining (61 xx / GET RESPONSE), card side."""

from __future__ import annotations

from simulator.iso7816.apdu import CLA_CHAINING, CommandApdu
from simulator.iso7816.sw import SW, StatusError, bytes_remaining

MAX_CHAIN_BYTES = 16 * 1024
SHORT_RESPONSE = 256


class CommandChain:
    """Gathers the blocks of one chained command; another command in between discards them."""

    def __init__(self) -> None:
        self._header: tuple[int, int, int] | None = None
        self._data = bytearray()

    def clear(self) -> None:
        self._header = None
        self._data.clear()

    def feed(self, apdu: CommandApdu) -> CommandApdu | None:
        """The whole command once its last block arrives; None while the chain goes on."""
        header = (apdu.ins, apdu.p1, apdu.p2)
        if self._header is not None and self._header != header:
            self.clear()  # interrupted: the partial chain has no effect
        if apdu.chained:
            if self._header is None:
                self._header = header
            if len(self._data) + len(apdu.data) > MAX_CHAIN_BYTES:
                self.clear()
                raise StatusError(SW.NOT_ENOUGH_MEMORY, "command chain too long")
            self._data += apdu.data
            return None
        if self._header is None:
            return apdu
        data = bytes(self._data) + apdu.data
        self.clear()
        return CommandApdu(apdu.cla & ~CLA_CHAINING, apdu.ins, apdu.p1, apdu.p2, data, apdu.le)


class ResponseBuffer:
    """Holds the rest of a long answer until GET RESPONSE asks for it."""

    def __init__(self) -> None:
        self._pending = b""

    def clear(self) -> None:
        self._pending = b""

    def respond(self, data: bytes, le: int | None, sw: int = SW.SUCCESS) -> bytes:
        """The first part of `data` with 61 xx when more is left, else `data` with `sw`."""
        size = SHORT_RESPONSE if le is None else le
        if len(data) <= size:
            self._pending = b""
            return data + sw.to_bytes(2, "big")
        self._pending = data[size:]
        return data[:size] + bytes_remaining(len(self._pending)).to_bytes(2, "big")

    def get_response(self, apdu: CommandApdu) -> bytes:
        if not self._pending:
            raise StatusError(SW.COMMAND_NOT_ALLOWED, "no response data pending")
        if apdu.p1 or apdu.p2:
            raise StatusError(SW.INCORRECT_P1P2)
        if apdu.data:
            raise StatusError(SW.WRONG_LENGTH, "GET RESPONSE carries no data")
        return self.respond(self._pending, apdu.le)
