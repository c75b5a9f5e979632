"""Errors of the personas file, worded for the person editing it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PersonaProblem:
    """One thing wrong in a personas file.

    `persona` is the persona's name (or "#3" when it has none yet), `field` the dotted path
    inside it (`card.pin`, `care_identity.roles[1].role_code`); either is None when the
    problem is not about one persona or one field (a TOML syntax error, say).
    """

    persona: str | None
    field: str | None
    reason: str

    def describe(self, source: Path) -> str:
        where = str(source)
        if self.persona is not None:
            label = self.persona if self.persona.startswith("#") else f"'{self.persona}'"
            where += f": persona {label}"
        if self.field is not None:
            where += f" → {self.field}"
        return f"{where}: {self.reason}"


class PersonaFileError(ValueError):
    """The personas file cannot be used. The message has one line per problem, e.g.
    `personas.toml: persona 'erin' → card.pin: a PIN is 6 to 8 digits`."""

    def __init__(self, path: Path, problems: Sequence[PersonaProblem]) -> None:
        if not problems:
            raise ValueError("a PersonaFileError needs at least one problem")
        self.path = path
        self.problems = tuple(problems)
        super().__init__("\n".join(problem.describe(path) for problem in self.problems))

    @property
    def persona(self) -> str | None:
        return self.problems[0].persona

    @property
    def field(self) -> str | None:
        return self.problems[0].field

    @property
    def reason(self) -> str:
        return self.problems[0].reason


class UnknownPersonaError(LookupError):
    """No persona has the name asked for; the message lists those that exist."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        self.name = name
        self.available = tuple(available)
        names = ", ".join(self.available) or "(none)"
        super().__init__(f"unknown persona {name!r}; the personas are: {names}")
