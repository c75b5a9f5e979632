"""Status words: the one vocabulary the card, the agent and the suites share."""

from __future__ import annotations

from enum import IntEnum


class SW(IntEnum):
    """Status words the NHS PIV profile uses (card-profile.md)."""

    SUCCESS = 0x9000
    WARNING_SELECTED_FILE_DEACTIVATED = 0x6283
    WRONG_LENGTH = 0x6700
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    COMMAND_CHAINING_NOT_SUPPORTED = 0x6884
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED = 0x6986
    INCORRECT_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    NOT_FOUND = 0x6A82
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    INTERNAL_ERROR = 0x6F00

    @property
    def bytes(self) -> bytes:
        return self.value.to_bytes(2, "big")


def bytes_remaining(count: int) -> int:
    """`61 xx`: response bytes still available (xx = 00 means 256 or more)."""
    return 0x6100 | min(count, 256) % 256


def retries_remaining(tries: int) -> int:
    """`63 CX`: verification failed, X tries left."""
    return 0x63C0 | min(tries, 15)


def tries_left(sw: int) -> int | None:
    """X of a `63 CX` status word (a failed verification, or the status query's answer);
    None for any other status word."""
    return sw & 0x0F if sw & 0xFFF0 == 0x63C0 else None


def is_valid_sw(sw: int) -> bool:
    """True for a status word this profile may answer with (a fixed SW, 61xx or 63Cx)."""
    return sw in SW._value2member_map_ or sw & 0xFF00 == 0x6100 or tries_left(sw) is not None


def describe(sw: int) -> str:
    """A short human name for a status word, for errors and reports."""
    if sw in SW._value2member_map_:
        return SW(sw).name
    if sw & 0xFF00 == 0x6100:
        return f"BYTES_REMAINING({sw & 0xFF})"
    if tries_left(sw) is not None:
        return f"VERIFY_FAILED(tries_left={tries_left(sw)})"
    return "UNKNOWN"


class StatusError(Exception):
    """A command ended with a non-success status word.

    The card raises it from its handlers and turns it into a response at one boundary;
    clients raise it when a response carries an error status.
    """

    def __init__(self, sw: int, message: str = "") -> None:
        self.sw = sw
        super().__init__(f"{sw:04X} {describe(sw)}" + (f": {message}" if message else ""))


class PinVerifyError(StatusError):
    """`63 CX`: a wrong PIN or PUK, with the tries left."""

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(retries_remaining(tries_left))


def raise_for_status(sw: int) -> None:
    """Nothing for 90 00; PinVerifyError (with the tries left) for 63 CX; else StatusError."""
    if sw == SW.SUCCESS:
        return
    left = tries_left(sw)
    if left is not None:
        raise PinVerifyError(left)
    raise StatusError(sw)


def verification_status(sw: int) -> int | None:
    """The answer to the VERIFY status query: None when verified (90 00), else the tries
    left (63 CX); any other status word raises StatusError."""
    if sw == SW.SUCCESS:
        return None
    left = tries_left(sw)
    if left is None:
        raise StatusError(sw)
    return left
