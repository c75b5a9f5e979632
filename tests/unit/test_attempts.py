"""The guess limiter: attempts are spent before the comparison, and a lock refuses all."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reference_service.common.attempts import AttemptLimiter, AttemptPolicy, Locked
from reference_service.common.sqlite import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(path: Path | str = ":memory:", clock: Clock | None = None) -> AttemptLimiter:
    policy = AttemptPolicy(max_failures=3, window=60, lockout=300)
    return AttemptLimiter(Database(path, ""), policy, clock or Clock())


def test_the_limit_locks_the_key_and_refuses_the_right_secret_too() -> None:
    lim = limiter()
    for _ in range(3):
        lim.spend("totp:user:u1")  # three wrong codes: never followed by succeeded()
    with pytest.raises(Locked):
        lim.spend("totp:user:u1")
    assert lim.locked_until("totp:user:u1") == 1300.0


def test_a_match_forgets_failures() -> None:
    lim = limiter()
    lim.spend("k")
    lim.spend("k")
    lim.succeeded("k")
    lim.spend("k")
    lim.spend("k")  # two more after the reset: still under the limit of three
    assert lim.locked_until("k") is None


def test_a_spent_attempt_is_durable_before_any_comparison(tmp_path: Path) -> None:
    # The process dies between spend() and the comparison: the next process still counts it.
    path = tmp_path / "a.sqlite3"
    for _ in range(3):
        limiter(path).spend("k")
    with pytest.raises(Locked):
        limiter(path).spend("k")


def test_the_lock_ends_and_old_failures_age_out() -> None:
    clock = Clock()
    lim = limiter(clock=clock)
    for _ in range(3):
        lim.spend("k")
    clock.now += 301
    lim.spend("k")  # the lock is over and the window too: a fresh count
    assert lim.locked_until("k") is None
    clock.now += 61
    assert lim.purge() == 1


def test_one_locked_key_refuses_and_counts_nothing_against_the_others() -> None:
    lim = limiter()
    for _ in range(3):
        lim.spend("user")
    with pytest.raises(Locked):
        lim.spend("tx", "user")
    lim.spend("tx")
    lim.spend("tx")  # "tx" had nothing counted by the refused attempt
    assert lim.locked_until("tx") is None


def test_parallel_guesses_cannot_pass_the_limit(tmp_path: Path) -> None:
    lim = limiter(tmp_path / "a.sqlite3")
    passed: list[int] = []

    def guess() -> None:
        try:
            lim.spend("k")
            passed.append(1)
        except Locked:
            pass

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 3


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        AttemptPolicy(max_failures=0)
