"""The client side: one small connection interface over any transport.

`transmit(apdu) -> (data, sw)` is all a client sees, whether the card is an object in this
process (`InProcessConnection`), a virtual card behind pcscd + vpcd, or a physical card in a
physical reader (`PcscConnection`). Framing (chaining, GET RESPONSE) happens once, in the
stack built here; status words become exceptions once, in `send`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Protocol

from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import raise_for_status
from simulator.reader.errors import CardRemovedError
from simulator.reader.framing import ApduProcessor, CommandChaining, ResponseChaining
from simulator.reader.guard import PhysicalCardGuard
from simulator.reader.names import is_virtual_reader
from simulator.reader.transcript import ExchangeObserver


class Connection(Protocol):
    """The seam every client (agent, suites, load users) programs against."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...


class Transport(Protocol):
    """One raw exchange with a card: the whole response, data and SW, no framing."""

    name: str

    @property
    def atr(self) -> bytes: ...

    def exchange(self, apdu: bytes) -> bytes: ...

    def close(self) -> None: ...


class _Observed:
    """The bottom of the stack: times each wire exchange and tells the observers."""

    def __init__(self, transport: Transport, observers: list[ExchangeObserver]) -> None:
        self.transport = transport
        self.observers = observers

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        started = time.perf_counter()
        try:
            response = self.transport.exchange(apdu)
        except Exception as error:
            duration = time.perf_counter() - started
            for observer in self.observers:
                observer.exchanged(apdu, None, duration, error)
            raise
        duration = time.perf_counter() - started
        for observer in self.observers:
            observer.exchanged(apdu, response, duration, None)
        return response[:-2], int.from_bytes(response[-2:], "big")


class CardConnection:
    """A transport with framing, traffic observers and, for a card not ours, the guard."""

    def __init__(
        self,
        transport: Transport,
        *,
        physical: bool = False,
        allow_state_changes: bool | None = None,
        observers: Iterable[ExchangeObserver] = (),
    ) -> None:
        allow = (not physical) if allow_state_changes is None else allow_state_changes
        if physical or not allow:
            # At the wire, so raw access through `transport` passes the guard too.
            transport = PhysicalCardGuard(transport, allow_state_changes=allow)
        self.transport = transport
        self.physical = physical
        self.observers: list[ExchangeObserver] = list(observers)
        wire = _Observed(transport, self.observers)
        self._stack: ApduProcessor = CommandChaining(ResponseChaining(wire))

    @property
    def name(self) -> str:
        return self.transport.name

    @property
    def atr(self) -> bytes:
        return self.transport.atr

    def add_observer(self, observer: ExchangeObserver) -> None:
        self.observers.append(observer)

    def remove_observer(self, observer: ExchangeObserver) -> None:
        self.observers.remove(observer)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one logical command; chaining and GET RESPONSE are handled below."""
        return self._stack.transmit(apdu)

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
    ) -> bytes:
        """Send a command and return its data; any status but 90 00 raises StatusError
        (PinVerifyError for 63 CX, with the tries left)."""
        body, sw = self.transmit(CommandApdu(cla, ins, p1, p2, data, le).to_bytes())
        raise_for_status(sw)
        return body

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> CardConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InProcessCard(Protocol):
    @property
    def atr(self) -> bytes: ...

    def execute(self, apdu: bytes) -> bytes: ...


class InProcessTransport:
    """The card object itself, called directly (unit tests, Locust users)."""

    def __init__(self, card: InProcessCard, name: str = "in-process") -> None:
        self.card = card
        self.name = name

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def exchange(self, apdu: bytes) -> bytes:
        response = self.card.execute(apdu)
        if getattr(self.card, "connection_dropped", False):
            self.card.clear_drop()  # type: ignore[attr-defined]
            raise CardRemovedError(self.name)
        return response

    def close(self) -> None:
        """Nothing to release."""


class InProcessConnection(CardConnection):
    def __init__(
        self,
        card: InProcessCard,
        *,
        name: str = "in-process",
        observers: Iterable[ExchangeObserver] = (),
    ) -> None:
        super().__init__(InProcessTransport(card, name), observers=observers)


class PcscConnection(CardConnection):
    """A card in a PC/SC reader by name: a vpcd slot or a physical reader.

    A physical reader's card is read-only unless `allow_state_changes=True`.
    """

    def __init__(
        self,
        reader: str,
        *,
        allow_state_changes: bool | None = None,
        physical: bool | None = None,
        observers: Iterable[ExchangeObserver] = (),
    ) -> None:
        # Imported here so that in-process clients never load pyscard.
        from simulator.reader.pcsc import PcscTransport  # noqa: PLC0415

        super().__init__(
            PcscTransport(reader),
            physical=(not is_virtual_reader(reader)) if physical is None else physical,
            allow_state_changes=allow_state_changes,
            observers=observers,
        )
