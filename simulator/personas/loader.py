"""Reading personas from a TOML file (`[[persona]]` tables), with errors that point at the field.

Every problem in the file is reported at once, each naming the file, the persona and the
field path, so that one run of the loader is enough to fix a file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from simulator.personas.errors import PersonaFileError, PersonaProblem, UnknownPersonaError
from simulator.personas.models import Persona

DEFAULT_PERSONAS_PATH = Path(__file__).with_name("personas.toml")
"""The personas shipped with the harness (installed as package data)."""


def load_personas(path: Path | None = None) -> dict[str, Persona]:
    """All personas in `path` (default: the packaged file), by name, in file order.

    Raises PersonaFileError listing every problem: TOML syntax, unknown or missing fields,
    bad values, and names, UUIDs, e-mail addresses or role ids used twice.
    """
    source = Path(path) if path is not None else DEFAULT_PERSONAS_PATH
    tables = _persona_tables(source, _read_toml(source))
    problems: list[PersonaProblem] = []
    personas: list[tuple[str, Persona]] = []
    for index, table in enumerate(tables, start=1):
        label = _label(table, index)
        try:
            personas.append((label, Persona.model_validate(table)))
        except ValidationError as exc:
            problems.extend(_problems(label, exc))
    problems.extend(_duplicates(personas))
    if problems:
        raise PersonaFileError(source, problems)
    return {persona.name: persona for _, persona in personas}


def get_persona(name: str, path: Path | None = None) -> Persona:
    """The persona called `name`; UnknownPersonaError (a LookupError) lists the others."""
    personas = load_personas(path)
    try:
        return personas[name]
    except KeyError:
        raise UnknownPersonaError(name, personas) from None


def _read_toml(source: Path) -> dict[str, Any]:
    try:
        text = source.read_bytes().decode("utf-8")
    except OSError as exc:
        raise PersonaFileError(
            source, [PersonaProblem(None, None, exc.strerror or str(exc))]
        ) from exc
    except UnicodeDecodeError as exc:
        problem = PersonaProblem(None, None, f"not UTF-8 text (byte {exc.start})")
        raise PersonaFileError(source, [problem]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PersonaFileError(
            source, [PersonaProblem(None, None, f"invalid TOML: {exc}")]
        ) from None


def _persona_tables(source: Path, document: dict[str, Any]) -> list[dict[str, Any]]:
    problems = [
        PersonaProblem(None, key, "unknown top-level key; personas are [[persona]] tables")
        for key in document
        if key != "persona"
    ]
    tables = document.get("persona")
    if tables is None:
        problems.append(PersonaProblem(None, None, "no [[persona]] tables in the file"))
    elif not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(
            PersonaProblem(None, "persona", "write each persona as a [[persona]] table")
        )
    if problems or not isinstance(tables, list):
        raise PersonaFileError(source, problems)
    return tables


def _label(table: dict[str, Any], index: int) -> str:
    name = table.get("name")
    return name if isinstance(name, str) and name else f"#{index}"


def _problems(label: str, exc: ValidationError) -> list[PersonaProblem]:
    # include_input=False: the inputs may be PINs or passwords; they stay out of messages.
    errors = exc.errors(include_url=False, include_input=False)
    return [PersonaProblem(label, _field_path(error["loc"]), _reason(error)) for error in errors]


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path or "(persona)"


def _reason(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    return error["msg"]


def _duplicates(personas: list[tuple[str, Persona]]) -> list[PersonaProblem]:
    """Names, UUIDs, e-mail addresses and role ids must each identify one persona."""
    problems: list[PersonaProblem] = []
    checks: list[tuple[str, Callable[[Persona], Iterable[str]]]] = [
        ("name", lambda p: [p.name]),
        ("care_identity.uuid", lambda p: [p.care_identity.uuid]),
        ("nhsmail.email", lambda p: [p.nhsmail.email.lower()] if p.nhsmail else []),
        (
            "care_identity.roles.person_roleid",
            lambda p: [role.person_roleid for role in p.care_identity.roles],
        ),
    ]
    for field, values_of in checks:
        owner: dict[str, str] = {}
        for label, persona in personas:
            for value in values_of(persona):
                if value in owner:
                    earlier = "an earlier persona" if owner[value] == label else f"'{owner[value]}'"
                    reason = f"{value!r} is already used by {earlier}"
                    problems.append(PersonaProblem(label, field, reason))
                else:
                    owner[value] = label
    return problems
