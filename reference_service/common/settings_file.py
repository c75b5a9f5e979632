"""Writing a settings dataclass as the TOML file its service reads."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return _string(str(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return repr(value)


def settings_toml(settings: Any) -> str:
    """One `name = value` line per field that is set (None fields are left out)."""
    if not is_dataclass(settings):
        raise TypeError("settings are a dataclass")
    lines = [
        f"{item.name} = {_value(getattr(settings, item.name))}"
        for item in fields(settings)
        if getattr(settings, item.name) is not None
    ]
    return "\n".join(lines) + "\n"
