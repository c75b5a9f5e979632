"""Where the agent's cards come from: PC/SC readers (pyscard) or in-process readers.

The agent core sees only `ReaderSource`: `poll(timeout)` for card presence per reader and
`connect(reader, observers)` for a connection (`transmit(apdu) -> (data, sw)`). pyscard is
imported only when a `PcscReaders` is used, so in-process users (unit tests, Locust, the
headless flow client) never load it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from simulator.reader.connection import CardConnection, InProcessCard, InProcessConnection
from simulator.reader.errors import CardRemovedError, NoCardError, NoReaderError
from simulator.reader.transcript import ExchangeObserver

PCSC_POLL_INTERVAL = 0.15  # seconds between two looks at pcscd's reader states


class ReaderSource(Protocol):
    def poll(self, timeout: float) -> dict[str, bool]:
        """Card presence per reader. May wait up to `timeout` seconds for a change first."""
        ...

    def connect(self, reader: str, observers: Iterable[ExchangeObserver]) -> CardConnection:
        """A connection to the card in `reader` (NoCardError when there is none)."""
        ...

    def wake(self) -> None:
        """End a `poll` that is waiting (the agent is stopping)."""
        ...


class _Slot:
    """An in-process card as seen through one insertion: it stops answering once pulled."""

    def __init__(self, card: InProcessCard) -> None:
        self.card = card
        self.present = True

    @property
    def atr(self) -> bytes:
        return self.card.atr

    @property
    def connection_dropped(self) -> bool:
        return bool(getattr(self.card, "connection_dropped", False))

    def clear_drop(self) -> None:
        clear = getattr(self.card, "clear_drop", None)
        if clear is not None:
            clear()

    def execute(self, apdu: bytes) -> bytes:
        if not self.present:
            raise CardRemovedError("the card was pulled out of its in-process reader")
        return self.card.execute(apdu)


class MemoryReaders:
    """Named in-process readers that tests and suites put card objects into and pull out of."""

    def __init__(self, names: Sequence[str] = ("careid in-process reader 0",)) -> None:
        self._cards: dict[str, _Slot | None] = dict.fromkeys(names)
        self._changed = threading.Condition()
        self._version = 0
        self._seen = -1

    def add_reader(self, name: str) -> None:
        with self._changed:
            self._cards.setdefault(name, None)
            self._bump()

    def insert(self, reader: str, card: InProcessCard) -> None:
        with self._changed:
            if reader not in self._cards:
                raise NoReaderError(reader, list(self._cards))
            current = self._cards[reader]
            if current is not None and current.present:
                raise ValueError(f"reader {reader!r} already holds a card")
            self._cards[reader] = _Slot(card)
            self._bump()

    def remove(self, reader: str) -> None:
        with self._changed:
            slot = self._cards.get(reader)
            if slot is None:
                raise NoCardError(f"reader {reader!r}")
            slot.present = False
            self._cards[reader] = None
            self._bump()

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()

    def poll(self, timeout: float) -> dict[str, bool]:
        with self._changed:
            if self._version == self._seen:
                self._changed.wait(timeout=max(0.0, timeout))
            self._seen = self._version
            return {name: slot is not None for name, slot in self._cards.items()}

    def wake(self) -> None:
        with self._changed:
            self._bump()

    def connect(self, reader: str, observers: Iterable[ExchangeObserver]) -> CardConnection:
        with self._changed:
            slot = self._cards.get(reader)
        if slot is None:
            raise NoCardError(f"reader {reader!r}")
        return InProcessConnection(slot, name=reader, observers=observers)


class PcscReaders:
    """The readers pcscd knows (vpcd slots and physical readers), or only the named ones.

    A physical card's connection keeps the reader package's guard that refuses a VERIFY at
    the last PIN try: the harness never blocks a real card.
    """

    def __init__(
        self, readers: Sequence[str] = (), *, interval: float = PCSC_POLL_INTERVAL
    ) -> None:
        self.only = tuple(readers)
        self.interval = interval
        self._wake = threading.Event()

    def poll(self, timeout: float) -> dict[str, bool]:
        from simulator.reader.pcsc import list_readers, reader_states  # noqa: PLC0415

        if self._wake.wait(timeout=min(max(0.0, timeout), self.interval)):
            self._wake.clear()
        names = list_readers()
        if self.only:
            names = [name for name in names if name in self.only]
        return {name: state.present for name, state in reader_states(names).items()}

    def wake(self) -> None:
        self._wake.set()

    def connect(self, reader: str, observers: Iterable[ExchangeObserver]) -> CardConnection:
        from simulator.reader.connection import PcscConnection  # noqa: PLC0415

        return PcscConnection(reader, allow_state_changes=True, observers=observers)
