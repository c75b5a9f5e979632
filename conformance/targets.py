"""Targets of the card suite: the virtual card behind pcscd + vpcd, in-process, or physical.

A suite sees only a `CardConnection` (`transmit(apdu) -> (data, sw)`) and a `CardSession`
that says what the target can do (reset, removal). Which card is behind it is chosen here,
from the command-line options, so the same tests run on every target.

Physical cards are not ours: every command goes through the reader's one guard
(`simulator.reader.guard.PhysicalCardGuard`), which refuses state-changing commands in a
read-only run and, in a destructive run, any command that could spend a PIN try while fewer
than MIN_TRIES_TO_SPEND are left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from simulator.iso7816.sw import PinVerifyError, StatusError, retries_remaining
from simulator.iso7816.tlv import find, iter_tlv
from simulator.piv.client import PivClient
from simulator.piv.constants import Ins, KeyRef, ObjectTag, pad_pin
from simulator.reader.connection import CardConnection, InProcessTransport, Transport
from simulator.reader.errors import ReaderError
from simulator.reader.slot_lock import try_lock_slot
from simulator.reader.transcript import ExchangeObserver
from simulator.secret import Secret, secret

Kind = Literal["virtual", "in-process", "physical"]
DEFAULT_PERSONA = "alice"
# Fewer tries than this and no command that might spend one is sent to a physical card:
# a wrong PIN must always leave one try for the VERIFY that restores the counter.
CLAIM_TIMEOUT = 60.0  # seconds to wait for a vpcd slot another run holds
CARD_GONE_TIMEOUT = 10.0  # seconds for pcscd to notice a card whose process died


class ResettableInProcessTransport(InProcessTransport):
    """The in-process card with the reader's warm reset (what a reader does on request)."""

    def reset(self) -> None:
        self.card.reset()  # type: ignore[attr-defined]


class NonVolatileMemory:
    """What an in-process card has written so far: all a card keeps when pulled out."""

    def __init__(self, state: Any) -> None:
        self.saved = state.fresh_copy()

    def __call__(self, state: Any) -> None:
        self.saved = state.fresh_copy()

    def card_transport(self) -> ResettableInProcessTransport:
        """The card put back in: a new card object from the memory alone."""
        from simulator.card.card import VirtualCard  # noqa: PLC0415

        transport = ResettableInProcessTransport(VirtualCard(self.saved.fresh_copy(), persist=self))
        transport.memory = self  # type: ignore[attr-defined]
        return transport


def _pcsc_transport(reader: str) -> Transport:
    # pyscard is imported only when a PC/SC target is used.
    from smartcard import scard  # noqa: PLC0415

    from simulator.reader.pcsc import PcscTransport  # noqa: PLC0415

    class ResettablePcscTransport(PcscTransport):
        def reset(self) -> None:
            """A warm reset through PC/SC (vpcd passes it on to the card runner)."""
            hresult, self._protocol = scard.SCardReconnect(
                self._card,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                scard.SCARD_RESET_CARD,
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise self._failure(hresult, "SCardReconnect")

    return ResettablePcscTransport(reader)


def load_transport_factory(spec: str) -> Callable[[], Transport]:
    """`module:callable` returning a Transport (a vendor's own transport, or a test double)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"expected module:callable, got {spec!r}")
    factory = getattr(importlib.import_module(module), attr)
    if not callable(factory):
        raise ValueError(f"{spec} is not callable")
    return factory  # type: ignore[no-any-return]


@dataclass
class TargetOptions:
    kind: Kind
    reader: str | None = None
    persona: str = DEFAULT_PERSONA
    fault: str | None = None
    destructive: bool = False
    pin: str | None = field(default=None, repr=False)
    puk: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None
    crl: Path | None = None
    data_dir: Path | None = None
    transport: str | None = None  # module:callable, a physical target without PC/SC


@dataclass
class CardSession:
    """One test's card: its connection and what the target can do with it."""

    connection: CardConnection
    target: CardTarget
    observers: list[ExchangeObserver] = field(default_factory=list)
    slot: int | None = None
    pin_tries_before: int | None = None

    @property
    def can_reset(self) -> bool:
        transport = self.connection.transport
        can = getattr(transport, "can_reset", None)
        return bool(can) if can is not None else callable(getattr(transport, "reset", None))

    def reset(self) -> None:
        """A warm reset of the card (the security status must be cleared)."""
        self.connection.transport.reset()  # type: ignore[attr-defined]

    @property
    def can_reinsert(self) -> bool:
        return self.target.can_reinsert

    def reinsert(self) -> CardConnection:
        """Pull the card out of its reader and put it back; returns the new connection."""
        self.connection = self.target.reinsert(self)
        return self.connection

    @property
    def can_tear(self) -> bool:
        return self.target.can_tear

    def tear_at_comparison(self) -> None:
        """Arm the card to lose power when it next compares a PIN or PUK."""
        self.target.tear_at_comparison(self)

    def pin_tries_left(self) -> int | None:
        return PivClient(self.connection).pin_tries_left()


class CardTarget:
    """Base of the three targets. `start` before the first card, `stop` at the end."""

    kind: Kind
    profile: Literal["virtual", "physical"] = "virtual"
    can_reinsert = False
    can_tear = False  # can cut the card's power in the middle of a command

    def __init__(self, options: TargetOptions) -> None:
        self.options = options
        self.description: dict[str, Any] = {
            "kind": options.kind,
            "reader": options.reader,
            "atr": None,
            "card_serial": None,
            "guid": None,
            "uuid": None,
            "label": None,
            "persona": None,
            "fault": options.fault,
        }
        self.pin_limit: int | None = None
        self.unsafe_reason: str | None = None  # set when a physical card could not be restored
        self._described = False

    @property
    def destructive(self) -> bool:
        """True when tests may change the card's state."""
        return True

    @property
    def mode(self) -> Literal["read-only", "destructive"]:
        return "destructive" if self.destructive else "read-only"

    @property
    def pin(self) -> Secret | None:
        return secret(self.options.pin)

    @property
    def puk(self) -> Secret | None:
        return secret(self.options.puk)

    @property
    def ca_bundle(self) -> Path | None:
        return self.options.ca_bundle

    def crl(self) -> x509.CertificateRevocationList | None:
        if self.options.crl is None:
            return None
        data = self.options.crl.read_bytes()
        if data.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)

    def start(self) -> None:
        """Bring up whatever the target needs (nothing by default)."""

    def stop(self) -> None:
        """Release whatever `start` brought up."""

    def open(self, observers: Iterable[ExchangeObserver]) -> CardSession:
        raise NotImplementedError

    def close(self, session: CardSession) -> None:
        session.connection.close()

    def reinsert(self, session: CardSession) -> CardConnection:
        raise NotImplementedError(f"cards cannot be removed on the {self.kind} target")

    def tear_at_comparison(self, session: CardSession) -> None:
        raise NotImplementedError(f"power cannot be cut mid-command on the {self.kind} target")

    def describe_blanks(self, **values: Any) -> None:
        """Fill in the fields still empty: in a run of several suites, the first to describe
        the target (the card suite) keeps its words."""
        for key, value in values.items():
            self.description[key] = self.description.get(key) or value

    def describe_card(self, connection: CardConnection) -> None:
        """Fill in the description from the first card (read-only commands only)."""
        if self._described:
            return
        self._described = True
        self.description["atr"] = connection.atr.hex(" ").upper()
        try:
            identity = PivClient(connection).identity()
        except (StatusError, ReaderError, ValueError):
            return
        self.description.update(label=identity.label, guid=identity.guid, uuid=identity.uuid)
        self.description["card_serial"] = _card_serial(PivClient(connection))


def _card_serial(client: PivClient) -> str | None:
    """The card number: careid cards put it in the CCC card identifier after the GSC RID.

    Any other card is named by its whole CCC card identifier in hex.
    """
    try:
        ccc = client.read_object(ObjectTag.CCC)
        identifier = find(iter_tlv(ccc), 0xF0)
    except (StatusError, ValueError):
        return None
    if not identifier:
        return None
    digits = identifier[7:12].hex()
    if identifier[:7] == bytes.fromhex("A000000116FF02") and digits.isdigit():
        return digits
    return identifier.hex().upper()


# --- virtual targets: a fresh card per test ----------------------------------------------------


class _VirtualCards:
    """Issues the persona's card once; every test gets a fresh copy of it."""

    def __init__(self, options: TargetOptions, workdir: Path) -> None:
        from simulator.card.faults import Fault  # noqa: PLC0415
        from simulator.card.issue import issue_card  # noqa: PLC0415
        from simulator.card.store import load_card_state  # noqa: PLC0415
        from simulator.datadir import default_data_dir  # noqa: PLC0415
        from simulator.personas import get_persona  # noqa: PLC0415

        data_dir = options.data_dir or default_data_dir()
        self.persona = get_persona(options.persona)
        template = issue_card(
            options.persona, data_dir=data_dir, out=workdir / "template.card.json"
        )
        state = load_card_state(template)
        if options.fault:
            state = dataclasses.replace(state, faults=frozenset({Fault(options.fault)}))
        self.state = state
        self.data_dir = data_dir

    def fresh_state(self) -> Any:
        return self.state.fresh_copy()

    def card_file_bytes(self) -> bytes:
        from simulator.card import cardfile  # noqa: PLC0415

        return cardfile.dumps(self.state)


class _VirtualBase(CardTarget):
    def __init__(self, options: TargetOptions) -> None:
        super().__init__(options)
        self.cards: _VirtualCards | None = None
        self._workdir: Path | None = None
        self._pki_bundle: Path | None = None
        self._pki: Any = None

    def start(self) -> None:
        from simulator.pki import TestPKI  # noqa: PLC0415

        self._workdir = Path(tempfile.mkdtemp(prefix="careid-cards-"))
        self.cards = _VirtualCards(self.options, self._workdir)
        self._pki = TestPKI.open(self.cards.data_dir / "pki")
        self._pki_bundle = self._pki.ca_bundle_path
        self.description["persona"] = self.options.persona
        self.pin_limit = self.cards.state.pin.limit

    def stop(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def pin(self) -> Secret | None:
        return secret(self.cards.persona.card.pin if self.cards else self.options.pin)

    @property
    def puk(self) -> Secret | None:
        return secret(self.cards.persona.card.puk if self.cards else self.options.puk)

    @property
    def ca_bundle(self) -> Path | None:
        return self.options.ca_bundle or self._pki_bundle

    def crl(self) -> x509.CertificateRevocationList | None:
        if self.options.crl is not None or self._pki is None:
            return super().crl()
        crl: x509.CertificateRevocationList = self._pki.crl()
        return crl


class InProcessTarget(_VirtualBase):
    """The virtual card object in this process: no PC/SC, fastest."""

    kind: Kind = "in-process"
    can_reinsert = True
    can_tear = True

    def open(self, observers: Iterable[ExchangeObserver]) -> CardSession:
        if self.cards is None:
            raise RuntimeError("the target was not started")
        transport = NonVolatileMemory(self.cards.fresh_state()).card_transport()
        return CardSession(CardConnection(transport, observers=observers), self)

    def reinsert(self, session: CardSession) -> CardConnection:
        """A removal: the card object goes, a new one starts from what the card had written."""
        memory: NonVolatileMemory = session.connection.transport.memory  # type: ignore[attr-defined]
        return CardConnection(memory.card_transport(), observers=session.observers)

    def tear_at_comparison(self, session: CardSession) -> None:
        session.connection.transport.card.arm_tear()  # type: ignore[attr-defined]


class VirtualReaderTarget(_VirtualBase):
    """Fresh virtual cards inserted into vpcd slots of the machine's pcscd (started if needed).

    Inserting a card takes pcscd a poll cycle (~0.4 s) and so does removing one, so the next
    test's card is inserted into another slot while the current test runs, and used cards are
    removed in the background.
    """

    kind: Kind = "virtual"
    can_reinsert = True
    can_tear = True
    PREFETCH = 1  # cards inserted ahead of the test that will use them

    def __init__(self, options: TargetOptions) -> None:
        super().__init__(options)
        self._started_pcscd = False
        self._control: Any = None
        self._count = 0
        self._slots_lock = threading.Condition()
        self._free: list[int] = []
        self._ours: set[int] = set()
        self._locks: dict[int, int] = {}
        self._ready: deque[Future[tuple[int, str]]] = deque()
        self._inserting = ThreadPoolExecutor(max_workers=2, thread_name_prefix="careid-insert")
        self._removing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="careid-remove")
        self._removals: list[Future[None]] = []
        self._card_files: dict[int, Path] = {}  # slot → the card file this run put there

    def start(self) -> None:
        from simulator.reader import pcscd  # noqa: PLC0415
        from simulator.reader.control import ReaderControl  # noqa: PLC0415

        super().start()
        if self.cards is None:
            raise RuntimeError("the virtual cards were not issued")
        data_dir = self.cards.data_dir
        pcscd.check_installed()
        before = pcscd.find_layout(data_dir)
        layout = pcscd.start_pcscd(data_dir)
        self._started_pcscd = before is None  # stop only a pcscd this run started
        self._control = ReaderControl(data_dir, layout)
        # Slots holding someone else's card are left alone.
        self._free = [
            entry.slot.index
            for entry in self._control.status()
            if entry.record is None and not entry.present
        ]
        if not self._free:
            from simulator.reader.errors import NoFreeSlotError  # noqa: PLC0415

            raise NoFreeSlotError(len(layout.slots))
        self._template = self.cards.card_file_bytes()

    def stop(self) -> None:
        from simulator.reader import pcscd  # noqa: PLC0415

        try:
            for future in self._ready:
                with contextlib.suppress(Exception):
                    index, _ = future.result()
                    self._remove(index)
            self._ready.clear()
            self._inserting.shutdown(wait=True)
            self._removing.shutdown(wait=True)
            if self._control is not None:
                for slot in self._control.layout.slots:
                    self._sweep(slot.index)
                if self._started_pcscd:
                    pcscd.stop_pcscd(self._control.data_dir)
        finally:
            super().stop()

    def _claim(self) -> int:
        """A free slot, locked machine-wide so that two harness runs never share one."""
        deadline = time.monotonic() + CLAIM_TIMEOUT
        with self._slots_lock:
            while True:
                for index in list(self._free):
                    if self._lock_slot(index):
                        self._free.remove(index)
                        self._ours.add(index)
                        return index
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReaderError(f"no vpcd slot became free within {CLAIM_TIMEOUT:g} s")
                # Woken by a release of ours; polled for a release by another run.
                self._slots_lock.wait(timeout=min(left, 0.2))

    def _lock_slot(self, index: int) -> bool:
        fd = try_lock_slot(self._control.layout.slot(index).port)
        if fd is None:
            return False
        self._locks[index] = fd
        return True

    def _release(self, index: int) -> None:
        with self._slots_lock:
            fd = self._locks.pop(index, None)
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the lock
            self._ours.discard(index)
            self._free.append(index)
            self._slots_lock.notify_all()

    def _insert(self) -> tuple[int, str]:
        from simulator.reader.errors import SlotBusyError  # noqa: PLC0415

        if self._workdir is None:
            raise RuntimeError("the target was not started")
        with self._slots_lock:
            self._count += 1
            path = self._workdir / f"card-{self._count}.card.json"
        path.write_bytes(self._template)
        while True:
            index = self._claim()
            try:
                slot = self._control.insert(path, index)
            except SlotBusyError:
                with self._slots_lock:  # another program's card: never use this slot again
                    self._ours.discard(index)
                    fd = self._locks.pop(index, None)
                    if fd is not None:
                        os.close(fd)
                continue
            except BaseException:
                self._sweep(index)  # the runner may have started before the failure
                self._release(index)
                raise
            self._card_files[slot.index] = path
            return slot.index, slot.reader

    def _sweep(self, index: int) -> None:
        """Remove the card in `index` if it is one of this run's (never anyone else's)."""
        record = self._control.record(index)
        ours = self._workdir is not None and record is not None
        if ours and record is not None and Path(record.card).parent == self._workdir:
            with contextlib.suppress(ReaderError, OSError):
                self._control.remove(index)

    def _remove(self, index: int) -> None:
        try:
            self._control.remove(index)
        finally:
            self._release(index)

    def open(self, observers: Iterable[ExchangeObserver]) -> CardSession:
        future = self._ready.popleft() if self._ready else self._inserting.submit(self._insert)
        while len(self._ready) < self.PREFETCH:
            self._ready.append(self._inserting.submit(self._insert))
        index, reader = future.result()
        self.description["reader"] = self.description["reader"] or reader
        try:
            connection = CardConnection(
                _pcsc_transport(reader), physical=False, observers=observers
            )
        except BaseException:
            self._remove(index)
            raise
        return CardSession(connection, self, slot=index)

    def close(self, session: CardSession) -> None:
        try:
            session.connection.close()
        finally:
            if session.slot is not None:
                self._removals.append(self._removing.submit(self._remove, session.slot))

    def tear_at_comparison(self, session: CardSession) -> None:
        if session.slot is None:
            raise RuntimeError("this session holds no slot")
        self._control.tear_at_comparison(session.slot)

    def reinsert(self, session: CardSession) -> CardConnection:
        """Remove the card (its runner exits) and insert the same card file again."""
        if session.slot is None:
            raise RuntimeError("this session holds no slot")
        from simulator.reader.pcsc import wait_for_card  # noqa: PLC0415

        card = self._card_files.get(session.slot)
        if card is None:
            raise ReaderError(f"slot {session.slot} holds no card of this run")
        session.connection.close()
        if self._control.record(session.slot) is not None:
            self._control.remove(session.slot)
        else:  # the card's process is gone (power cut): wait until pcscd sees it out
            reader = self._control.layout.slot(session.slot).reader
            wait_for_card(reader, present=False, timeout=CARD_GONE_TIMEOUT)
        slot = self._control.insert(card, session.slot)
        return CardConnection(
            _pcsc_transport(slot.reader), physical=False, observers=session.observers
        )


# --- physical target: the same card for every test, guarded -------------------------------------


class PhysicalTarget(CardTarget):
    """A card in a physical reader (or behind a vendor's own transport): guarded, read-only
    unless the run is destructive."""

    kind: Kind = "physical"
    profile: Literal["virtual", "physical"] = "physical"

    @property
    def destructive(self) -> bool:
        return bool(self.options.destructive and self.options.pin and self.options.puk)

    def _transport(self) -> Transport:
        if self.options.transport:
            return load_transport_factory(self.options.transport)()
        if self.options.reader is None:
            raise ValueError("a physical target needs a reader name or a transport")
        return _pcsc_transport(self.options.reader)

    def open(self, observers: Iterable[ExchangeObserver]) -> CardSession:
        transport = self._transport()
        self.description["reader"] = self.options.reader or transport.name
        connection = CardConnection(
            transport, physical=True, allow_state_changes=self.destructive, observers=observers
        )
        return CardSession(connection, self)

    def before_test(self, session: CardSession) -> None:
        """Note the PIN tries left before a destructive test, so they can be restored."""
        session.pin_tries_before = session.pin_tries_left()

    def restore(self, session: CardSession) -> str | None:
        """Put the PIN counter back as it was before the test; None, or what went wrong."""
        if not self.destructive or self.pin is None:
            return None
        client = PivClient(session.connection)
        try:
            client.select()
            tries = client.pin_tries_left()
            before = session.pin_tries_before
            if tries is not None and (before is None or tries < before):
                # A right PIN restores the counter; the guard refuses it at one try left.
                client.verify_pin(self.pin)
            # Leave the card as unverified as the next test expects to find it.
            session.connection.transmit(bytes((0x00, Ins.VERIFY, 0xFF, KeyRef.PIN)))
        except (PinVerifyError, StatusError, ReaderError) as exc:
            self.unsafe_reason = f"the PIN counter could not be restored after a test: {exc}"
            return self.unsafe_reason
        return None


def make_target(options: TargetOptions) -> CardTarget:
    if options.kind == "physical":
        return PhysicalTarget(options)
    if options.kind == "in-process":
        return InProcessTarget(options)
    return VirtualReaderTarget(options)


def verify_command(pin: str) -> bytes:
    return bytes((0x00, Ins.VERIFY, 0x00, KeyRef.PIN, 0x08)) + pad_pin(pin)


def status_for_tries(tries: int) -> int:
    return retries_remaining(tries)
