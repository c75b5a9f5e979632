"""The card runner: one card in one vpcd slot, speaking vsmartcard's vpicc protocol.

Wire format (vsmartcard's `VirtualICC`): every message is a 2-byte big-endian length and
that many bytes. A 1-byte message is a control code (off, on, reset, ATR request); anything
longer is a command APDU answered with a response APDU. Connecting to the slot's port is
insertion, closing the socket is removal.

Why not run `virtualsmartcard.VirtualSmartcard.VirtualICC` itself: it takes ~49 ms per APDU
behind pcscd (Nagle + delayed ACK against vpcd's two small sends), trusts `recv(n)` to return
n bytes, exits the process on socket errors, and importing it needs PyCrypto. This loop keeps
its contract (the `SmartcardOS` methods, see `SmartcardOSCard`) and fixes those: TCP_NODELAY
once, TCP_QUICKACK before each recv (Linux clears it), exact framing over partial reads,
all answers of one read sent in one write, a cached ATR frame, `6F 00` for any card error,
and reconnection when pcscd restarts.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from simulator.card.store import open_card
from simulator.iso7816.sw import SW

log = logging.getLogger("careid.runner")

# vpcd control codes (vsmartcard's VPCD_CTRL_*).
CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

RECV_SIZE = 65536
CONNECT_TIMEOUT = 1.0
RECONNECT_INTERVAL = 0.05
DEFAULT_RECONNECT_WINDOW = 300.0  # how long to wait for pcscd to come back before giving up
DEFAULT_REINSERT_AFTER_DROP = 1.0  # long enough for pcscd's ~400 ms poll to see the removal
INTERNAL_ERROR = SW.INTERNAL_ERROR.bytes


class Card(Protocol):
    """What the runner needs of a card (simulator.card.card.VirtualCard has it)."""

    @property
    def atr(self) -> bytes: ...

    def execute(self, apdu: bytes) -> bytes: ...

    def power_up(self) -> None: ...

    def power_down(self) -> None: ...

    def reset(self) -> None: ...


class SmartcardOSCard:
    """Adapts a vsmartcard `SmartcardOS` (getATR/powerUp/powerDown/reset/execute) to `Card`."""

    def __init__(self, os: Any) -> None:
        self._os = os

    @property
    def atr(self) -> bytes:
        return bytes(self._os.getATR())

    def execute(self, apdu: bytes) -> bytes:
        return bytes(self._os.execute(apdu))

    def power_up(self) -> None:
        self._os.powerUp()

    def power_down(self) -> None:
        self._os.powerDown()

    def reset(self) -> None:
        self._os.reset()


class _Action(Enum):
    DROP = "drop"  # close the connection without answering


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


class CardRunner:
    """Serve one card on one vpcd port until stopped."""

    def __init__(
        self,
        card: Card,
        port: int,
        *,
        host: str = "127.0.0.1",
        reconnect_window: float = DEFAULT_RECONNECT_WINDOW,
        reinsert_after_drop: float | None = DEFAULT_REINSERT_AFTER_DROP,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.reconnect_window = reconnect_window
        self.reinsert_after_drop = reinsert_after_drop
        self.on_connect = on_connect
        self.connections = 0
        self._stop = threading.Event()
        self._drop_next = threading.Event()
        self._sock: socket.socket | None = None
        self._atr_frame = b""

    # -- control from signal handlers or other threads ---------------------------------------

    def stop(self) -> None:
        """Remove the card: close the connection and end `run`."""
        self._stop.set()
        self._shutdown()

    def drop_next_command(self) -> None:
        """Removal mid-command: the next APDU gets no answer and the card leaves the slot."""
        self._drop_next.set()

    def _shutdown(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv with EOF

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, serve, reconnect after pcscd restarts; return on stop or removal."""
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                log.error(
                    "no vpcd on %s:%d for %g s; giving up",
                    self.host,
                    self.port,
                    self.reconnect_window,
                )
                return
            outcome = self._serve(sock)
            if outcome == "stop":
                return
            if outcome == "dropped":
                if self.reinsert_after_drop is None:
                    return
                self._stop.wait(self.reinsert_after_drop)
            else:
                log.info("vpcd closed the connection (pcscd stopped?); reconnecting")

    def _connect(self) -> socket.socket | None:
        deadline = time.monotonic() + self.reconnect_window
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
            except OSError:
                if time.monotonic() >= deadline:
                    return None
                self._stop.wait(RECONNECT_INTERVAL)
                continue
            sock.settimeout(None)
            # vpcd sends length and APDU as two small writes: without these, Nagle on its side
            # and delayed ACK on ours hold the APDU for ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self.connections += 1
            log.info("inserted: connected to vpcd at %s:%d", self.host, self.port)
            if self.on_connect is not None:
                self.on_connect()
            if self._stop.is_set():  # stop() raced with the connect
                self._close()
                return None
            return sock
        return None

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _serve(self, sock: socket.socket) -> str:
        buffer = bytearray()
        quickack = getattr(socket, "TCP_QUICKACK", None)
        try:
            while True:
                if quickack is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
                chunk = sock.recv(RECV_SIZE)
                if not chunk:
                    return "stop" if self._stop.is_set() else "eof"
                buffer += chunk
                answers = bytearray()
                pos = 0
                while len(buffer) - pos >= 2:
                    size = int.from_bytes(buffer[pos : pos + 2], "big")
                    if len(buffer) - pos - 2 < size:
                        break  # the rest of this message is still on its way
                    message = bytes(buffer[pos + 2 : pos + 2 + size])
                    pos += 2 + size
                    answer = self._handle(message)
                    if answer is _Action.DROP:
                        if answers:
                            sock.sendall(answers)
                        log.info("connection dropped mid-command (card removed)")
                        return "dropped"
                    if answer:
                        answers += answer
                del buffer[:pos]
                if answers:
                    sock.sendall(answers)
        except OSError as exc:
            if self._stop.is_set():
                return "stop"
            log.info("socket error: %s; reconnecting", exc)
            return "eof"
        finally:
            self._close()

    def _handle(self, message: bytes) -> bytes | _Action | None:
        """The framed answer to one message, None for none, or DROP to cut the connection."""
        if len(message) == 1:
            return self._control(message[0])
        if not message:
            return None
        if self._drop_next.is_set():
            self._drop_next.clear()
            self._stop.set()  # a card pulled out stays out
            return _Action.DROP
        try:
            response = self.card.execute(message)
        except Exception:  # the slot must outlive any card bug
            log.exception("card raised; answering 6F 00")
            response = INTERNAL_ERROR
        if getattr(self.card, "connection_dropped", False):
            self.card.clear_drop()  # type: ignore[attr-defined]
            return _Action.DROP
        if len(response) < 2 or len(response) > 0xFFFF:
            response = INTERNAL_ERROR
        return _frame(response)

    def _control(self, code: int) -> bytes | None:
        try:
            if code == CTRL_ATR:
                # pcscd asks for the ATR at every presence poll (~400 ms): answer from a cache.
                if not self._atr_frame:
                    self._atr_frame = _frame(bytes(self.card.atr))
                return self._atr_frame
            if code == CTRL_ON:
                self.card.power_up()
            elif code == CTRL_OFF:
                self.card.power_down()
            elif code == CTRL_RESET:
                self.card.reset()
            else:
                log.warning("unknown vpcd control code %d", code)
        except Exception:
            log.exception("card raised on control code %d", code)
        return None


# --- the background process ------------------------------------------------------------------


def load_factory(spec: str) -> Callable[[], Card]:
    """`module:attribute` naming a zero-argument callable that returns a card."""
    module, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    if not callable(factory):
        raise TypeError(f"{spec} is not callable")
    return factory  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.reader.runner",
        description="Serve one virtual card on one vpcd slot (use `careid card insert`).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--card", type=Path, help="card file to serve")
    source.add_argument("--factory", help="module:callable returning a card (tests, benchmarks)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--armed-file", type=Path, help="touched when a mid-command drop is armed")
    parser.add_argument("--reconnect-window", type=float, default=DEFAULT_RECONNECT_WINDOW)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s slot-port=%(port)s %(message)s"
    )
    old_factory = logging.getLogRecordFactory()

    def record_factory(*a: Any, **k: Any) -> logging.LogRecord:
        record = old_factory(*a, **k)
        record.port = args.port
        return record

    logging.setLogRecordFactory(record_factory)

    if args.card is not None:
        # The log line marks each PIN or PUK comparison (tearing tests count them).
        card: Card = open_card(args.card, on_compare=lambda: log.info("secret comparison"))
    else:
        card = load_factory(args.factory)()
    runner = CardRunner(card, args.port, host=args.host, reconnect_window=args.reconnect_window)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        runner.stop()

    def on_drop(signum: int, frame: FrameType | None) -> None:
        runner.drop_next_command()
        if args.armed_file is not None:
            args.armed_file.touch()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    def on_tear(signum: int, frame: FrameType | None) -> None:
        arm = getattr(card, "arm_tear", None)
        if arm is not None:
            # Power lost at the next comparison: the process dies there, mid-command.
            arm(lambda: os.kill(os.getpid(), signal.SIGKILL))
        if args.armed_file is not None:
            args.armed_file.touch()

    signal.signal(signal.SIGUSR1, on_drop)
    signal.signal(signal.SIGUSR2, on_tear)
    runner.run()
    log.info("removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
