"""The target block of the report, one table per suite: what each suite was pointed at.

results.json holds a single flat `target` description per run, which each suite's session
fixture fills in with its own fields. Each suite's table shows the fields that describe its
target: the card suite the reader and card, oidc the issuer, agent the agent's URL, journeys
the stack's URLs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conformance.report.model import Target

# (label, Target field, shown in monospace)
Field = tuple[str, str, bool]

_CARD: tuple[Field, ...] = (
    ("Kind", "kind", False),
    ("Reader", "reader", False),
    ("ATR", "atr", True),
    ("Card serial", "card_serial", True),
    ("CHUID GUID", "guid", True),
    ("Care Identity UUID", "uuid", True),
    ("Label", "label", False),
    ("Persona", "persona", False),
    ("Fault mode", "fault", False),
)
_FIELDS: dict[str, tuple[Field, ...]] = {
    "card": _CARD,
    "oidc": (
        ("Issuer", "issuer", True),
        ("Provider", "provider", False),
        ("Profile", "profile", False),
        ("User", "persona", False),
        ("Kind", "kind", False),
    ),
    "agent": (
        ("Agent", "agent", True),
        ("Sign-in page origin", "origin", True),
        ("Readers", "agent_readers", False),
        ("Kind", "kind", False),
    ),
    "journeys": (
        ("CIS2 issuer", "issuer", True),
        ("NHSmail portal", "nhsmail", True),
        ("My Identity portal", "myidentity", True),
        ("Agent", "agent", True),
        ("Reader", "journeys_reader", False),
        ("Browser", "browser", False),
    ),
}
_SHARED = ("kind", "reader", "persona", "issuer", "agent")


@dataclass(frozen=True)
class TargetRow:
    label: str
    value: str | None
    mono: bool


@dataclass(frozen=True)
class SuiteTarget:
    suite: str
    rows: list[TargetRow]


def suite_targets(target: Target, suites: Sequence[str]) -> list[SuiteTarget]:
    """A table per suite; a suite the harness does not know gets the card's fields."""
    found = []
    for suite in suites:
        fields = _FIELDS.get(suite, _CARD)
        rows = [TargetRow(label, getattr(target, name), mono) for label, name, mono in fields]
        found.append(SuiteTarget(suite, rows))
    return found


def shared_fields(suites: Sequence[str]) -> list[str]:
    """Fields two of these suites both write (the last one to start wins in results.json)."""
    seen: dict[str, int] = {}
    for suite in set(suites):
        for _, name, _ in _FIELDS.get(suite, _CARD):
            seen[name] = seen.get(name, 0) + 1
    return [name for name in _SHARED if seen.get(name, 0) > 1]
