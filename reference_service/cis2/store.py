"""The provider's storage: SQLite (stdlib `sqlite3`) in the data directory, WAL, `synchronous=FULL`.

Every protocol core takes a `Store`; tests give it a temporary file (or `":memory:"`).
Secrets (codes, tokens, cookies, challenges, session-end URLs) are stored as SHA-256 digests
only, so a lookup by digest never compares the secret itself and a copy of the database does
not hand out live credentials. One connection is shared by the threads of the process under
a lock; each method is one transaction, committed before it returns (no lost writes on
restart).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from reference_service.common.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, jwk TEXT NOT NULL,
    created REAL NOT NULL, retired REAL
);
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS challenges (
    digest TEXT PRIMARY KEY, tx_id TEXT NOT NULL, origin TEXT NOT NULL,
    expires REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY, cookie_digest TEXT UNIQUE NOT NULL, end_digest TEXT UNIQUE,
    data TEXT NOT NULL, created REAL NOT NULL, ended REAL
);
CREATE TABLE IF NOT EXISTS session_clients (
    sid TEXT NOT NULL, client_id TEXT NOT NULL, sub TEXT NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE TABLE IF NOT EXISTS codes (
    digest TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS access_tokens (
    digest TEXT PRIMARY KEY, code_digest TEXT, data TEXT NOT NULL, expires REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS access_tokens_code ON access_tokens (code_digest);
CREATE TABLE IF NOT EXISTS seen_jtis (
    key TEXT PRIMARY KEY, expires REAL NOT NULL
);
"""


def digest(secret: str) -> str:
    """The stored form of a secret: hex SHA-256."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class Store(Database):
    """SQLite storage of the provider. Thread-safe; every method is one transaction."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA, busy_timeout_ms=5000)

    # -- signing keys ---------------------------------------------------------------------

    def signing_keys(self) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute("SELECT * FROM signing_keys ORDER BY created, kid"))

    def add_signing_key(self, kid: str, alg: str, jwk: dict[str, Any], now: float) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE signing_keys SET retired = ? WHERE alg = ? AND retired IS NULL", (now, alg)
            )
            db.execute(
                "INSERT INTO signing_keys (kid, alg, jwk, created) VALUES (?, ?, ?, ?)",
                (kid, alg, json.dumps(jwk), now),
            )

    def delete_signing_keys_retired_before(self, moment: float) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?", (moment,)
            )

    # -- login transactions ---------------------------------------------------------------

    def put_transaction(self, tx_id: str, data: dict[str, Any], expires: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO transactions (id, data, expires) VALUES (?, ?, ?)",
                (tx_id, json.dumps(data), expires),
            )

    def get_transaction(self, tx_id: str, now: float) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM transactions WHERE id = ? AND expires > ?", (tx_id, now)
            ).fetchone()
        return None if row is None else dict(json.loads(row["data"]))

    def delete_transaction(self, tx_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM transactions WHERE id = ?", (tx_id,))
            db.execute("DELETE FROM challenges WHERE tx_id = ?", (tx_id,))

    # -- challenges -----------------------------------------------------------------------

    def put_challenge(self, challenge: str, tx_id: str, origin: str, expires: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO challenges (digest, tx_id, origin, expires) VALUES (?, ?, ?, ?)",
                (digest(challenge), tx_id, origin, expires),
            )

    def take_challenge(self, challenge: str) -> sqlite3.Row | None:
        """The challenge's record, marking it used in the same transaction (single use).

        The returned row shows `used` as it was before: 1 means a replay.
        """
        key = digest(challenge)
        with self.transaction() as db:
            row = db.execute("SELECT * FROM challenges WHERE digest = ?", (key,)).fetchone()
            if row is not None:
                db.execute("UPDATE challenges SET used = 1 WHERE digest = ?", (key,))
        return row  # type: ignore[no-any-return]

    # -- SSO sessions ---------------------------------------------------------------------

    def put_session(
        self, sid: str, cookie: str, end_digest: str | None, data: dict[str, Any], now: float
    ) -> None:
        """A new SSO session; `end_digest` is the digest of its session-end URL secret."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions (sid, cookie_digest, end_digest, data, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (sid, digest(cookie), end_digest, json.dumps(data), now),
            )

    def update_session(self, sid: str, end_digest: str | None, data: dict[str, Any]) -> None:
        """A re-authentication of the same user in a live session."""
        with self.transaction() as db:
            db.execute(
                "UPDATE sessions SET data = ?, end_digest = COALESCE(?, end_digest)"
                " WHERE sid = ? AND ended IS NULL",
                (json.dumps(data), end_digest, sid),
            )

    def session_by_cookie(self, cookie: str) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(  # type: ignore[no-any-return]
                "SELECT * FROM sessions WHERE cookie_digest = ? AND ended IS NULL",
                (digest(cookie),),
            ).fetchone()

    def session_by_sid(self, sid: str) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(  # type: ignore[no-any-return]
                "SELECT * FROM sessions WHERE sid = ?", (sid,)
            ).fetchone()

    def session_by_end_secret(self, secret: str) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(  # type: ignore[no-any-return]
                "SELECT * FROM sessions WHERE end_digest = ?", (digest(secret),)
            ).fetchone()

    def put_transaction_field(self, tx_id: str, key: str, value: Any) -> None:
        """Set one field of a login transaction's data, atomically."""
        with self.transaction() as db:
            row = db.execute("SELECT data FROM transactions WHERE id = ?", (tx_id,)).fetchone()
            if row is None:
                return
            data = json.loads(row["data"])
            data[key] = value
            db.execute("UPDATE transactions SET data = ? WHERE id = ?", (json.dumps(data), tx_id))

    def end_session(self, sid: str, now: float) -> list[tuple[str, str]]:
        """Mark the session ended; the (client_id, sub) pairs that were in it. Empty when it
        had ended already (so logout is sent once)."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE sessions SET ended = ? WHERE sid = ? AND ended IS NULL", (now, sid)
            )
            if cursor.rowcount == 0:
                return []
            rows = db.execute(
                "SELECT client_id, sub FROM session_clients WHERE sid = ? ORDER BY client_id",
                (sid,),
            ).fetchall()
        return [(row["client_id"], row["sub"]) for row in rows]

    def add_session_client(self, sid: str, client_id: str, sub: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO session_clients (sid, client_id, sub) VALUES (?, ?, ?)",
                (sid, client_id, sub),
            )

    def session_clients(self, sid: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT client_id FROM session_clients WHERE sid = ? ORDER BY client_id", (sid,)
            ).fetchall()
        return [row["client_id"] for row in rows]

    # -- authorization codes and access tokens ---------------------------------------------

    def put_code(self, code: str, data: dict[str, Any], expires: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO codes (digest, data, expires) VALUES (?, ?, ?)",
                (digest(code), json.dumps(data), expires),
            )

    def take_code(self, code: str) -> tuple[dict[str, Any], float, bool] | None:
        """(data, expires, was_used) of a code, marking it used; None if unknown."""
        key = digest(code)
        with self.transaction() as db:
            row = db.execute("SELECT * FROM codes WHERE digest = ?", (key,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE codes SET used = 1 WHERE digest = ?", (key,))
        return dict(json.loads(row["data"])), float(row["expires"]), bool(row["used"])

    def revoke_tokens_of_code(self, code: str) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE access_tokens SET revoked = 1 WHERE code_digest = ?", (digest(code),)
            )
        return cursor.rowcount

    def put_access_token(
        self, token: str, code: str | None, data: dict[str, Any], expires: float
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO access_tokens (digest, code_digest, data, expires)"
                " VALUES (?, ?, ?, ?)",
                (digest(token), digest(code) if code else None, json.dumps(data), expires),
            )

    def access_token(self, token: str, now: float) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM access_tokens WHERE digest = ? AND expires > ? AND revoked = 0",
                (digest(token), now),
            ).fetchone()
        return None if row is None else dict(json.loads(row["data"]))

    def revoke_tokens_of_session(self, sid: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE access_tokens SET revoked = 1 WHERE json_extract(data, '$.sid') = ?",
                (sid,),
            )

    # -- replay protection ----------------------------------------------------------------

    def remember_once(self, key: str, expires: float, now: float) -> bool:
        """Record `key` until `expires`; False when it was already recorded (a replay)."""
        with self.transaction() as db:
            db.execute("DELETE FROM seen_jtis WHERE expires < ?", (now,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO seen_jtis (key, expires) VALUES (?, ?)", (key, expires)
            )
        return cursor.rowcount == 1

    def purge(self, now: float) -> None:
        """Drop what has expired (transactions, challenges, codes, tokens)."""
        with self.transaction() as db:
            db.execute("DELETE FROM transactions WHERE expires < ?", (now,))
            db.execute("DELETE FROM challenges WHERE expires < ?", (now - 3600,))
            db.execute("DELETE FROM codes WHERE expires < ?", (now - 3600,))
            db.execute("DELETE FROM access_tokens WHERE expires < ?", (now,))
