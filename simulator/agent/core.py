"""The Identity Agent's core: readers, cards, PINs, sign requests and removal policies.

No HTTP here (the FastAPI face in `simulator.agent.api` is a thin layer over this) and no
pyscard (cards come from a `ReaderSource`). Locust users and the headless flow client use
this class directly with in-process cards.

    agent = Agent(AgentConfig(allowed_origins=("https://127.0.0.1:9443",)), MemoryReaders())
    agent.start()
    request = agent.sign("https://127.0.0.1:9443", challenge)        # pin_required
    request = agent.submit_pin(request.id, Secret("314159")).request   # signed

Threads: a watcher thread polls the reader source and handles insertions and removals; the
callers' threads do the card work. All card I/O on one card is serialised by that card's
lock; the agent's own state by `_lock` (taken after a card lock, never before one).
The PIN is held in a `Secret` only while it is sent to the card; it is never logged.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from simulator.agent.card import CardInfo, card_sign, read_card
from simulator.agent.pending_ends import PENDING_DIR, PendingEnds
from simulator.agent.protocol import (
    AGENT_NAME,
    FailureCode,
    ForbiddenError,
    InvalidRequestError,
    NoCardError,
    OriginNotAllowedError,
    PinLockedError,
    Policy,
    RequestClosedError,
    RequestState,
    UnknownRequestError,
    b64url,
    check_challenge,
    check_session_end_url,
    normalize_origin,
    signin_message,
)
from simulator.agent.readers import ReaderSource
from simulator.agent.session_end import HttpsSessionEnd, SessionEndNotifier
from simulator.iso7816.sw import SW, PinVerifyError, StatusError
from simulator.piv.client import PivClient
from simulator.reader.connection import CardConnection
from simulator.reader.errors import CardRemovedError, ReaderError
from simulator.reader.errors import NoCardError as ReaderNoCardError
from simulator.reader.transcript import ExchangeObserver
from simulator.secret import Secret

log = logging.getLogger("careid.agent")

POLL_TIMEOUT = 0.5  # longest wait of one reader-source poll (in-process sources wake at once)
REQUEST_TIMEOUT = 300.0  # a request waiting for its PIN longer than this is cancelled
KEEP_FINISHED = 600.0  # seconds a finished request can still be read
MAX_REQUESTS = 1000
CARD_LOCK_TIMEOUT = 30.0  # the longest a caller waits for another's card operation
_PIN_FORMAT = re.compile(r"[0-9]{6,8}")


def agent_version() -> str:
    try:
        return metadata.version("careid-harness")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@dataclass(frozen=True)
class AgentConfig:
    allowed_origins: tuple[str, ...]
    policy: Policy = Policy.LEGACY
    # Card UUID -> PIN; None: headless PINs are off (the default).
    headless_pins: Mapping[str, Secret] | None = field(default=None, repr=False)
    ca_bundle: Path | None = None  # CAs trusted for session-end calls (None: the system's)
    # Where owed session ends are kept across restarts (None: in memory only).
    state_dir: Path | None = None
    request_timeout: float = REQUEST_TIMEOUT

    def __post_init__(self) -> None:
        origins = []
        for value in self.allowed_origins:
            origin = normalize_origin(value)
            if origin is None:
                raise ValueError(f"not an origin (scheme://host[:port]): {value!r}")
            origins.append(origin)
        object.__setattr__(self, "allowed_origins", tuple(dict.fromkeys(origins)))
        object.__setattr__(self, "policy", Policy(self.policy))
        if self.headless_pins is not None:
            pins = {str(uuid): Secret(str(pin)) for uuid, pin in self.headless_pins.items()}
            object.__setattr__(self, "headless_pins", pins)

    @property
    def headless(self) -> bool:
        return self.headless_pins is not None


class PinOutcome(StrEnum):
    SIGNED = "signed"
    WRONG_PIN = "wrong_pin"
    BAD_FORMAT = "bad_format"  # not 6-8 digits: nothing was sent to the card
    LOCKED = "locked"
    CARD_REMOVED = "card_removed"
    FAILED = "failed"


@dataclass(frozen=True)
class SignResult:
    signature: bytes
    certificate: bytes
    algorithm: str
    origin: str
    challenge: str
    uuid: str | None
    serial: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": b64url(self.signature),
            "certificate": b64url(self.certificate),
            "algorithm": self.algorithm,
            "origin": self.origin,
            "challenge": self.challenge,
            "card": {"uuid": self.uuid, "serial": self.serial},
        }


@dataclass(frozen=True)
class RequestError:
    code: FailureCode
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class SignRequest:
    """A snapshot of one sign request (the agent keeps the live one)."""

    id: str
    origin: str
    challenge: str
    reader: str
    state: RequestState
    created: float
    card_name: str | None = None
    card_uuid: str | None = None
    dialog: bool = False  # a PIN dialog belongs to it
    tries_left: int | None = None  # after a wrong PIN, for the dialog
    error: RequestError | None = None
    result: SignResult | None = None
    version: int = 0
    csrf: str = field(default="", repr=False)
    session_end_url: str | None = field(default=None, repr=False)
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.state is not RequestState.PIN_REQUIRED

    def to_json(self, dialog_url: str | None = None) -> dict[str, Any]:
        return {
            "request_id": self.id,
            "state": self.state.value,
            "dialog_url": dialog_url if self.dialog else None,
            "error": None if self.error is None else self.error.to_json(),
            "result": None if self.result is None else self.result.to_json(),
        }


@dataclass(frozen=True)
class PinResult:
    outcome: PinOutcome
    request: SignRequest


@dataclass(frozen=True)
class ReaderStatus:
    name: str
    card: CardInfo | None


@dataclass(frozen=True)
class AgentStatus:
    policy: Policy
    headless: bool
    readers: tuple[ReaderStatus, ...]
    version: str = field(default_factory=agent_version)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": AGENT_NAME,
            "version": self.version,
            "policy": self.policy.value,
            "headless": self.headless,
            "readers": [
                {"name": r.name, "card": None if r.card is None else r.card.to_json()}
                for r in self.readers
            ],
        }


@dataclass(frozen=True)
class AgentEvent:
    """`card-inserted` / `card-removed` ({"reader", "uuid"}) or `request` (a SignRequest)."""

    kind: str
    data: Any


Subscriber = Callable[[AgentEvent], None]
ObserverFactory = Callable[[str], Iterable[ExchangeObserver]]


@dataclass(eq=False)
class _Card:
    reader: str
    generation: int
    connection: CardConnection
    info: CardInfo
    observers: list[ExchangeObserver]
    lock: threading.RLock = field(default_factory=threading.RLock)
    removed: bool = False
    verified_any: bool = False  # legacy: the PIN was verified during this insertion
    verified_origins: set[str] = field(default_factory=set)  # connect: per origin
    session_ends: dict[str, str] = field(default_factory=dict)  # url -> request id


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        source: ReaderSource,
        *,
        notifier: SessionEndNotifier | None = None,
        observers: ObserverFactory | None = None,
        poll_timeout: float = POLL_TIMEOUT,
    ) -> None:
        self.config = config
        self.source = source
        if notifier is None:
            store = PendingEnds(config.state_dir / PENDING_DIR) if config.state_dir else None
            notifier = HttpsSessionEnd(config.ca_bundle, pending=store)
        self.notifier: SessionEndNotifier = notifier
        self._observers = observers
        self._poll_timeout = poll_timeout
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._readers: dict[str, bool] = {}
        self._cards: dict[str, _Card] = {}
        self._requests: dict[str, SignRequest] = {}
        self._subscribers: list[Subscriber] = []
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source_error: str | None = None
        self._connect_failures: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Look at the readers once (so the status is right at once), then watch them."""
        if self._thread is not None:
            return
        self._scan(0.0)
        self._thread = threading.Thread(target=self._watch, name="careid-agent-watch", daemon=True)
        self._thread.start()
        log.info(
            "agent started: policy %s, origins %s, headless PINs %s",
            self.config.policy.value,
            ", ".join(self.config.allowed_origins),
            "on" if self.config.headless else "off",
        )
        # What an earlier run still owed (optional: other notifiers keep nothing).
        resume = getattr(self.notifier, "resume", None)
        if callable(resume):
            try:
                resume()
            except OSError as exc:
                log.error("pending session ends not readable: %s", exc)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.source.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            cards = list(self._cards.values())
            self._cards.clear()
            for request in list(self._requests.values()):
                if not request.done:
                    self._finish(request, RequestState.CANCELLED, FailureCode.CANCELLED, "stopped")
            self._changed.notify_all()
        for card in cards:
            self._release(card)
        self.notifier.close(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- watching the readers ----------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self._scan(self._poll_timeout)
                self._expire()
            except Exception:  # the watcher must outlive any one bad look at the readers
                log.exception("reader watch failed; trying again")
                self._stop.wait(1.0)

    def scan(self) -> None:
        """Look at the readers now (tests and callers that just inserted a card)."""
        self._scan(0.0)

    def _scan(self, timeout: float) -> None:
        try:
            presence = self.source.poll(timeout)
        except ReaderError as exc:
            if self._source_error != exc.code:
                log.warning("cannot read the readers: [%s] %s", exc.code, exc)
                self._source_error = exc.code
            self._stop.wait(min(1.0, max(timeout, 0.2)))
            presence = {}
        else:
            if self._source_error is not None:
                log.info("readers readable again")
            self._source_error = None
        if self._stop.is_set():
            return
        with self._lock:
            self._readers = dict(presence)
            gone = [c for name, c in self._cards.items() if not presence.get(name)]
            new = [n for n, present in presence.items() if present and n not in self._cards]
        for card in gone:
            self._card_gone(card)
        for name in sorted(new):
            self._card_inserted(name)

    def _card_inserted(self, reader: str) -> None:
        observers = list(self._observers(reader)) if self._observers else []
        try:
            connection = self.source.connect(reader, observers)
        except ReaderError as exc:
            self._close_observers(observers)
            if reader not in self._connect_failures:
                log.info("card in %s not usable yet: [%s] %s", reader, exc.code, exc)
                self._connect_failures.add(reader)
            return
        self._connect_failures.discard(reader)
        try:
            info = read_card(connection)
        except (CardRemovedError, ReaderNoCardError):
            connection.close()
            self._close_observers(observers)
            return
        except (StatusError, ReaderError, ValueError) as exc:
            log.warning("card in %s could not be read: %s", reader, exc)
            info = CardInfo()
        with self._lock:
            if self._stop.is_set() or reader in self._cards:
                connection.close()
                self._close_observers(observers)
                return
            self._generation += 1
            card = _Card(reader, self._generation, connection, info, observers)
            self._cards[reader] = card
            self._readers[reader] = True
        log.info("card inserted in %s: uuid %s, serial %s", reader, info.uuid, info.serial)
        self._publish(AgentEvent("card-inserted", {"reader": reader, "uuid": info.uuid}))

    def _card_gone(self, card: _Card) -> None:
        """The card left its reader: cancel what waits for it, end sessions (legacy)."""
        with self._lock:
            if card.removed:
                return
            card.removed = True
            if self._cards.get(card.reader) is card:
                del self._cards[card.reader]
            events = []
            for request in list(self._requests.values()):
                if not request.done and request.reader == card.reader:
                    updated = self._finish(
                        request,
                        RequestState.CANCELLED,
                        FailureCode.CARD_REMOVED,
                        "the card was removed",
                    )
                    events.append(AgentEvent("request", updated))
            session_ends = dict(card.session_ends) if self.config.policy is Policy.LEGACY else {}
            self._changed.notify_all()
        log.info("card removed from %s: uuid %s", card.reader, card.info.uuid)
        for event in events:
            self._publish(event)
        self._publish(AgentEvent("card-removed", {"reader": card.reader, "uuid": card.info.uuid}))
        for url, request_id in session_ends.items():
            log.info("ending the session of request %s (card removed)", request_id)
            self.notifier.notify(
                url, {"reason": "card_removed", "uuid": card.info.uuid, "request_id": request_id}
            )
        self._release(card)

    def _release(self, card: _Card) -> None:
        acquired = card.lock.acquire(timeout=CARD_LOCK_TIMEOUT)
        try:
            card.connection.close()
        except ReaderError:
            pass
        finally:
            if acquired:
                card.lock.release()
        self._close_observers(card.observers)

    @staticmethod
    def _close_observers(observers: Iterable[ExchangeObserver]) -> None:
        for observer in observers:
            close = getattr(observer, "close", None)
            if callable(close):
                close()

    def _expire(self) -> None:
        now = time.monotonic()
        events = []
        with self._lock:
            for request in list(self._requests.values()):
                if not request.done and now - request.created > self.config.request_timeout:
                    updated = self._finish(
                        request, RequestState.CANCELLED, FailureCode.CANCELLED, "timed out"
                    )
                    events.append(AgentEvent("request", updated))
                elif request.finished is not None and now - request.finished > KEEP_FINISHED:
                    del self._requests[request.id]
            if events:
                self._changed.notify_all()
        for event in events:
            self._publish(event)

    # -- status and events --------------------------------------------------------------------

    def status(self) -> AgentStatus:
        with self._lock:
            readers = tuple(
                ReaderStatus(name, card.info if (card := self._cards.get(name)) else None)
                for name in sorted(self._readers)
            )
        return AgentStatus(self.config.policy, self.config.headless, readers)

    def subscribe(self, callback: Subscriber) -> tuple[AgentStatus, Callable[[], None]]:
        """Call `callback` with every event from now on (from the agent's threads; it must
        not block). Returns the status at the moment of subscribing and an unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)
            status = self.status()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return status, unsubscribe

    def _publish(self, event: AgentEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("an event subscriber failed")

    # -- sign requests ------------------------------------------------------------------------

    def check_origin(self, origin: str | None) -> str:
        """The origin in its serialised form, when it is one of the allowed sign-in origins."""
        normal = normalize_origin(origin) if origin else None
        if normal is None or normal not in self.config.allowed_origins:
            raise OriginNotAllowedError()
        return normal

    def _card_for(self, reader: str | None) -> _Card:
        with self._lock:
            if reader is not None:
                card = self._cards.get(reader)
                if card is None:
                    raise NoCardError(f"no card in reader {reader!r}")
                return card
            for name in sorted(self._cards):
                return self._cards[name]
        raise NoCardError("no card in any reader")

    def sign(
        self,
        origin: str | None,
        challenge: object,
        *,
        reader: object = None,
        session_end_url: object = None,
    ) -> SignRequest:
        """Start a sign request: signed at once when the card may sign, else pin_required.

        Raises OriginNotAllowedError, InvalidRequestError, NoCardError or PinLockedError.
        """
        origin = self.check_origin(origin)
        challenge = check_challenge(challenge)
        if reader is not None and not isinstance(reader, str):
            raise InvalidRequestError("reader must be a reader name")
        end_url = None
        if session_end_url is not None:
            end_url = check_session_end_url(session_end_url, origin)
        card = self._card_for(reader)
        with self._card_lock(card):
            tries = self._tries_left(card)
            if tries == 0:
                raise PinLockedError(
                    "the card's PIN is blocked: contact the Registration Authority"
                )
            request = SignRequest(
                id=secrets.token_urlsafe(16),
                origin=origin,
                challenge=challenge,
                reader=card.reader,
                state=RequestState.PIN_REQUIRED,
                created=time.monotonic(),
                card_name=card.info.name,
                card_uuid=card.info.uuid,
                csrf=secrets.token_urlsafe(24),
                session_end_url=end_url,
            )
            with self._lock:
                self._store(request)
            if tries is None and not self._pin_needed(card, origin):
                log.info("request %s from %s: signing (PIN already given)", request.id, origin)
                request = self._sign_now(card, request)
            elif self.config.headless_pins is not None and (
                pin := self.config.headless_pins.get(card.info.uuid or "")
            ):
                log.info("request %s from %s: headless PIN", request.id, origin)
                outcome, request = self._verify_and_sign(card, request, pin)
                if outcome is PinOutcome.LOCKED:
                    raise PinLockedError("the card's PIN is blocked")
                if outcome is PinOutcome.CARD_REMOVED:
                    raise NoCardError("the card was removed")
                if outcome is PinOutcome.WRONG_PIN:
                    request = self._fail(
                        request,
                        FailureCode.CARD_ERROR,
                        f"the headless PIN was refused: {request.tries_left} tries left",
                    )
            else:
                log.info("request %s from %s: PIN dialog", request.id, origin)
                request = self._update(request, dialog=True)
        return request

    def _card_lock(self, card: _Card) -> _CardLock:
        return _CardLock(card)

    def _pin_needed(self, card: _Card, origin: str) -> bool:
        if self.config.policy is Policy.LEGACY:
            return not card.verified_any
        return origin not in card.verified_origins

    def _tries_left(self, card: _Card) -> int | None:
        """The card's PIN state: None verified, else tries left. The card's gone: NoCardError."""
        try:
            tries = PivClient(card.connection).pin_tries_left()
        except StatusError as exc:
            if exc.sw == SW.AUTH_METHOD_BLOCKED:
                return 0
            raise
        except (CardRemovedError, ReaderNoCardError):
            self._card_gone(card)
            raise NoCardError("the card was removed") from None
        if tries is not None:
            card.verified_any = False
            card.verified_origins.clear()
        return tries

    def _sign_now(self, card: _Card, request: SignRequest) -> SignRequest:
        """Have the card sign (its lock held, PIN verified); the request's new state."""
        message = signin_message(request.origin, request.challenge)
        try:
            signature = card_sign(card.connection, card.info, message)
        except StatusError as exc:
            if exc.sw == SW.SECURITY_STATUS_NOT_SATISFIED:
                card.verified_any = False
                card.verified_origins.clear()
                return self._update(request, dialog=True)  # the card forgot the PIN: ask again
            return self._fail(request, FailureCode.CARD_ERROR, f"the card refused to sign: {exc}")
        except (CardRemovedError, ReaderNoCardError):
            updated = self._fail(
                request, FailureCode.CARD_REMOVED, "the card was removed", RequestState.CANCELLED
            )
            self._card_gone(card)
            return updated
        except ReaderError as exc:
            return self._fail(request, FailureCode.CARD_ERROR, f"[{exc.code}] {exc}")
        info = card.info
        result = SignResult(
            signature=signature,
            certificate=info.certificate or b"",
            algorithm=info.algorithm.value if info.algorithm else "",
            origin=request.origin,
            challenge=request.challenge,
            uuid=info.uuid,
            serial=info.serial,
        )
        if request.session_end_url and self.config.policy is Policy.LEGACY:
            card.session_ends[request.session_end_url] = request.id
        log.info("request %s signed by card %s", request.id, info.uuid)
        return self._finish_and_publish(request, RequestState.SIGNED, result=result)

    def _verify_and_sign(
        self, card: _Card, request: SignRequest, pin: Secret
    ) -> tuple[PinOutcome, SignRequest]:
        try:
            PivClient(card.connection).verify_pin(pin)
        except PinVerifyError as exc:
            card.verified_any = False
            card.verified_origins.clear()
            if exc.tries_left == 0:
                return PinOutcome.LOCKED, self._locked(request)
            log.info("request %s: wrong PIN, %d tries left", request.id, exc.tries_left)
            return PinOutcome.WRONG_PIN, self._update(request, tries_left=exc.tries_left)
        except StatusError as exc:
            if exc.sw == SW.AUTH_METHOD_BLOCKED:
                return PinOutcome.LOCKED, self._locked(request)
            failed = self._fail(request, FailureCode.CARD_ERROR, f"VERIFY failed: {exc}")
            return PinOutcome.FAILED, failed
        except (CardRemovedError, ReaderNoCardError):
            removed = self._fail(
                request, FailureCode.CARD_REMOVED, "the card was removed", RequestState.CANCELLED
            )
            self._card_gone(card)
            return PinOutcome.CARD_REMOVED, removed
        except ReaderError as exc:
            failed = self._fail(request, FailureCode.CARD_ERROR, f"[{exc.code}] {exc}")
            return PinOutcome.FAILED, failed
        card.verified_any = True
        card.verified_origins.add(request.origin)
        signed = self._sign_now(card, request)
        if signed.state is RequestState.SIGNED:
            return PinOutcome.SIGNED, signed
        if signed.error is not None and signed.error.code is FailureCode.CARD_REMOVED:
            return PinOutcome.CARD_REMOVED, signed
        return PinOutcome.FAILED, signed

    def _locked(self, request: SignRequest) -> SignRequest:
        log.info("request %s: the card's PIN is blocked", request.id)
        return self._fail(
            request,
            FailureCode.PIN_LOCKED,
            "the card is locked: contact your Registration Authority",
        )

    def submit_pin(self, request_id: str, pin: str, *, csrf: str | None = None) -> PinResult:
        """The PIN from the dialog (or a caller of the core): verify, then sign.

        `csrf` is the dialog form's token; the HTTP face always passes it, in-process callers
        may leave it out. The PIN is not kept anywhere.
        """
        pin = Secret(pin)
        request = self.request(request_id, csrf=csrf)
        if request.done:
            raise RequestClosedError(f"the request is {request.state.value}")
        if not _PIN_FORMAT.fullmatch(pin):
            return PinResult(PinOutcome.BAD_FORMAT, request)
        with self._lock:
            card = self._cards.get(request.reader)
        if card is None:
            return PinResult(PinOutcome.CARD_REMOVED, self.request(request_id))
        with self._card_lock(card):
            request = self.request(request_id)
            if request.done:
                raise RequestClosedError(f"the request is {request.state.value}")
            outcome, request = self._verify_and_sign(card, request, pin)
        return PinResult(outcome, request)

    def cancel(self, request_id: str, *, csrf: str | None = None) -> SignRequest:
        """The dialog's Cancel: the request ends `cancelled`."""
        request = self.request(request_id, csrf=csrf)
        with self._lock:
            request = self._requests[request_id]
            if request.done:
                raise RequestClosedError(f"the request is {request.state.value}")
            log.info("request %s cancelled in the dialog", request_id)
            return self._finish_and_publish(
                request,
                RequestState.CANCELLED,
                FailureCode.CANCELLED,
                "cancelled by the user",
            )

    def request(self, request_id: str, *, csrf: str | None = None) -> SignRequest:
        with self._lock:
            request = self._requests.get(request_id)
        if request is None:
            raise UnknownRequestError("no such sign request")
        if csrf is not None and not hmac.compare_digest(csrf.encode(), request.csrf.encode()):
            raise ForbiddenError("the form's csrf token does not match")
        return request

    def wait(self, request_id: str, timeout: float, *, version: int | None = None) -> SignRequest:
        """Block until the request changes (from `version`, or from pin_required) or timeout."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                request = self.request(request_id)
                changed = request.version != version if version is not None else request.done
                left = deadline - time.monotonic()
                if changed or left <= 0 or self._stop.is_set():
                    return request
                self._changed.wait(left)

    # -- request bookkeeping (the live requests are immutable snapshots, replaced) ------------

    def _store(self, request: SignRequest) -> None:
        self._requests[request.id] = request
        if len(self._requests) > MAX_REQUESTS:
            finished = sorted(
                (r for r in self._requests.values() if r.done), key=lambda r: r.finished or 0
            )
            for old in finished[: len(self._requests) - MAX_REQUESTS]:
                del self._requests[old.id]

    def _update(self, request: SignRequest, **changes: Any) -> SignRequest:
        with self._lock:
            current = self._requests.get(request.id, request)
            updated = replace(current, version=current.version + 1, **changes)
            self._requests[request.id] = updated
            self._changed.notify_all()
        self._publish(AgentEvent("request", updated))
        return updated

    def _finish(
        self,
        request: SignRequest,
        state: RequestState,
        code: FailureCode | None = None,
        message: str = "",
        result: SignResult | None = None,
    ) -> SignRequest:
        """Under `_lock`: end the request (no event; the caller publishes)."""
        current = self._requests.get(request.id, request)
        updated = replace(
            current,
            state=state,
            error=None if code is None else RequestError(code, message),
            result=result,
            version=current.version + 1,
            finished=time.monotonic(),
        )
        self._requests[request.id] = updated
        return updated

    def _finish_and_publish(
        self,
        request: SignRequest,
        state: RequestState,
        code: FailureCode | None = None,
        message: str = "",
        result: SignResult | None = None,
    ) -> SignRequest:
        with self._lock:
            updated = self._finish(request, state, code, message, result)
            self._changed.notify_all()
        self._publish(AgentEvent("request", updated))
        return updated

    def _fail(
        self,
        request: SignRequest,
        code: FailureCode,
        message: str,
        state: RequestState = RequestState.FAILED,
    ) -> SignRequest:
        return self._finish_and_publish(request, state, code, message)


class _CardLock:
    """One caller at a time on a card, bounded; a pulled card answers NoCardError."""

    def __init__(self, card: _Card) -> None:
        self.card = card

    def __enter__(self) -> _Card:
        if not self.card.lock.acquire(timeout=CARD_LOCK_TIMEOUT):
            raise NoCardError("the card is busy")
        if self.card.removed:
            self.card.lock.release()
            raise NoCardError("the card was removed")
        return self.card

    def __exit__(self, *exc: object) -> None:
        self.card.lock.release()
