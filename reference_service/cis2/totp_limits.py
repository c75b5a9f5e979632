"""Limits on guessing authenticator-app (TOTP) codes: per sign-in transaction and per user.

A six-digit code has a million values; unlimited guesses find it (NIST SP 800-63B 5.2.2
requires a limit). Each attempt is spent before the code is compared (`AttemptLimiter`):

* per Care Identity number: `totp_max_failures` wrong codes within `totp_window` seconds lock
  that number's second factor for `totp_lockout` seconds, whatever transaction they came from;
* per transaction: fewer tries (`totp_max_failures_per_transaction`); the transaction's
  authenticator-app step is then closed.

The counter is keyed by the number as typed, known or not, so a lock (and its page) looks the
same for a number that does not exist: the limit tells nothing the code page does not.
Never audits the code itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from reference_service.cis2.audit import Audit
from reference_service.cis2.config import Settings
from reference_service.cis2.errors import SignInError
from reference_service.common.attempts import AttemptLimiter, AttemptPolicy, Locked, attempt_key
from reference_service.common.sqlite import Database


def until_text(until: float) -> str:
    """HH:MM (server time) at or after `until`: rounded up, so retrying then works."""
    return time.strftime("%H:%M", time.localtime(math.ceil(until / 60) * 60))


def user_locked(until: float) -> SignInError:
    return SignInError(
        "totp_locked",
        f"Too many wrong codes: try again after {until_text(until)}, or sign in with your "
        "smartcard.",
        429,
    )


def transaction_locked() -> SignInError:
    return SignInError(
        "totp_attempts_exhausted",
        "Too many wrong codes for this sign-in: go back to the application and sign in again.",
        429,
    )


@dataclass
class Attempt:
    """One spent attempt: `succeeded()` after a match, `failed()` after a mismatch."""

    guard: TotpGuard
    tx_id: str
    uuid: str

    def succeeded(self) -> None:
        self.guard.users.succeeded(self.guard.user_key(self.uuid))
        self.guard.transactions.succeeded(self.guard.tx_key(self.tx_id))

    def failed(self) -> None:
        """Audit a lock this failure brought about (a key locked now was not before)."""
        for scope, limiter, key in (
            ("user", self.guard.users, self.guard.user_key(self.uuid)),
            ("transaction", self.guard.transactions, self.guard.tx_key(self.tx_id)),
        ):
            until = limiter.locked_until(key)
            if until is not None:
                self.guard.audit(
                    "totp_locked", scope=scope, uuid=self.uuid, tx=self.tx_id[:8], until=until
                )


class TotpGuard:
    """The two counters, in the provider's database (table `failed_attempts`)."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float], audit: Audit
    ) -> None:
        self.audit = audit
        self.users = AttemptLimiter(
            db,
            AttemptPolicy(settings.totp_max_failures, settings.totp_window, settings.totp_lockout),
            clock,
        )
        # The same window as the user's counter, so either purge keeps the other's rows; a
        # transaction outlives its lock no longer than its own lifetime.
        self.transactions = AttemptLimiter(
            db,
            AttemptPolicy(
                settings.totp_max_failures_per_transaction,
                settings.totp_window,
                settings.transaction_lifetime,
            ),
            clock,
        )

    @staticmethod
    def user_key(uuid: str) -> str:
        return attempt_key("totp", "user", uuid)

    @staticmethod
    def tx_key(tx_id: str) -> str:
        return attempt_key("totp", "tx", tx_id)

    def spend(self, tx_id: str, uuid: str) -> Attempt:
        """Count an attempt before anything is compared; SignInError (429) when locked."""
        tx_key = self.tx_key(tx_id)
        try:
            # The transaction's lock is read first, so a closed transaction costs the user
            # nothing; the user's counter is the one that must hold under parallel requests.
            if self.transactions.locked_until(tx_key) is not None:
                raise Locked(tx_key, 0.0)
            self.users.spend(self.user_key(uuid))
            self.transactions.spend(tx_key)
        except Locked as locked:
            scope = "transaction" if locked.key == tx_key else "user"
            self.audit("totp_refused_locked", scope=scope, uuid=uuid, tx=tx_id[:8])
            error = transaction_locked() if scope == "transaction" else user_locked(locked.until)
            raise error from None
        return Attempt(self, tx_id, uuid)

    def purge(self) -> int:
        return self.users.purge() + self.transactions.purge()
