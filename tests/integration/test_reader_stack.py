"""The reader stack itself: readers, insertion and removal, errors, pcscd restart."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.piv.constants import PIV_AID
from simulator.reader.connection import PcscConnection
from simulator.reader.errors import CardRemovedError, NoCardError, SlotBusyError
from simulator.reader.pcsc import list_readers, reader_states, wait_for_card
from tests.integration._echo_card import ECHO_CARD
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration

SELECT_PIV = bytes((0x00, 0xA4, 0x04, 0x00, len(PIV_AID))) + PIV_AID
EVENT_TIMEOUT = 10.0


def test_readers_are_listed_with_their_ports(stack: ReaderStack) -> None:
    readers = list_readers()
    slots = stack.layout.slots
    assert len(slots) >= 4
    assert all(slot.reader in readers for slot in slots)
    assert len({slot.port for slot in slots}) == len(slots)
    assert [entry.record for entry in stack.control.status()] == [None] * len(slots)


def test_insertion_and_removal_are_seen_by_card_monitor(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    from smartcard.CardMonitoring import CardMonitor, CardMonitoringThread, CardObserver

    events: queue.Queue[tuple[str, str]] = queue.Queue()

    class Recorder(CardObserver):  # type: ignore[misc]
        def update(self, observable: Any, handlers: Any) -> None:
            added, removed = handlers
            for card in added:
                events.put(("added", str(card.reader)))
            for card in removed:
                events.put(("removed", str(card.reader)))

    reader = stack.layout.slot(0).reader
    monitor = CardMonitor()
    recorder = Recorder()
    monitor.addObserver(recorder)
    thread = CardMonitoringThread.instance
    try:
        stack.control.insert(issue("alice"), 0)
        assert _next_event(events, reader) == "added"
        stack.control.remove(0)
        assert _next_event(events, reader) == "removed"
    finally:
        _stop_card_monitor(monitor, recorder, thread)


def _stop_card_monitor(monitor: Any, observer: Any, thread: Any) -> None:
    """Stop pyscard's monitor thread now and release its PC/SC context while pcscd runs.

    Left alone, the thread sits up to 60 s in SCardGetStatusChange and its context is
    released at interpreter exit, after the session's pcscd is gone.
    """
    from smartcard.scard import SCardCancel

    request = thread.cardrequest.pcsccardrequest if thread and thread.cardrequest else None
    if thread is not None:
        thread.stopEvent.set()
        deadline = time.monotonic() + EVENT_TIMEOUT
        # A cancel only ends a wait in progress, so repeat it until the thread has ended.
        while thread.is_alive() and time.monotonic() < deadline:
            if request is not None and request.hcontext is not None:
                SCardCancel(request.hcontext)  # pyscard treats a cancel as a timeout
            thread.join(timeout=0.05)
    monitor.deleteObserver(observer)
    if request is not None:
        request.release()


def _next_event(events: queue.Queue[tuple[str, str]], reader: str) -> str:
    while True:  # bounded by the queue timeout: queue.Empty fails the test
        kind, where = events.get(timeout=EVENT_TIMEOUT)
        if where == reader:
            return kind


def test_two_cards_in_two_slots_at_once(stack: ReaderStack, issue: Callable[..., Path]) -> None:
    stack.control.insert(issue("alice"), 0)
    stack.control.insert(issue("bob"), 1)
    first = PcscConnection(stack.layout.slot(0).reader)
    second = PcscConnection(stack.layout.slot(1).reader)
    try:
        assert first.atr != second.atr  # series 9 and series 10 cards
        for _ in range(3):
            assert first.transmit(SELECT_PIV)[1] == 0x9000
            assert second.transmit(SELECT_PIV)[1] == 0x9000
        states = reader_states([stack.layout.slot(i).reader for i in (0, 1)])
        assert all(state.present for state in states.values())
    finally:
        first.close()
        second.close()


def test_removal_mid_command_gives_a_clear_error(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    slot = stack.layout.slot(2)
    stack.control.insert(issue("alice"), 2)
    connection = PcscConnection(slot.reader)
    try:
        assert connection.transmit(SELECT_PIV)[1] == 0x9000
        stack.control.remove_mid_command(2)
        with pytest.raises(CardRemovedError, match="middle of a command"):
            connection.transmit(SELECT_PIV)
    finally:
        connection.close()
    assert wait_for_card(slot.reader, present=False, timeout=EVENT_TIMEOUT)
    with pytest.raises(NoCardError):
        PcscConnection(slot.reader)


def test_a_card_bug_answers_6f00_and_the_slot_survives(stack: ReaderStack) -> None:
    stack.control.insert_factory(ECHO_CARD, 3)
    with PcscConnection(stack.layout.slot(3).reader) as connection:
        assert connection.transmit(bytes.fromhex("00EF0000")) == (b"", 0x6F00)
        assert connection.transmit(SELECT_PIV) == (b"", 0x9000)
        assert connection.transmit(bytes.fromhex("00EE000003010203")) == (b"\x01\x02\x03", 0x9000)


def test_slot_busy_and_no_card_errors(stack: ReaderStack, issue: Callable[..., Path]) -> None:
    card = issue("alice")
    stack.control.insert(card, 1)
    with pytest.raises(SlotBusyError) as busy:
        stack.control.insert(card, 1)
    assert busy.value.code == "slot_busy"
    with pytest.raises(NoCardError):
        stack.control.remove(0)
    with pytest.raises(NoCardError):
        PcscConnection(stack.layout.slot(0).reader)


def test_runner_reconnects_after_pcscd_restart(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    if not stack.owned:
        pytest.skip("this session uses a pcscd it did not start; it will not restart it")
    stack.control.insert(issue("alice"), 0)
    stack.restart_pcscd()
    reader = stack.layout.slot(0).reader
    assert wait_for_card(reader, present=True, timeout=EVENT_TIMEOUT)
    with PcscConnection(reader) as connection:
        data, sw = connection.transmit(SELECT_PIV)
    assert sw == 0x9000 and data.startswith(b"\x61")
    assert stack.control.record(0) is not None  # the same runner, reconnected


def test_the_runner_serves_a_stock_vsmartcard_os(stack: ReaderStack) -> None:
    """vsmartcard's own Iso7816OS runs in our runner: the SmartcardOS contract is kept."""
    from simulator.reader.vsmartcard_os import iso7816

    expected_atr = iso7816().atr
    stack.control.insert_factory("simulator.reader.vsmartcard_os:iso7816", 3)
    with PcscConnection(stack.layout.slot(3).reader) as connection:
        assert connection.atr == expected_atr
        # Its file system answers SELECT of the master file; it has no PIV application.
        assert connection.transmit(bytes.fromhex("00A4000C023F00"))[1] == 0x9000
        assert connection.transmit(SELECT_PIV)[1] == 0x6A82
