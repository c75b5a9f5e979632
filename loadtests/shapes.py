"""Locust's side of the load shapes of `loadtests.shape_math` (ramp, step, soak)."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape, events

from loadtests.shape_math import Ramp, Soak, Step, parse_shape


def _options(parser: Any) -> None:
    parser.add_argument("--careid-shape", default="", help="ramp:…, step:… or soak:…")


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]


class CareidShape(LoadTestShape):
    """The shape named by --careid-shape (the master runs it; workers follow)."""

    _shape: Ramp | Step | Soak | None = None

    def tick(self) -> tuple[int, float] | None:
        if self._shape is None:
            options = self.runner.environment.parsed_options if self.runner else None
            spec = getattr(options, "careid_shape", "") if options else ""
            if not spec:
                return None
            self._shape = parse_shape(spec)
        return self._shape.tick(float(self.get_run_time()))  # type: ignore[no-untyped-call]
