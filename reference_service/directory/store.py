"""The directory's storage: SQLite (stdlib `sqlite3`), WAL, `synchronous=FULL`.

Tables: `accounts` (NHSmail accounts), `links` (Care Identity UUID <-> NHSmail address, each
side unique), `sessions` (portal sessions, stored by SHA-256 digest of their cookie),
`seen_jtis` (logout-token replay guard), `failed_attempts` (the password and MFA guess
counters of `AttemptLimiter`) and `audit` (append-only). Expired and closed sessions are
purged (`purge_sessions`). Every method is one
transaction, committed before it returns; a link is made or removed together with its audit
row in one `BEGIN IMMEDIATE` transaction, so a process killed at any point leaves either the
whole link (row and audit) or nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_service.common import attempts
from reference_service.common.sqlite import Database
from reference_service.directory.errors import (
    AccountAlreadyLinked,
    AccountUnknown,
    AlreadyLinked,
    CareIdentityLinkedElsewhere,
    LinkUnknown,
)
from reference_service.directory.throttle import account_keys

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    email TEXT PRIMARY KEY COLLATE NOCASE,
    display_name TEXT NOT NULL,
    organisation TEXT NOT NULL DEFAULT '',
    org_code TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    password_history TEXT NOT NULL DEFAULT '[]',
    mfa_secret TEXT,
    mfa_last_step INTEGER,
    aup_accepted INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked', 'disabled')),
    failed_logins INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS links (
    uuid TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE REFERENCES accounts (email),
    link_id TEXT NOT NULL UNIQUE,
    linked_at REAL NOT NULL,
    linked_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    portal TEXT NOT NULL,
    email TEXT,
    uuid TEXT,
    sid TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    expires REAL NOT NULL,
    closed REAL,
    closed_reason TEXT
);
CREATE INDEX IF NOT EXISTS sessions_sid ON sessions (sid);
CREATE INDEX IF NOT EXISTS sessions_uuid ON sessions (uuid);
CREATE TABLE IF NOT EXISTS seen_jtis (key TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    email TEXT,
    uuid TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
"""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Account:
    email: str
    display_name: str
    organisation: str
    org_code: str
    password_hash: str
    password_history: tuple[str, ...]
    mfa_secret: str | None
    mfa_last_step: int | None
    aup_accepted: bool
    status: str
    failed_logins: int

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_secret is not None


@dataclass(frozen=True)
class Link:
    uuid: str
    email: str
    link_id: str
    linked_at: float
    linked_by: str


@dataclass(frozen=True)
class Session:
    token_digest: str
    portal: str
    email: str | None
    uuid: str | None
    sid: str | None
    data: dict[str, Any]
    created: float
    expires: float
    closed: float | None
    closed_reason: str | None

    @property
    def open(self) -> bool:
        return self.closed is None


class Directory(Database):
    """One connection shared by the threads of a process, under a lock."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA + attempts.SCHEMA)

    # -- audit -------------------------------------------------------------------------------

    @staticmethod
    def _audit(
        db: sqlite3.Connection,
        now: float,
        event: str,
        actor: str,
        email: str | None = None,
        uuid: str | None = None,
        **detail: Any,
    ) -> None:
        db.execute(
            "INSERT INTO audit (at, event, actor, email, uuid, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (now, event, actor, email, uuid, json.dumps(detail, sort_keys=True)),
        )

    def audit(
        self,
        now: float,
        event: str,
        actor: str,
        email: str | None = None,
        uuid: str | None = None,
        **detail: Any,
    ) -> None:
        with self.transaction() as db:
            self._audit(db, now, event, actor, email, uuid, **detail)

    def audit_events(self, event: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM audit WHERE ? IS NULL OR event = ? ORDER BY seq", (event, event)
            ).fetchall()
        return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]

    # -- accounts ----------------------------------------------------------------------------

    def put_account(self, account: Account, *, replace: bool = False) -> bool:
        """Insert an account (or replace it when `replace`); whether it was written."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.transaction() as db:
            cursor = db.execute(
                f"{verb} INTO accounts (email, display_name, organisation, org_code, "
                "password_hash, password_history, mfa_secret, mfa_last_step, aup_accepted, "
                "status, failed_logins) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account.email,
                    account.display_name,
                    account.organisation,
                    account.org_code,
                    account.password_hash,
                    json.dumps(list(account.password_history)),
                    account.mfa_secret,
                    account.mfa_last_step,
                    int(account.aup_accepted),
                    account.status,
                    account.failed_logins,
                ),
            )
            return cursor.rowcount > 0

    def account(self, email: str) -> Account | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM accounts WHERE email = ?", (email,)).fetchone()
        if row is None:
            return None
        return Account(
            email=row["email"],
            display_name=row["display_name"],
            organisation=row["organisation"],
            org_code=row["org_code"],
            password_hash=row["password_hash"],
            password_history=tuple(json.loads(row["password_history"])),
            mfa_secret=row["mfa_secret"],
            mfa_last_step=row["mfa_last_step"],
            aup_accepted=bool(row["aup_accepted"]),
            status=row["status"],
            failed_logins=row["failed_logins"],
        )

    def accounts(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT email FROM accounts ORDER BY email")]

    def _update(self, email: str, now: float, event: str, actor: str, sql: str, *args: Any) -> None:
        with self.transaction() as db:
            cursor = db.execute(f"UPDATE accounts SET {sql} WHERE email = ?", (*args, email))  # noqa: S608
            if cursor.rowcount == 0:
                raise AccountUnknown(email)
            self._audit(db, now, event, actor, email)

    def record_failure(self, email: str, now: float, threshold: int) -> bool:
        """Count a failed login; lock the account at `threshold`. Whether it is now locked."""
        with self.transaction() as db:
            db.execute(
                "UPDATE accounts SET failed_logins = failed_logins + 1 WHERE email = ?", (email,)
            )
            row = db.execute(
                "SELECT failed_logins, status FROM accounts WHERE email = ?", (email,)
            ).fetchone()
            if row is None:
                return False
            self._audit(db, now, "login.failed", "portal", email, failures=row[0])
            if row[0] >= threshold and row[1] == "active":
                db.execute("UPDATE accounts SET status = 'locked' WHERE email = ?", (email,))
                self._audit(db, now, "account.locked", "portal", email, failures=row[0])
                return True
            return bool(row[1] == "locked")

    def reset_failures(self, email: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE accounts SET failed_logins = 0 WHERE email = ?", (email,))

    def set_status(self, email: str, status: str, now: float, actor: str) -> None:
        reset = ", failed_logins = 0" if status == "active" else ""
        self._update(email, now, f"account.{status}", actor, f"status = ?{reset}", status)
        if status == "active":  # the helpdesk's unlock also ends a too-many-attempts lock
            with self.transaction() as db:
                db.executemany(
                    "DELETE FROM failed_attempts WHERE key = ?", [(k,) for k in account_keys(email)]
                )

    def accept_aup(self, email: str, now: float) -> None:
        self._update(email, now, "aup.accepted", email, "aup_accepted = 1")

    def set_mfa(self, email: str, secret: str | None, now: float, actor: str) -> None:
        event = "mfa.enrolled" if secret else "mfa.removed"
        self._update(email, now, event, actor, "mfa_secret = ?, mfa_last_step = NULL", secret)

    def use_mfa_step(self, email: str, step: int) -> bool:
        """Spend a TOTP time step; False when it (or a later one) was already used."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE accounts SET mfa_last_step = ? WHERE email = ? "
                "AND (mfa_last_step IS NULL OR mfa_last_step < ?)",
                (step, email, step),
            )
            return cursor.rowcount == 1

    def set_password(self, email: str, new_hash: str, history: list[str], now: float) -> None:
        self._update(
            email,
            now,
            "password.changed",
            email,
            "password_hash = ?, password_history = ?",
            new_hash,
            json.dumps(history),
        )

    # -- links -------------------------------------------------------------------------------

    @staticmethod
    def _link_row(row: sqlite3.Row | None) -> Link | None:
        if row is None:
            return None
        return Link(row["uuid"], row["email"], row["link_id"], row["linked_at"], row["linked_by"])

    def link_for_uuid(self, uuid: str) -> Link | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM links WHERE uuid = ?", (uuid,)).fetchone()
        return self._link_row(row)

    def link_for_email(self, email: str) -> Link | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM links WHERE email = ?", (email,)).fetchone()
        return self._link_row(row)

    def links(self) -> list[Link]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM links ORDER BY linked_at").fetchall()
        return [link for link in map(self._link_row, rows) if link is not None]

    def link(self, uuid: str, email: str, now: float, actor: str, **detail: Any) -> Link:
        """Link a Care Identity to an NHSmail account: the checks, the row and its audit line in
        one transaction. Raises `CareIdentityLinkedElsewhere`, `AccountAlreadyLinked`,
        `AlreadyLinked` (this very link exists) or `AccountUnknown`."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM accounts WHERE email = ?", (email,)).fetchone() is None:
                raise AccountUnknown(email)
            by_uuid = self._link_row(
                db.execute("SELECT * FROM links WHERE uuid = ?", (uuid,)).fetchone()
            )
            by_email = self._link_row(
                db.execute("SELECT * FROM links WHERE email = ?", (email,)).fetchone()
            )
            if by_uuid is not None and by_uuid.email.lower() == email.lower():
                raise AlreadyLinked(uuid)
            if by_uuid is not None:
                raise CareIdentityLinkedElsewhere(uuid)
            if by_email is not None:
                raise AccountAlreadyLinked(email)
            link_id = secrets.token_hex(8)
            db.execute(
                "INSERT INTO links (uuid, email, link_id, linked_at, linked_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (uuid, email, link_id, now, actor),
            )
            self._audit(db, now, "link.created", actor, email, uuid, link_id=link_id, **detail)
            return Link(uuid, email, link_id, now, actor)

    def unlink(
        self,
        now: float,
        actor: str,
        *,
        uuid: str | None = None,
        email: str | None = None,
        reason: str = "",
    ) -> Link:
        """Remove the registration of a Care Identity (or of an account), audited, in one
        transaction; the portal sessions signed in with it are closed too."""
        if (uuid is None) == (email is None):
            raise ValueError("give the UUID or the email address")
        with self.transaction() as db:
            column, value = ("uuid", uuid) if uuid is not None else ("email", email)
            row = db.execute(f"SELECT * FROM links WHERE {column} = ?", (value,)).fetchone()  # noqa: S608
            link = self._link_row(row)
            if link is None:
                raise LinkUnknown(str(value))
            db.execute("DELETE FROM links WHERE uuid = ?", (link.uuid,))
            db.execute(
                "UPDATE sessions SET closed = ?, closed_reason = 'unlinked' "
                "WHERE uuid = ? AND closed IS NULL",
                (now, link.uuid),
            )
            self._audit(
                db,
                now,
                "link.removed",
                actor,
                link.email,
                link.uuid,
                link_id=link.link_id,
                reason=reason,
            )
            return link

    # -- sessions ----------------------------------------------------------------------------

    def create_session(
        self, portal: str, now: float, lifetime: float, data: dict[str, Any] | None = None
    ) -> str:
        token = secrets.token_urlsafe(32)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions (digest, portal, data, created, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (digest(token), portal, json.dumps(data or {}), now, now + lifetime),
            )
        return token

    def session(self, portal: str, token: str, now: float) -> Session | None:
        """The open, unexpired session of this portal with this cookie value."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM sessions WHERE digest = ? AND portal = ?", (digest(token), portal)
            ).fetchone()
        if row is None or row["closed"] is not None or row["expires"] <= now:
            return None
        return self._session_row(row)

    @staticmethod
    def _session_row(row: sqlite3.Row) -> Session:
        return Session(
            token_digest=row["digest"],
            portal=row["portal"],
            email=row["email"],
            uuid=row["uuid"],
            sid=row["sid"],
            data=json.loads(row["data"]),
            created=row["created"],
            expires=row["expires"],
            closed=row["closed"],
            closed_reason=row["closed_reason"],
        )

    def session_by_digest(self, token_digest: str) -> Session | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM sessions WHERE digest = ?", (token_digest,)
            ).fetchone()
        return None if row is None else self._session_row(row)

    def update_session(
        self,
        token: str,
        *,
        data: dict[str, Any] | None = None,
        email: str | None = None,
        uuid: str | None = None,
        sid: str | None = None,
        expires: float | None = None,
    ) -> None:
        with self.transaction() as db:
            sets: list[str] = []
            args: list[Any] = []
            for name, value in (
                ("email", email),
                ("uuid", uuid),
                ("sid", sid),
                ("expires", expires),
            ):
                if value is not None:
                    sets.append(f"{name} = ?")
                    args.append(value)
            if data is not None:
                sets.append("data = ?")
                args.append(json.dumps(data))
            if sets:
                db.execute(
                    f"UPDATE sessions SET {', '.join(sets)} WHERE digest = ?",  # noqa: S608
                    (*args, digest(token)),
                )

    def purge_sessions(self, now: float) -> int:
        """Delete the sessions that are over (expired, or closed: a closed session never opens
        again and its closing is in the audit trail); how many went."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM sessions WHERE expires <= ? OR closed IS NOT NULL", (now,)
            )
            return cursor.rowcount

    def session_count(self, portal: str | None = None) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM sessions WHERE ? IS NULL OR portal = ?", (portal, portal)
            ).fetchone()
        return int(row[0])

    def close_session(self, token: str, now: float, reason: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE sessions SET closed = ?, closed_reason = ? "
                "WHERE digest = ? AND closed IS NULL",
                (now, reason, digest(token)),
            )
            return cursor.rowcount > 0

    def close_sessions(
        self, portal: str, now: float, reason: str, *, sid: str | None, uuid: str | None
    ) -> int:
        """Close this portal's open sessions with this `sid` (or, without one, this `uuid`)."""
        with self.transaction() as db:
            if sid is not None:
                where, value = "sid = ?", sid
            elif uuid is not None:
                where, value = "uuid = ?", uuid
            else:
                return 0
            cursor = db.execute(
                f"UPDATE sessions SET closed = ?, closed_reason = ? "  # noqa: S608
                f"WHERE portal = ? AND {where} AND closed IS NULL",
                (now, reason, portal, value),
            )
            if cursor.rowcount:
                self._audit(
                    db,
                    now,
                    "session.closed",
                    portal,
                    None,
                    uuid,
                    reason=reason,
                    sid=sid,
                    count=cursor.rowcount,
                )
            return cursor.rowcount

    def first_use(self, key: str, expires: float, now: float) -> bool:
        """Record a one-time value (a logout token's `jti`); False when seen before."""
        with self.transaction() as db:
            db.execute("DELETE FROM seen_jtis WHERE expires < ?", (now,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO seen_jtis (key, expires) VALUES (?, ?)", (key, expires)
            )
            return cursor.rowcount == 1
