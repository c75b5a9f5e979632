"""Service-level objectives of a load run: stated in a TOML file, checked against Locust's
final statistics (its `--json-file` output), giving the run's verdict and exit status.

```toml
# p95 latency in milliseconds and error rate (failures / requests, 0.0-1.0). Optional:
# p50_ms, p99_ms, min_requests. [total] is every request of the run together.
[total]
p95_ms = 2000
error_rate = 0.0

# One table per request, keyed "<type> <name>" as Locust reports it, or by name alone
# (then every request type of that name is held to it).
[requests."flow smartcard sign-in"]
p95_ms = 1500
error_rate = 0.0

[requests."card sign"]
p95_ms = 100
```

An objective naming a request the run never made fails (a typo must not pass silently).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOTAL = "total"
_LIMITS = {"p50_ms", "p95_ms", "p99_ms", "error_rate", "min_requests"}
_PERCENTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}


class SloFileError(ValueError):
    """The SLO file cannot be used (the message names the table and key)."""


@dataclass(frozen=True)
class Objective:
    target: str  # "total", "<type> <name>" or "<name>"
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None
    min_requests: int | None = None


@dataclass(frozen=True)
class EntryStats:
    """One request name's totals (or the run's, as `total`)."""

    request_type: str
    name: str
    num_requests: int
    num_failures: int
    response_times: Mapping[int, int]  # rounded ms -> count, as Locust keeps them
    per_second: Mapping[int, int] = field(default_factory=dict)  # unix second -> count
    failures_per_second: Mapping[int, int] = field(default_factory=dict)
    start_time: float = 0.0
    last_request: float | None = None

    @property
    def key(self) -> str:
        return f"{self.request_type} {self.name}" if self.request_type else self.name

    @property
    def error_rate(self) -> float:
        return self.num_failures / self.num_requests if self.num_requests else 0.0

    def percentile(self, fraction: float) -> float:
        """Locust's own percentile rule (stats.calculate_response_time_percentile)."""
        total = sum(self.response_times.values())
        if total == 0:
            return 0.0
        wanted = int(total * fraction)
        seen = 0
        for value in sorted(self.response_times, reverse=True):
            seen += self.response_times[value]
            if total - seen <= wanted:
                return float(value)
        return 0.0

    @property
    def rps(self) -> float:
        if not self.per_second:
            return 0.0
        seconds = max(self.per_second) - min(self.per_second) + 1
        return self.num_requests / seconds


@dataclass(frozen=True)
class Check:
    target: str
    metric: str
    limit: float
    actual: float | None  # None: no such request in the run
    ok: bool

    def line(self) -> str:
        shown = "absent" if self.actual is None else f"{self.actual:g}"
        op = ">=" if self.metric == "min_requests" else "<="
        verdict = "PASS" if self.ok else "FAIL"
        return f"{verdict}  {self.target}: {self.metric} {shown} {op} {self.limit:g}"


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [
                {
                    "target": c.target,
                    "metric": c.metric,
                    "limit": c.limit,
                    "actual": c.actual,
                    "ok": c.ok,
                }
                for c in self.checks
            ],
        }


def _objective(target: str, table: object, where: str) -> Objective:
    if not isinstance(table, dict):
        raise SloFileError(f"{where}: a table of limits is required")
    unknown = sorted(set(table) - _LIMITS)
    if unknown:
        raise SloFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values: dict[str, float | int] = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SloFileError(f"{where}.{key}: a non-negative number is required")
        if key == "error_rate" and value > 1:
            raise SloFileError(f"{where}.error_rate: a fraction from 0.0 to 1.0")
        values[key] = int(value) if key == "min_requests" else float(value)
    return Objective(target, **values)  # type: ignore[arg-type]


def parse_slo(text: str, source: str = "SLO file") -> list[Objective]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SloFileError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {TOTAL, "requests"})
    if unknown:
        raise SloFileError(f"{source}: unknown table(s) {', '.join(unknown)}")
    objectives = []
    if TOTAL in document:
        objectives.append(_objective(TOTAL, document[TOTAL], f"[{TOTAL}]"))
    requests = document.get("requests", {})
    if not isinstance(requests, dict):
        raise SloFileError(f"{source}: [requests] holds one table per request")
    for name, table in requests.items():
        objectives.append(_objective(name, table, f'[requests."{name}"]'))
    if not objectives:
        raise SloFileError(f'{source}: states no objective ([total] or [requests."…"])')
    return objectives


def load_slo(path: Path) -> list[Objective]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SloFileError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_slo(text, str(path))


def entries_from_locust_json(document: Iterable[Mapping[str, Any]]) -> list[EntryStats]:
    """Locust's `--json-file` list of entries -> EntryStats (JSON keys back to ints)."""
    entries = []
    for raw in document:
        entries.append(
            EntryStats(
                request_type=str(raw.get("method") or ""),
                name=str(raw["name"]),
                num_requests=int(raw.get("num_requests", 0)),
                num_failures=int(raw.get("num_failures", 0)),
                response_times={int(float(k)): int(v) for k, v in raw["response_times"].items()},
                per_second={int(float(k)): int(v) for k, v in raw["num_reqs_per_sec"].items()},
                failures_per_second={
                    int(float(k)): int(v) for k, v in raw.get("num_fail_per_sec", {}).items()
                },
                start_time=float(raw.get("start_time") or 0.0),
                last_request=raw.get("last_request_timestamp"),
            )
        )
    return entries


def load_locust_json(path: Path) -> list[EntryStats]:
    return entries_from_locust_json(json.loads(Path(path).read_text(encoding="utf-8")))


def total(entries: Iterable[EntryStats], *, types: Iterable[str] | None = None) -> EntryStats:
    """The entries together (only those of `types`, when given)."""
    wanted = set(types) if types is not None else None
    times: dict[int, int] = {}
    per_second: dict[int, int] = {}
    fails: dict[int, int] = {}
    requests = failures = 0
    starts = []
    for entry in entries:
        if wanted is not None and entry.request_type not in wanted:
            continue
        requests += entry.num_requests
        failures += entry.num_failures
        starts.append(entry.start_time)
        for bucket, into in (
            (entry.response_times, times),
            (entry.per_second, per_second),
            (entry.failures_per_second, fails),
        ):
            for key, count in bucket.items():
                into[key] = into.get(key, 0) + count
    return EntryStats(
        "", TOTAL, requests, failures, times, per_second, fails, min(starts, default=0.0)
    )


def _matching(objective: Objective, entries: list[EntryStats]) -> list[EntryStats]:
    if objective.target == TOTAL:
        return [total(entries)]
    exact = [e for e in entries if e.key == objective.target]
    return exact or [e for e in entries if e.name == objective.target]


def check(objectives: Iterable[Objective], entries: Iterable[EntryStats]) -> Verdict:
    """Every objective against the run's statistics."""
    entries = list(entries)
    checks: list[Check] = []
    for objective in objectives:
        limits = [
            (metric, value)
            for metric in ("p50_ms", "p95_ms", "p99_ms", "error_rate", "min_requests")
            if (value := getattr(objective, metric)) is not None
        ]
        matched = _matching(objective, entries)
        if not matched:
            checks.extend(Check(objective.target, m, float(v), None, False) for m, v in limits)
            continue
        for entry in matched:
            target = objective.target if objective.target == TOTAL else entry.key
            for metric, limit in limits:
                if metric == "error_rate":
                    actual = entry.error_rate
                    ok = actual <= limit
                elif metric == "min_requests":
                    actual = float(entry.num_requests)
                    ok = actual >= limit
                else:
                    actual = entry.percentile(_PERCENTILES[metric])
                    ok = actual <= limit
                checks.append(Check(target, metric, float(limit), round(actual, 6), ok))
    return Verdict(tuple(checks))
