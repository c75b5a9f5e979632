"""Free PIN guesses by tearing, attempted through pcscd + vpcd: the card process is killed
while it answers a wrong PIN, at random moments and at the worst one (the comparison).

The runner logs a line when the card starts comparing a secret. However the kill falls, the
tries the card file holds afterwards never exceed the tries before minus the attempts that
reached the comparison. The `tearing_unsafe` fault (compare first, write the counter after)
must break that, or the test proves nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.card import cardfile
from simulator.card.faults import Fault
from simulator.card.store import load_card_state
from simulator.personas import get_persona
from simulator.piv.constants import PIV_AID, pad_pin
from simulator.reader.connection import PcscConnection
from simulator.reader.errors import ReaderError
from simulator.reader.pcsc import wait_for_card
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration

ROUNDS = 10
SLOT = 1
MARK = b"secret comparison"
WRONG = "99999999"


def _comparisons(log: Path, offset: int) -> int:
    with log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().count(MARK)


def _kill_at(pid: int, log: Path, offset: int, moment: float | None) -> None:
    """SIGKILL the card process `moment` s from now, or (None) as soon as it compares."""
    deadline = time.monotonic() + 2.0
    if moment is not None:
        time.sleep(moment)
    else:
        while _comparisons(log, offset) == 0 and time.monotonic() < deadline:
            time.sleep(0.0002)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _torn_attempts(stack: ReaderStack, card: Path, seed: int) -> list[tuple[int, int, int]]:
    """(tries before, comparisons reached, tries after) for each round."""
    rng = random.Random(seed)
    rounds = []
    for number in range(ROUNDS):
        state = load_card_state(card)
        state.pin.tries_left = state.pin.limit  # every round starts from a full counter
        card.write_bytes(cardfile.dumps(state))
        slot = stack.control.insert(card, SLOT)
        record = stack.control.record(SLOT)
        assert record is not None
        log = Path(record.log)
        offset = log.stat().st_size
        # Odd rounds: the worst moment; even rounds: anywhere in the command's ~50 ms.
        moment = None if number % 2 else rng.uniform(0.0, 0.06)
        with PcscConnection(slot.reader, allow_state_changes=True) as connection:
            connection.transmit(bytes((0x00, 0xA4, 0x04, 0x00, len(PIV_AID))) + PIV_AID)
            killer = threading.Thread(target=_kill_at, args=(record.pid, log, offset, moment))
            killer.start()
            with contextlib.suppress(ReaderError):
                connection.transmit(bytes.fromhex("0020008008") + pad_pin(WRONG))
            killer.join()
        if stack.control.record(SLOT) is None:  # the card process died: the card is out
            assert wait_for_card(slot.reader, present=False, timeout=10)
        else:
            stack.control.remove(SLOT)
        reached = _comparisons(log, offset)
        rounds.append((state.pin.limit, reached, load_card_state(card).pin.tries_left))
    return rounds


def _slow_card(issue: Callable[..., Path], *faults: Fault) -> Path:
    # `slow` gives the comparison a real card's 10 ms, so kills can land inside it.
    card = issue("alice")
    state = load_card_state(card)
    state = dataclasses.replace(state, faults=frozenset({Fault.SLOW, *faults}))
    card.write_bytes(cardfile.dumps(state))
    return card


def test_killing_the_card_mid_verify_never_gives_a_try_back(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    assert get_persona("alice").card.pin != WRONG
    rounds = _torn_attempts(stack, _slow_card(issue), seed=13)
    for before, reached, after in rounds:
        assert after <= before - reached, f"free guess: {rounds}"
    assert sum(reached for _, reached, _ in rounds) >= ROUNDS // 2  # kills did land late


def test_the_check_catches_a_card_that_compares_first(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    rounds = _torn_attempts(stack, _slow_card(issue, Fault.TEARING_UNSAFE), seed=13)
    free = [r for r in rounds if r[2] > r[0] - r[1]]
    assert free, f"no free guess found on the tearing-unsafe card: {rounds}"
