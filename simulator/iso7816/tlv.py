"""BER-TLV encoding as PIV uses it (multi-byte tags, definite lengths)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from simulator.iso7816.sw import SW, StatusError


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    if length <= 0xFF:
        return bytes((0x81, length))
    if length <= 0xFFFF:
        return b"\x82" + length.to_bytes(2, "big")
    return b"\x83" + length.to_bytes(3, "big")


def tag_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def tlv(tag: int, value: bytes = b"") -> bytes:
    """One TLV with the given tag and value."""
    return tag_bytes(tag) + encode_length(len(value)) + value


def tlvs(items: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(tlv(tag, value) for tag, value in items)


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise ValueError("missing tag")
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:  # multi-byte tag: continue while bit 8 is set
        while True:
            if pos >= len(data):
                raise ValueError("truncated tag")
            tag = (tag << 8) | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if tag > 0xFFFFFF:
                raise ValueError("tag too long")
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise ValueError("missing length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 3 or pos + count > len(data):
        raise ValueError("bad length field")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, value) for each TLV in `data`; raises ValueError on malformed input."""
    pos = 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        end = pos + length
        if end > len(data):
            raise ValueError("value runs past the end")
        yield tag, data[pos:end]
        pos = end


def parse_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """All TLVs of `data`; a malformed encoding is the card's `6A 80`."""
    try:
        return list(iter_tlv(data))
    except ValueError as exc:
        raise StatusError(SW.INCORRECT_DATA, f"malformed TLV: {exc}") from exc


def single_tlv(data: bytes, tag: int) -> bytes:
    """The value of `data` when it is exactly one TLV with `tag`, else `6A 80`."""
    items = parse_tlv(data)
    if len(items) != 1 or items[0][0] != tag:
        raise StatusError(SW.INCORRECT_DATA, f"expected a single {tag:X} TLV")
    return items[0][1]


def find(items: Iterable[tuple[int, bytes]], tag: int) -> bytes | None:
    for item_tag, value in items:
        if item_tag == tag:
            return value
    return None
