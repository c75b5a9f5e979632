"""Reader-stack errors: each carries a stable code and says what to do about it."""

from __future__ import annotations

APT_FIX = "sudo apt-get install -y {packages}"


class ReaderError(Exception):
    """Base of every reader-stack error; `code` is stable, suites and the CLI assert on it."""

    code = "reader_error"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotInstalledError(ReaderError):
    """A Debian package of the reader stack is missing."""

    code = "not_installed"

    def __init__(self, what: str, packages: str) -> None:
        self.packages = packages
        super().__init__(
            f"{what} is not installed. Fix: {APT_FIX.format(packages=packages)}"
            " (or run scripts/bootstrap)"
        )


class PcscdNotRunningError(ReaderError):
    code = "pcscd_not_running"

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "pcscd is not running"
            + (f" ({detail})" if detail else "")
            + ". Start it with `careid reader up`."
        )


class ForeignPcscdError(ReaderError):
    """Another pcscd without vpcd readers holds the machine-wide socket."""

    code = "foreign_pcscd"

    def __init__(self, pid: int | None, readers: list[str]) -> None:
        self.pid = pid
        listed = ", ".join(readers) if readers else "no readers"
        super().__init__(
            f"a pcscd that careid did not start is running (pid {pid or 'unknown'}; {listed}) and "
            "has no vpcd readers. Only one pcscd can run per machine: stop it "
            "(e.g. `sudo systemctl stop pcscd.socket pcscd`) or add vsmartcard's vpcd to its "
            "reader.conf.d, then run `careid reader up` again."
        )


class PortInUseError(ReaderError):
    code = "port_in_use"

    def __init__(self, port: int, holder: str = "") -> None:
        self.port = port
        super().__init__(
            f"TCP port {port} is already in use"
            + (f" by {holder}" if holder else "")
            + "; pick another base port (--base-port) or stop that program."
        )


class SlotBusyError(ReaderError):
    code = "slot_busy"

    def __init__(self, slot: int, detail: str) -> None:
        self.slot = slot
        super().__init__(f"slot {slot} is busy: {detail}. Remove that card first.")


class NoSuchSlotError(ReaderError):
    code = "no_such_slot"

    def __init__(self, slot: int, count: int) -> None:
        self.slot = slot
        super().__init__(f"there is no slot {slot}; the reader has slots 0..{count - 1}")


class NoFreeSlotError(ReaderError):
    code = "no_free_slot"

    def __init__(self, count: int) -> None:
        super().__init__(f"all {count} slots hold a card; remove one or start more slots")


class NoCardError(ReaderError):
    code = "no_card"

    def __init__(self, where: str) -> None:
        super().__init__(f"no card in {where}")


class NoReaderError(ReaderError):
    code = "no_reader"

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        super().__init__(f"no reader named {name!r}; readers: {', '.join(available) or 'none'}")


class CardRemovedError(ReaderError):
    """The card left the reader while a command was in flight."""

    code = "card_removed"

    def __init__(self, where: str) -> None:
        super().__init__(f"card removed from {where} in the middle of a command")


class InsertTimeoutError(ReaderError):
    code = "insert_timeout"

    def __init__(self, slot: int, timeout: float, log: str) -> None:
        super().__init__(
            f"pcscd did not report the card in slot {slot} within {timeout:g} s (runner log: {log})"
        )


class StateChangeRefusedError(ReaderError):
    """The read-only guard of a physical-reader connection stopped a state-changing command."""

    code = "state_change_refused"

    def __init__(self, what: str, reason: str | None = None) -> None:
        super().__init__(
            f"refused to send {what} to a physical card: "
            + (
                reason
                or "it changes the card's state. Allow state changes to send it (the suites: "
                "--careid-destructive with --careid-pin and --careid-puk)"
            )
        )


class TransportError(ReaderError):
    """PC/SC reported a failure that has no more specific meaning here."""

    code = "transport_error"
