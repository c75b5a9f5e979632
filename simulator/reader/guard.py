"""The read-only guard: against a physical card, send nothing that changes its state.

A physical card in a vendor's reader is not ours to lock or rewrite. Unless the caller
allows state changes, commands that spend PIN tries or rewrite the card are refused before
they reach it. Even when allowed, a VERIFY with a PIN is refused when only one try is left.
"""

from __future__ import annotations

from simulator.iso7816.sw import retries_remaining
from simulator.piv.constants import Ins
from simulator.reader.errors import StateChangeRefusedError
from simulator.reader.framing import ApduProcessor

# INS that change a PIV card's persistent state (Yubico's vendor INS included: real cards
# under test are often YubiKeys).
STATE_CHANGING_INS = {
    Ins.CHANGE_REFERENCE_DATA: "CHANGE REFERENCE DATA",
    Ins.RESET_RETRY_COUNTER: "RESET RETRY COUNTER",
    Ins.PUT_DATA: "PUT DATA",
    Ins.GENERATE_ASYMMETRIC_KEY_PAIR: "GENERATE ASYMMETRIC KEY PAIR",
    0xFA: "SET PIN RETRIES (Yubico)",
    0xFB: "RESET (Yubico)",
    0xFE: "IMPORT KEY (Yubico)",
    0xFF: "SET MANAGEMENT KEY (Yubico)",
}


def state_change(apdu: bytes) -> str | None:
    """What a command would change on the card, or None when it changes nothing lasting."""
    if len(apdu) < 4:
        return None
    ins = apdu[1]
    if ins == Ins.VERIFY and apdu[2] == 0x00 and len(apdu) > 5:
        return "VERIFY with a PIN (a wrong one spends a try)"
    return STATE_CHANGING_INS.get(ins)


class ReadOnlyGuard:
    def __init__(
        self, inner: ApduProcessor, *, allow_state_changes: bool, protect_last_try: bool = True
    ) -> None:
        self.inner = inner
        self.allow_state_changes = allow_state_changes
        self.protect_last_try = protect_last_try

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        what = state_change(apdu)
        if what is not None:
            if not self.allow_state_changes:
                raise StateChangeRefusedError(what)
            if apdu[1] == Ins.VERIFY and self.protect_last_try:
                self._refuse_last_try(apdu)
        return self.inner.transmit(apdu)

    def _refuse_last_try(self, apdu: bytes) -> None:
        # VERIFY without data asks for the tries left and changes nothing.
        _, sw = self.inner.transmit(bytes((apdu[0], Ins.VERIFY, 0x00, apdu[3])))
        if sw == retries_remaining(1):
            raise StateChangeRefusedError("VERIFY with a PIN when only one try is left")
