"""APDU transcripts: each exchange with its timing, PIN and PUK bytes masked.

An observer sits at the transport, so it sees what went over the wire (GET RESPONSE and
chained blocks included). Commands are masked before they are stored or written: the
transcript never holds a PIN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import StatusError, describe
from simulator.piv.constants import Ins

# Commands whose data field is PIN/PUK material.
SECRET_INS = frozenset({Ins.VERIFY, Ins.CHANGE_REFERENCE_DATA, Ins.RESET_RETRY_COUNTER})
MASK = "**"


class ExchangeObserver(Protocol):
    def exchanged(
        self, command: bytes, response: bytes | None, duration: float, error: BaseException | None
    ) -> None:
        """One command went to the card; `response` is None when it failed with `error`."""


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


def mask_command(apdu: bytes) -> str:
    """The command as spaced hex, its data field masked when it carries a PIN or PUK."""
    if len(apdu) <= 5 or apdu[1] not in SECRET_INS:
        return _hex(apdu)
    try:
        command = CommandApdu.parse(apdu)
    except StatusError:
        return _hex(apdu[:4]) + (" " + " ".join([MASK] * (len(apdu) - 4)))
    header = apdu[:4]
    extended = len(apdu) > 5 and apdu[4] == 0 and len(command.data) > 0
    lc_field = apdu[4:7] if extended else apdu[4:5]
    le_len = len(apdu) - 4 - len(lc_field) - len(command.data)
    parts = [_hex(header), _hex(lc_field), " ".join([MASK] * len(command.data))]
    if le_len > 0:
        parts.append(_hex(apdu[-le_len:]))
    return " ".join(part for part in parts if part)


@dataclass(frozen=True)
class ExchangeRecord:
    at: float  # wall-clock time the command was sent (epoch seconds)
    duration: float  # seconds until the answer (or the failure)
    command: str  # masked hex
    response: str | None  # hex, None when the exchange failed
    sw: int | None
    error: str | None

    def lines(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        stamp = f"{clock}.{int(self.at % 1 * 1e6):06d}"
        out = f"{stamp}  > {self.command}\n"
        if self.response is None:
            return out + f"{'':15}  ! {self.error}  ({self.duration * 1000:.3f} ms)\n"
        name = describe(self.sw) if self.sw is not None else ""
        return out + f"{'':15}  < {self.response}  [{name}]  ({self.duration * 1000:.3f} ms)\n"


class Transcript:
    """Keeps every exchange (masked) and, when given a stream or path, writes it as text."""

    def __init__(self, out: IO[str] | Path | None = None, *, title: str = "") -> None:
        self.records: list[ExchangeRecord] = []
        self._owned = isinstance(out, Path)
        self._out: IO[str] | None = (
            out.open("a", encoding="utf-8") if isinstance(out, Path) else out
        )
        if self._out is not None and title:
            self._out.write(f"# APDU transcript: {title}\n")

    def exchanged(
        self, command: bytes, response: bytes | None, duration: float, error: BaseException | None
    ) -> None:
        record = ExchangeRecord(
            at=time.time() - duration,
            duration=duration,
            command=mask_command(command),
            response=None if response is None else _hex(response),
            sw=int.from_bytes(response[-2:], "big") if response and len(response) >= 2 else None,
            error=None if error is None else f"{type(error).__name__}: {error}",
        )
        self.records.append(record)
        if self._out is not None:
            self._out.write(record.lines())
            self._out.flush()

    def text(self) -> str:
        return "".join(record.lines() for record in self.records)

    def close(self) -> None:
        if self._owned and self._out is not None:
            self._out.close()
        self._out = None
