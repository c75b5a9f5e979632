"""A PIN or PUK that does not show itself: tracebacks, reprs and logs print a mask instead."""

from __future__ import annotations

MASK = "'******'"


class Secret(str):
    """Behaves as the string it holds, but its repr is a mask.

    pytest prints a failing test's arguments with repr(), so a PIN fixture that returns a plain
    str would land in junit.xml and logs; this one does not.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return MASK


def secret(value: str | None) -> Secret | None:
    return None if value is None else Secret(value)
