"""PC/SC through pyscard: reader lists, card presence, and one card connection.

The only module of the reader package that imports pyscard; everything above it sees bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from smartcard import scard

from simulator.reader.errors import (
    CardRemovedError,
    NoCardError,
    NoReaderError,
    PcscdNotRunningError,
    TransportError,
)

_OK = scard.SCARD_S_SUCCESS
_NO_SERVICE = {scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF, scard.SCARD_E_SERVICE_STOPPED & 0xFFFFFFFF}
_CARD_GONE = {
    scard.SCARD_W_REMOVED_CARD & 0xFFFFFFFF,
    scard.SCARD_E_NO_SMARTCARD & 0xFFFFFFFF,
    scard.SCARD_E_READER_UNAVAILABLE & 0xFFFFFFFF,
}
# What pcscd answers when the card vanished during SCardTransmit (vpcd's socket closed).
_TRANSMIT_FAILED = {
    scard.SCARD_E_NOT_TRANSACTED & 0xFFFFFFFF,
    scard.SCARD_F_COMM_ERROR & 0xFFFFFFFF,
    scard.SCARD_E_COMM_DATA_LOST & 0xFFFFFFFF,
    scard.SCARD_W_UNRESPONSIVE_CARD & 0xFFFFFFFF,
}
_POLL_MS = 200  # one SCardGetStatusChange wait; the overall wait is bounded by the caller


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _message(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{_code(hresult):08X})"


class _Context:
    """A PC/SC context, released on exit."""

    def __enter__(self) -> Any:
        hresult, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != _OK:
            if _code(hresult) in _NO_SERVICE:
                raise PcscdNotRunningError(_message(hresult))
            raise TransportError(f"SCardEstablishContext: {_message(hresult)}")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        scard.SCardReleaseContext(self.handle)


def _list(context: Any) -> list[str]:
    hresult, readers = scard.SCardListReaders(context, [])
    if hresult == _OK:
        return list(readers)
    if _code(hresult) == scard.SCARD_E_NO_READERS_AVAILABLE & 0xFFFFFFFF:
        return []
    if _code(hresult) in _NO_SERVICE:
        raise PcscdNotRunningError(_message(hresult))
    raise TransportError(f"SCardListReaders: {_message(hresult)}")


def list_readers() -> list[str]:
    """The names of all readers pcscd knows, physical and virtual."""
    with _Context() as context:
        return _list(context)


@dataclass(frozen=True)
class ReaderState:
    reader: str
    present: bool
    atr: bytes


def reader_states(readers: list[str] | None = None) -> dict[str, ReaderState]:
    """Card presence and ATR per reader (all readers when none are named)."""
    with _Context() as context:
        names = _list(context) if readers is None else readers
        if not names:
            return {}
        query = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        hresult, states = scard.SCardGetStatusChange(context, 0, query)
        if hresult != _OK:
            raise TransportError(f"SCardGetStatusChange: {_message(hresult)}")
        return {
            name: ReaderState(name, bool(state & scard.SCARD_STATE_PRESENT), bytes(atr))
            for name, state, atr in states
        }


def wait_for_card(reader: str, *, present: bool, timeout: float) -> bool:
    """Block until pcscd reports the card in `reader` present (or absent); False on timeout."""
    deadline = time.monotonic() + timeout
    with _Context() as context:
        known = scard.SCARD_STATE_UNAWARE
        while True:
            hresult, states = scard.SCardGetStatusChange(context, _POLL_MS, [(reader, known)])
            if hresult == _OK:
                _, state, _ = states[0]
                if state & scard.SCARD_STATE_UNKNOWN:
                    raise NoReaderError(reader, _list(context))
                if bool(state & scard.SCARD_STATE_PRESENT) == present and not (
                    state & scard.SCARD_STATE_MUTE
                ):
                    return True
                known = state & ~scard.SCARD_STATE_CHANGED
            elif _code(hresult) in _NO_SERVICE:
                raise PcscdNotRunningError(_message(hresult))
            elif _code(hresult) != scard.SCARD_E_TIMEOUT & 0xFFFFFFFF:
                raise TransportError(f"SCardGetStatusChange: {_message(hresult)}")
            if time.monotonic() >= deadline:
                return False


class PcscTransport:
    """One shared connection to the card in a named reader (virtual or physical)."""

    def __init__(self, reader: str) -> None:
        self.name = reader
        hresult, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != _OK:
            if _code(hresult) in _NO_SERVICE:
                raise PcscdNotRunningError(_message(hresult))
            raise TransportError(f"SCardEstablishContext: {_message(hresult)}")
        self._card: Any = None
        try:
            readers = _list(self._context)
            if reader not in readers:
                raise NoReaderError(reader, readers)
            self._connect()
        except BaseException:
            scard.SCardReleaseContext(self._context)
            raise

    def _connect(self) -> None:
        hresult, self._card, self._protocol = scard.SCardConnect(
            self._context,
            self.name,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != _OK:
            self._card = None
            if _code(hresult) in _CARD_GONE | {scard.SCARD_W_UNPOWERED_CARD & 0xFFFFFFFF}:
                raise NoCardError(f"reader {self.name!r}")
            if _code(hresult) in _NO_SERVICE:
                raise PcscdNotRunningError(_message(hresult))
            raise TransportError(f"SCardConnect({self.name!r}): {_message(hresult)}")

    @property
    def atr(self) -> bytes:
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        if hresult != _OK:
            raise self._failure(hresult, "SCardStatus")
        return bytes(atr)

    def exchange(self, apdu: bytes) -> bytes:
        """Send one command APDU and return the whole response (data + SW)."""
        if self._card is None:
            raise NoCardError(f"reader {self.name!r} (connection closed)")
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if _code(hresult) == scard.SCARD_W_RESET_CARD & 0xFFFFFFFF:
            # Another program reset the card: reconnect once and resend.
            scard.SCardReconnect(
                self._card,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                scard.SCARD_LEAVE_CARD,
            )
            hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if hresult != _OK:
            raise self._failure(hresult, "SCardTransmit")
        if len(response) < 2:
            # pcscd reports success with no bytes when vpcd lost the card mid-command.
            raise CardRemovedError(f"reader {self.name!r}")
        return bytes(response)

    def _failure(self, hresult: int, call: str) -> Exception:
        code = _code(hresult)
        if code in _CARD_GONE or code in _TRANSMIT_FAILED:
            return CardRemovedError(f"reader {self.name!r}")
        if code in _NO_SERVICE:
            return PcscdNotRunningError(_message(hresult))
        return TransportError(f"{call}({self.name!r}): {_message(hresult)}")

    def close(self) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None
