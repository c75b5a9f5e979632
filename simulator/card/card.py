"""The virtual card: power, application selection, chaining, and the one error boundary."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from simulator.card.chaining import CommandChain, ResponseBuffer
from simulator.card.faults import REAL_CARD_TIMING, CardTiming, ConnectionDrop, Fault
from simulator.card.piv_application import PivApplication
from simulator.card.profile import profile_for_series
from simulator.card.state import CardState
from simulator.iso7816.apdu import CLA_CHAINING, CLA_SECURE_MESSAGING, CommandApdu
from simulator.iso7816.sw import SW, StatusError
from simulator.iso7816.tlv import tlv
from simulator.piv.constants import CARD_MANAGER_AID, MIN_AID_PREFIX, PIV_AID, Ins

log = logging.getLogger(__name__)

CHAINABLE = frozenset({Ins.GENERAL_AUTHENTICATE, Ins.PUT_DATA})
PIV = "piv"
CARD_MANAGER = "card-manager"
# What the card manager answers to SELECT: an FCI naming it, nothing more.
CARD_MANAGER_FCI = tlv(0x6F, tlv(0x84, CARD_MANAGER_AID) + tlv(0xA5, tlv(0x9F65, b"\xff")))


class VirtualCard:
    """A PIV card in software. `execute` never raises: every outcome is a response APDU."""

    def __init__(
        self,
        state: CardState,
        *,
        persist: Callable[[CardState], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timing: CardTiming = REAL_CARD_TIMING,
        random: Callable[[int], bytes] = os.urandom,
        on_compare: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.profile = profile_for_series(state.series)
        self._persist = persist
        self._sleep = sleep
        self._timing = timing
        self._on_compare = on_compare
        self._tear: Callable[[], None] | None = None
        self.piv = PivApplication(
            state,
            self.profile,
            on_change=self._changed,
            delay=self._delay,
            random=random,
            comparing=self._comparing,
        )
        self._chain = CommandChain()
        self._responses = ResponseBuffer()
        self.connection_dropped = False
        self.powered = False
        self.selected = PIV
        self.power_up()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self.profile.atr

    def power_up(self) -> None:
        self._clear_volatile()
        self.powered = True

    def power_down(self) -> None:
        self._clear_volatile()
        self.powered = False

    def reset(self) -> None:
        self._clear_volatile()
        self.powered = True

    def arm_tear(self, cut: Callable[[], None] | None = None) -> None:
        """Lose power at the next PIN or PUK comparison (a card pulled out mid-VERIFY).

        `cut` is what losing power means to the transport: by default the card drops the
        connection there; the vpcd runner kills its own process instead.
        """
        self._tear = cut or _drop_connection

    def clear_drop(self) -> None:
        """The transport has acted on a dropped connection."""
        self.connection_dropped = False

    def _clear_volatile(self) -> None:
        # PIV is the default application after power-up, with its security status cleared.
        self.piv.reset_security()
        self._chain.clear()
        self._responses.clear()
        self.selected = PIV

    # -- the boundary --------------------------------------------------------------------------

    def execute(self, apdu: bytes) -> bytes:
        """Process one command APDU; return response data followed by the status word."""
        if not self.powered:
            self.power_up()  # a contact card that receives a command has been powered
        self._delay("apdu")
        try:
            return self._dispatch(CommandApdu.parse(apdu))
        except StatusError as error:
            # An error ends any chain too: even a command refused before dispatch interrupts it.
            self._chain.clear()
            self._responses.clear()
            return error.sw.to_bytes(2, "big")
        except ConnectionDrop:
            self.connection_dropped = True
            self.power_down()
            return SW.INTERNAL_ERROR.bytes
        except Exception:  # the card answers 6F 00 to its own bugs, never raises to its caller
            log.exception("card bug while executing INS %02X", apdu[1] if len(apdu) > 1 else -1)
            self._chain.clear()
            self._responses.clear()
            return SW.INTERNAL_ERROR.bytes

    def _dispatch(self, apdu: CommandApdu) -> bytes:
        self._check_class(apdu.cla)
        if apdu.ins == Ins.GET_RESPONSE:
            self._chain.clear()
            return self._responses.get_response(apdu)
        self._responses.clear()
        if apdu.chained and apdu.ins not in CHAINABLE:
            self._chain.clear()
            raise StatusError(SW.COMMAND_CHAINING_NOT_SUPPORTED)
        whole = self._chain.feed(apdu)
        if whole is None:
            return SW.SUCCESS.bytes
        if whole.ins == Ins.SELECT:
            return self._select(whole)
        if self.selected != PIV:
            raise StatusError(SW.INS_NOT_SUPPORTED, "the card manager takes no commands")
        handler = self.piv.handlers.get(whole.ins)
        if handler is None:
            raise StatusError(SW.INS_NOT_SUPPORTED)
        return self._responses.respond(handler(whole), whole.le)

    @staticmethod
    def _check_class(cla: int) -> None:
        if cla & ~CLA_CHAINING == 0:
            return
        if cla & 0xE0 == 0 and cla & CLA_SECURE_MESSAGING:
            raise StatusError(SW.SECURE_MESSAGING_NOT_SUPPORTED)
        raise StatusError(SW.CLA_NOT_SUPPORTED)

    def _select(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 != 0x04 or apdu.p2 not in (0x00, 0x0C):
            raise StatusError(SW.INCORRECT_P1P2)
        aid = apdu.data
        if MIN_AID_PREFIX <= len(aid) <= len(PIV_AID) and PIV_AID.startswith(aid):
            if self.selected != PIV:
                self.piv.reset_security()
            self.selected = PIV
            sw = SW.WARNING_SELECTED_FILE_DEACTIVATED if self.state.terminated else SW.SUCCESS
            answer = b"" if apdu.p2 == 0x0C else self.piv.application_property_template()
            return self._responses.respond(answer, apdu.le, sw)
        if MIN_AID_PREFIX <= len(aid) <= len(CARD_MANAGER_AID) and CARD_MANAGER_AID.startswith(aid):
            self.piv.reset_security()
            self.selected = CARD_MANAGER
            answer = b"" if apdu.p2 == 0x0C else CARD_MANAGER_FCI
            return self._responses.respond(answer, apdu.le)
        raise StatusError(SW.NOT_FOUND, "no application with this AID")

    # -- services for the application ---------------------------------------------------------

    def _comparing(self) -> None:
        if self._on_compare is not None:
            self._on_compare()
        tear, self._tear = self._tear, None
        if tear is not None:
            tear()

    def _changed(self) -> None:
        if self._persist is not None:
            self._persist(self.state)

    def _delay(self, operation: str) -> None:
        if Fault.SLOW in self.state.faults:
            self._sleep(getattr(self._timing, operation))


def _drop_connection() -> None:
    raise ConnectionDrop
