"""SLO files, Locust-statistics percentiles and load shapes (no Locust imported here)."""

from __future__ import annotations

import sys

import pytest

from loadtests.instrument import request_name
from loadtests.shape_math import Ramp, ShapeSpecError, Soak, Step, parse_shape
from loadtests.slo import EntryStats, SloFileError, check, entries_from_locust_json, parse_slo

SLO = """
[total]
error_rate = 0.01
[requests."flow smartcard sign-in"]
p95_ms = 200
[requests."card sign"]
p95_ms = 5
min_requests = 10
"""


def entry(type_: str, name: str, times: dict[int, int], failures: int = 0) -> EntryStats:
    return EntryStats(type_, name, sum(times.values()), failures, times, {100: 5, 101: 5})


def test_locust_is_not_imported_by_the_pure_modules() -> None:
    assert "locust" not in sys.modules


def test_parse_slo_reads_total_and_requests() -> None:
    objectives = parse_slo(SLO)
    assert [o.target for o in objectives] == ["total", "flow smartcard sign-in", "card sign"]
    assert objectives[1].p95_ms == 200.0
    assert objectives[2].min_requests == 10


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[total]\np95 = 3\n", "unknown key"),
        ("[total]\nerror_rate = 2\n", "fraction"),
        ("[total]\np95_ms = -1\n", "non-negative"),
        ("[totals]\np95_ms = 1\n", "unknown table"),
        ("", "no objective"),
        ("[total\n", "not valid TOML"),
    ],
)
def test_parse_slo_refuses_bad_files(text: str, words: str) -> None:
    with pytest.raises(SloFileError, match=words):
        parse_slo(text)


def test_percentile_follows_locust() -> None:
    stats = entry("flow", "x", {10: 90, 100: 9, 1000: 1})
    assert stats.percentile(0.5) == 10
    assert stats.percentile(0.95) == 100
    assert stats.percentile(0.999) == 1000


def test_check_passes_and_fails_per_objective() -> None:
    entries = [
        entry("flow", "smartcard sign-in", {150: 96, 250: 4}),
        entry("card", "sign", {2: 20}),
        entry("POST", "/access_token", {10: 100}, failures=3),
    ]
    verdict = check(parse_slo(SLO), entries)
    by_target = {(c.target, c.metric): c for c in verdict.checks}
    assert by_target[("flow smartcard sign-in", "p95_ms")].ok
    assert by_target[("card sign", "min_requests")].ok
    assert not by_target[("total", "error_rate")].ok  # 3 of 220
    assert not verdict.ok


def test_an_objective_for_a_request_never_made_fails() -> None:
    verdict = check(parse_slo('[requests."flow nhsmail"]\np95_ms = 1\n'), [])
    assert not verdict.ok and verdict.checks[0].actual is None


def test_objective_by_name_alone_matches_every_type() -> None:
    entries = [entry("GET", "/authorize", {5: 1}), entry("POST", "/authorize", {50: 1})]
    verdict = check(parse_slo('[requests."/authorize"]\np95_ms = 10\n'), entries)
    assert [c.ok for c in verdict.checks] == [True, False]


def test_entries_from_locust_json() -> None:
    raw = [
        {
            "name": "sign",
            "method": "card",
            "num_requests": 4,
            "num_failures": 1,
            "response_times": {"1": 3, "7": 1},
            "num_reqs_per_sec": {"1700000000": 4},
            "num_fail_per_sec": {"1700000000": 1},
            "start_time": 1.5,
        }
    ]
    (stats,) = entries_from_locust_json(raw)
    assert stats.key == "card sign" and stats.error_rate == 0.25
    assert stats.response_times == {1: 3, 7: 1} and stats.rps == 4.0


def test_shapes() -> None:
    ramp = parse_shape("ramp:users=50,rate=5,hold=60")
    assert ramp == Ramp(50, 5.0, 60.0) and ramp.duration == 70
    assert ramp.tick(0) == (50, 5.0) and ramp.tick(70) is None
    step = parse_shape("step:users=10,steps=3,every=30")
    assert step == Step(10, 3, 30.0)
    assert [step.tick(t) for t in (0, 29.9, 30, 89.9)] == [
        (10, 10.0),
        (10, 10.0),
        (20, 10.0),
        (30, 10.0),
    ]
    assert step.tick(90) is None
    soak = parse_shape("soak:users=25,rate=5,duration=300")
    assert soak == Soak(25, 5.0, 300.0) and soak.tick(299) == (25, 5.0) and soak.tick(300) is None


@pytest.mark.parametrize(
    "spec",
    [
        "burst:users=1",
        "ramp:rate=1",
        "step:users=1",
        "ramp:users=x,rate=1",
        "ramp:users=0,rate=1",
        "soak:users=1,rate=1,colour=red",
    ],
)
def test_bad_shapes(spec: str) -> None:
    with pytest.raises(ShapeSpecError):
        parse_shape(spec)


def test_request_names_fold_random_segments() -> None:
    base = "/openam/oauth2/realms/root"
    url = f"https://h{base}/login/AbC123xyz_-QRSTuvw0/smartcard/challenge?x=1"
    assert request_name(url, base) == "/login/{id}/smartcard/challenge"
    assert request_name(f"https://h{base}/.well-known/openid-configuration", base) == (
        "/.well-known/openid-configuration"
    )
