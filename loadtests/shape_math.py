"""Load shapes as plain functions of time: ramp, step and soak.

A shape answers `tick(t)` with `(users, spawn_rate)` for the run's second `t`, or None when
the run is over. `loadtests.shapes.CareidShape` hands these answers to Locust; the maths lives
here so it can be tested without importing Locust.

Spec strings (`careid load --shape`):

* `ramp:users=50,rate=5,hold=60`: rise to 50 users at 5/s, then hold for 60 s;
* `step:users=10,steps=5,every=30,rate=10`: 10, 20, … 50 users, each held 30 s;
* `soak:users=25,rate=5,duration=300`: rise to 25 users and hold them 300 s in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

Tick = tuple[int, float] | None


class Shape(Protocol):
    def tick(self, t: float) -> Tick: ...

    @property
    def duration(self) -> float: ...


class ShapeSpecError(ValueError):
    """A shape spec string that cannot be used."""


@dataclass(frozen=True)
class Ramp:
    users: int
    rate: float
    hold: float = 60.0

    @property
    def duration(self) -> float:
        return self.users / self.rate + self.hold

    def tick(self, t: float) -> Tick:
        if t >= self.duration:
            return None
        return self.users, self.rate


@dataclass(frozen=True)
class Step:
    users: int  # added at each step
    steps: int
    every: float  # seconds each step is held
    rate: float = 10.0

    @property
    def duration(self) -> float:
        return self.steps * self.every

    def tick(self, t: float) -> Tick:
        if t >= self.duration:
            return None
        step = min(self.steps, math.floor(t / self.every) + 1)
        return self.users * step, self.rate


@dataclass(frozen=True)
class Soak:
    users: int
    rate: float
    duration: float = 300.0

    def tick(self, t: float) -> Tick:
        if t >= self.duration:
            return None
        return self.users, self.rate


_KINDS: dict[str, tuple[type[Ramp] | type[Step] | type[Soak], dict[str, type]]] = {
    "ramp": (Ramp, {"users": int, "rate": float, "hold": float}),
    "step": (Step, {"users": int, "steps": int, "every": float, "rate": float}),
    "soak": (Soak, {"users": int, "rate": float, "duration": float}),
}


def parse_shape(spec: str) -> Ramp | Step | Soak:
    """`kind:key=value,…` -> the shape (ShapeSpecError names what is wrong)."""
    kind, _, rest = spec.strip().partition(":")
    if kind not in _KINDS:
        raise ShapeSpecError(f"unknown shape {kind!r}: one of {', '.join(_KINDS)}")
    cls, fields = _KINDS[kind]
    values: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key not in fields:
            raise ShapeSpecError(f"{kind}: unknown setting {item!r} (known: {', '.join(fields)})")
        try:
            number = fields[key](raw)
        except ValueError:
            raise ShapeSpecError(f"{kind}: {key} is not a number: {raw!r}") from None
        if number <= 0:
            raise ShapeSpecError(f"{kind}: {key} must be positive")
        values[key] = number
    if "users" not in values:
        raise ShapeSpecError(f"{kind}: users=N is required")
    required = {"step": ("steps", "every"), "soak": ("rate",), "ramp": ("rate",)}[kind]
    missing = [key for key in required if key not in values]
    if missing:
        raise ShapeSpecError(f"{kind}: {', '.join(k + '=…' for k in missing)} required")
    return cls(**values)  # type: ignore[arg-type]
