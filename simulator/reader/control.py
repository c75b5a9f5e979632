"""Inserting and removing cards: one background runner process per occupied slot.

A slot's record (`<data dir>/reader/slots/<n>.json`) names the runner's pid and card file;
a record whose process has ended is stale and ignored. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import simulator
from simulator.reader import pcscd
from simulator.reader.errors import (
    InsertTimeoutError,
    NoCardError,
    NoFreeSlotError,
    PcscdNotRunningError,
    ReaderError,
    SlotBusyError,
)
from simulator.reader.pcsc import reader_states, wait_for_card
from simulator.reader.pcscd import ReaderLayout, Slot

INSERT_TIMEOUT = 15.0
REMOVE_TIMEOUT = 5.0
ARM_TIMEOUT = 5.0
RUNNER_MODULE = "simulator.reader.runner"


@dataclass(frozen=True)
class SlotRecord:
    slot: int
    port: int
    reader: str
    pid: int
    card: str  # card file, or "factory:<module:callable>"
    log: str


@dataclass(frozen=True)
class SlotStatus:
    slot: Slot
    record: SlotRecord | None  # our runner in this slot, if any
    present: bool  # pcscd reports a card
    atr: bytes


def _runner_alive(record: SlotRecord) -> bool:
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{record.pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    # Guards against a recycled pid: it must be a runner for this very port.
    return RUNNER_MODULE.encode() in cmdline and str(record.port).encode() in cmdline


class ReaderControl:
    """Insert cards into and remove them from the vpcd slots of the running pcscd."""

    def __init__(self, data_dir: Path, layout: ReaderLayout | None = None) -> None:
        self.data_dir = data_dir
        self._layout = layout
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def layout(self) -> ReaderLayout:
        if self._layout is None:
            self._layout = pcscd.find_layout(self.data_dir)
            if self._layout is None:
                raise PcscdNotRunningError()
        return self._layout

    def refresh(self, layout: ReaderLayout | None = None) -> None:
        """Forget the cached layout (after pcscd restarted)."""
        self._layout = layout

    # -- records -----------------------------------------------------------------------------

    def _slots_dir(self) -> Path:
        path = pcscd.reader_dir(self.data_dir) / "slots"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _record_path(self, slot: int) -> Path:
        return self._slots_dir() / f"{slot}.json"

    def record(self, slot: int) -> SlotRecord | None:
        """Our live runner in `slot`, or None (stale records are deleted)."""
        path = self._record_path(slot)
        try:
            record = SlotRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        child = self._children.get(record.pid)
        if child is not None and child.poll() is not None:
            self._children.pop(record.pid, None)
        if _runner_alive(record):
            return record
        path.unlink(missing_ok=True)
        return None

    def status(self) -> list[SlotStatus]:
        slots = self.layout.slots
        states = reader_states([slot.reader for slot in slots])
        out = []
        for slot in slots:
            state = states.get(slot.reader)
            out.append(
                SlotStatus(
                    slot,
                    self.record(slot.index),
                    bool(state and state.present),
                    state.atr if state else b"",
                )
            )
        return out

    def free_slot(self) -> int:
        for entry in self.status():
            if entry.record is None and not entry.present:
                return entry.slot.index
        raise NoFreeSlotError(len(self.layout.slots))

    # -- insert / remove ----------------------------------------------------------------------

    def insert(
        self, card: Path, slot: int | None = None, *, timeout: float = INSERT_TIMEOUT
    ) -> Slot:
        """Start a runner for a card file in `slot` (first free one when None); return once
        pcscd reports the card present."""
        card = Path(card).resolve()
        if not card.is_file():
            raise NoCardError(f"card file {card} (it does not exist)")
        return self._start(["--card", str(card)], str(card), slot, timeout)

    def insert_factory(
        self, factory: str, slot: int | None = None, *, timeout: float = INSERT_TIMEOUT
    ) -> Slot:
        """Like `insert`, with a card built by `module:callable` (test doubles, benchmarks)."""
        return self._start(["--factory", factory], f"factory:{factory}", slot, timeout)

    def _start(self, source: list[str], card: str, slot: int | None, timeout: float) -> Slot:
        index = self.free_slot() if slot is None else slot
        target = self.layout.slot(index)
        existing = self.record(index)
        if existing is not None:
            raise SlotBusyError(index, f"card {existing.card} (runner pid {existing.pid})")
        state = reader_states([target.reader]).get(target.reader)
        if state is not None and state.present:
            raise SlotBusyError(index, "pcscd reports a card there that careid did not insert")
        logs = pcscd.reader_dir(self.data_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"runner-slot{index}.log"
        armed = self._armed_path(index)
        armed.unlink(missing_ok=True)
        env = dict(os.environ)
        # The runner imports this checkout (and, for factories, modules beside it).
        root = str(Path(simulator.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        with log_path.open("ab") as log:
            child = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [
                    sys.executable,
                    "-m",
                    RUNNER_MODULE,
                    *source,
                    "--port",
                    str(target.port),
                    "--armed-file",
                    str(armed),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # stays in the slot after the CLI returns
            )
        self._children[child.pid] = child
        record = SlotRecord(index, target.port, target.reader, child.pid, card, str(log_path))
        self._record_path(index).write_text(json.dumps(asdict(record)))
        deadline = time.monotonic() + timeout
        while True:
            if child.poll() is not None:
                self._record_path(index).unlink(missing_ok=True)
                raise ReaderError(
                    f"the card runner for slot {index} exited with status {child.returncode}: "
                    f"{_tail(log_path)}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill(record)
                raise InsertTimeoutError(index, timeout, str(log_path))
            if wait_for_card(target.reader, present=True, timeout=min(left, 0.5)):
                return target

    def remove(self, slot: int, *, timeout: float = REMOVE_TIMEOUT) -> None:
        """Pull the card out of `slot`; return once pcscd reports the slot empty."""
        target = self.layout.slot(slot)
        record = self.record(slot)
        if record is None:
            raise NoCardError(f"slot {slot} (no card inserted by careid)")
        self._kill(record, timeout)
        wait_for_card(target.reader, present=False, timeout=timeout)

    def remove_mid_command(self, slot: int, *, timeout: float = ARM_TIMEOUT) -> None:
        """Arm `slot` so the card is pulled out during the next command it receives.

        Returns once the runner has armed: that command gets no answer, the client sees the
        card removed, and the slot stays empty.
        """
        self._arm(slot, signal.SIGUSR1, timeout)

    def tear_at_comparison(self, slot: int, *, timeout: float = ARM_TIMEOUT) -> None:
        """Arm `slot` so the card loses power when it next compares a PIN or PUK.

        The card's process dies at that moment (as a card does when pulled mid-VERIFY): the
        command gets no answer, and what the card file holds is what the card had written.
        """
        self._arm(slot, signal.SIGUSR2, timeout)

    def _arm(self, slot: int, signum: int, timeout: float) -> None:
        record = self.record(slot)
        if record is None:
            raise NoCardError(f"slot {slot} (no card inserted by careid)")
        armed = self._armed_path(slot)
        armed.unlink(missing_ok=True)
        os.kill(record.pid, signum)
        deadline = time.monotonic() + timeout
        while not armed.exists():
            if time.monotonic() >= deadline or not _runner_alive(record):
                raise ReaderError(f"the runner in slot {slot} did not arm within {timeout:g} s")
            time.sleep(0.005)

    def remove_all(self, *, timeout: float = REMOVE_TIMEOUT) -> None:
        """Stop every runner this data directory started and wait until pcscd sees the slots
        empty (used by `reader down` and tests)."""
        removed = []
        for path in sorted(self._slots_dir().glob("*.json")):
            with contextlib.suppress(ValueError):
                record = self.record(int(path.stem))
                if record is not None:
                    self._kill(record, timeout)
                    removed.append(record)
        for record in removed:
            with contextlib.suppress(ReaderError):  # pcscd may be gone already
                wait_for_card(record.reader, present=False, timeout=timeout)

    def _armed_path(self, slot: int) -> Path:
        return self._slots_dir() / f"{slot}.armed"

    def _kill(self, record: SlotRecord, timeout: float = REMOVE_TIMEOUT) -> None:
        child = self._children.pop(record.pid, None)
        if _runner_alive(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _runner_alive(record) and time.monotonic() < deadline:
                if child is not None and child.poll() is not None:
                    break
                time.sleep(0.01)
            if _runner_alive(record):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGKILL)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=timeout)
        self._record_path(record.slot).unlink(missing_ok=True)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
