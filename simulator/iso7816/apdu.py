"""Command APDU parsing and building (short and extended length, ISO/IEC 7816-4 §5.1)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.iso7816.sw import SW, StatusError

CLA_CHAINING = 0x10
CLA_SECURE_MESSAGING = 0x0C


@dataclass(frozen=True, slots=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # None: no Le field; 0 is never stored (it means 256 or 65536)

    @property
    def chained(self) -> bool:
        """True when more command blocks of the same chain follow (CLA bit 0x10)."""
        return bool(self.cla & CLA_CHAINING)

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Parse the four ISO cases in short or extended form; bad framing is `67 00`."""
        if len(raw) < 4:
            raise StatusError(SW.WRONG_LENGTH, "APDU shorter than its header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, b"", body[0] or 256)
        if body[0] != 0:
            lc = body[0]
            rest = body[1:]
            if len(rest) == lc:
                return cls(cla, ins, p1, p2, bytes(rest))
            if len(rest) == lc + 1:
                return cls(cla, ins, p1, p2, bytes(rest[:lc]), rest[lc] or 256)
            raise StatusError(SW.WRONG_LENGTH, "Lc does not match the data")
        # Extended length: a 00 byte then two-byte Lc or Le.
        if len(body) == 3:
            return cls(cla, ins, p1, p2, b"", int.from_bytes(body[1:3], "big") or 65536)
        if len(body) < 3:
            raise StatusError(SW.WRONG_LENGTH, "truncated extended length")
        lc = int.from_bytes(body[1:3], "big")
        rest = body[3:]
        if lc and len(rest) == lc:
            return cls(cla, ins, p1, p2, bytes(rest))
        if lc and len(rest) == lc + 2:
            le = int.from_bytes(rest[lc:], "big") or 65536
            return cls(cla, ins, p1, p2, bytes(rest[:lc]), le)
        raise StatusError(SW.WRONG_LENGTH, "extended Lc does not match the data")

    def to_bytes(self) -> bytes:
        """Encode, choosing extended length only when the data or Le needs it."""
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        extended = len(self.data) > 255 or (self.le is not None and self.le > 256)
        out = bytearray(header)
        if extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                out += (b"" if self.data else b"\x00") + (self.le % 65536).to_bytes(2, "big")
            return bytes(out)
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out.append(self.le % 256)
        return bytes(out)


def split_response(response: bytes) -> tuple[bytes, int]:
    """Split a response APDU into its data and its status word."""
    if len(response) < 2:
        raise ValueError("a response APDU has at least two status bytes")
    return response[:-2], int.from_bytes(response[-2:], "big")
