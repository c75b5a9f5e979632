"""Limits on guessing a secret (a password, a one-time code): spend first, compare second.

The same rule a smartcard follows for its PIN: an attempt is counted durably *before* the
secret is compared, and given back only by a match. Parallel requests cannot all slip in
under the limit, and a request cut off after the comparison still costs its attempt.

    limiter.spend(key)        # raises Locked when the key is locked; counts the attempt
    if secret_matches:
        limiter.succeeded(key)  # a match forgets the failures

After `max_failures` failed attempts within `window` seconds the key is locked for `lockout`
seconds: every attempt is refused then, the right secret too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reference_service.common.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_attempts (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, first REAL NOT NULL, locked_until REAL
);
"""


@dataclass(frozen=True)
class AttemptPolicy:
    max_failures: int = 5
    window: float = 900.0  # seconds in which failures add up
    lockout: float = 900.0  # seconds a key stays locked once the limit is reached

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= 0 or self.lockout <= 0:
            raise ValueError("max_failures must be at least 1, window and lockout positive")


class Locked(Exception):
    """The key has had too many failed attempts; nothing is compared until `until`."""

    def __init__(self, key: str, until: float) -> None:
        super().__init__(f"{key} is locked until {until:.0f}")
        self.key = key
        self.until = until


class AttemptLimiter:
    """Failure counters in the service's own SQLite database, one row per key."""

    def __init__(self, db: Database, policy: AttemptPolicy, clock: Callable[[], float]) -> None:
        self._db = db
        self.policy = policy
        self._clock = clock
        with db.transaction() as conn:
            conn.execute(SCHEMA)

    def spend(self, *keys: str) -> None:
        """Count one attempt against every key, or raise Locked (counting nothing) if any is."""
        now = self._clock()
        with self._db.transaction() as conn:
            rows = {
                key: conn.execute(
                    "SELECT failures, first, locked_until FROM failed_attempts WHERE key = ?",
                    (key,),
                ).fetchone()
                for key in keys
            }
            for key, row in rows.items():
                if (
                    row is not None
                    and row["locked_until"] is not None
                    and row["locked_until"] > now
                ):
                    raise Locked(key, row["locked_until"])
            for key, row in rows.items():
                fresh = row is None or now - row["first"] > self.policy.window
                failures = 1 if fresh else row["failures"] + 1
                first = now if fresh else row["first"]
                locked = now + self.policy.lockout if failures >= self.policy.max_failures else None
                conn.execute(
                    "INSERT OR REPLACE INTO failed_attempts VALUES (?, ?, ?, ?)",
                    (key, failures, first, locked),
                )

    def succeeded(self, *keys: str) -> None:
        """A match: the attempt just spent is given back and earlier failures forgotten."""
        with self._db.transaction() as conn:
            conn.executemany("DELETE FROM failed_attempts WHERE key = ?", [(k,) for k in keys])

    def locked_until(self, key: str) -> float | None:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT locked_until FROM failed_attempts WHERE key = ?", (key,)
            ).fetchone()
        until = None if row is None else row["locked_until"]
        return until if until is not None and until > self._clock() else None

    def purge(self) -> int:
        """Forget counters whose window and lock are both over; returns how many went."""
        now = self._clock()
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM failed_attempts WHERE first < ? AND "
                "(locked_until IS NULL OR locked_until <= ?)",
                (now - self.policy.window, now),
            )
            return cursor.rowcount


def attempt_key(kind: str, scope: str, value: str) -> str:
    """The counter key of one secret kind for one holder, e.g. attempt_key("totp", "user", uuid)."""
    return f"{kind}:{scope}:{value}"
