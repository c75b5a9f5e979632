"""What a core step asks the web layer to do: redirect, show a page, or answer JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CookieChange:
    name: str
    value: str | None  # None: delete
    max_age: int | None = None


@dataclass
class Redirect:
    url: str
    cookies: list[CookieChange] = field(default_factory=list)
    status: int = 303
    deliveries: list[Any] = field(default_factory=list)
    """Back-channel logout deliveries to run after answering."""


@dataclass
class Page:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    cookies: list[CookieChange] = field(default_factory=list)
    deliveries: list[Any] = field(default_factory=list)


Outcome = Redirect | Page
