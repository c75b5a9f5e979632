"""Account rules shared by both portals: password login, MFA, the AUP gate and password
changes under the published rules.

Guesses are limited per account and secret kind (`throttle`): the attempt is spent before the
secret is compared, so parallel or cut-off requests cannot exceed the limit; after too many
failures the right secret is refused too (`TooManyAttempts`) until the lock is over. An
unknown address is limited and answered like a known one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from reference_service.cis2 import totp
from reference_service.common.attempts import AttemptLimiter, AttemptPolicy, Locked
from reference_service.directory.errors import (
    AccountDisabled,
    AccountLocked,
    AccountUnknown,
    AupNotAccepted,
    InvalidCredentials,
    MfaInvalid,
    PasswordRejected,
    TooManyAttempts,
)
from reference_service.directory.passwords import (
    DUMMY_HASH,
    HISTORY,
    hash_password,
    rule_problems,
    verify_password,
)
from reference_service.directory.store import Account, Directory
from reference_service.directory.throttle import Secret, account_key

MAX_EMAIL = 254
MAX_PASSWORD = 256


@dataclass
class AccountService:
    directory: Directory
    clock: Callable[[], float]
    policy: AttemptPolicy = field(default_factory=AttemptPolicy)
    limiter: AttemptLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = AttemptLimiter(self.directory, self.policy, self.clock)

    def _spend(self, kind: Secret, email: str, portal: str, known: Account | None) -> str:
        """Count one guess of `kind` for this address before it is compared (its key)."""
        key = account_key(kind, email)
        try:
            self.limiter.spend(key)
        except Locked as locked:
            self._refused(kind, portal, known, locked.until)
        return key

    def _failed(self, kind: Secret, key: str, portal: str, known: Account | None) -> None:
        """After a wrong guess: the audit line, and the refusal when it used up the last try."""
        email = known.email if known else None  # never what was typed for an unknown address
        self.directory.audit(self.clock(), "login.failed", portal, email, secret=kind)
        until = self.limiter.locked_until(key)
        if until is not None:
            self.directory.audit(
                self.clock(), "login.locked_out", portal, email, secret=kind, until=until
            )
            raise TooManyAttempts(kind)

    def _refused(self, kind: Secret, portal: str, known: Account | None, until: float) -> NoReturn:
        email = known.email if known else None
        self.directory.audit(
            self.clock(), "login.too_many_attempts", portal, email, secret=kind, until=until
        )
        raise TooManyAttempts(kind)

    def password_login(self, email: str, password: str, portal: str) -> Account:
        """The account for this address and password, or a typed refusal."""
        email = email.strip()
        if not email or len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            raise InvalidCredentials()
        account = self.directory.account(email)
        key = self._spend("password", email, portal, account)
        if account is None:
            verify_password(password, DUMMY_HASH)  # the same cost as a known address
            self._failed("password", key, portal, None)
            raise InvalidCredentials()
        self.check_status(account)
        if not verify_password(password, account.password_hash):
            self._failed("password", key, portal, account)
            raise InvalidCredentials()
        self.limiter.succeeded(key)
        self.directory.audit(self.clock(), "login.password", portal, account.email)
        return account

    @staticmethod
    def check_status(account: Account) -> None:
        if account.status == "locked":
            raise AccountLocked()
        if account.status == "disabled":
            raise AccountDisabled()

    def gate(self, account: Account) -> None:
        """An account may use the portals' Care Identity features: active and AUP accepted."""
        self.check_status(account)
        if not account.aup_accepted:
            raise AupNotAccepted()

    def verify_mfa(self, email: str, code: str, portal: str = "portal") -> None:
        account = self.require(email)
        if account.mfa_secret is None:
            return
        key = self._spend("mfa", account.email, portal, account)
        step = totp.matching_step(account.mfa_secret, code.strip(), self.clock())
        if step is None or not self.directory.use_mfa_step(account.email, step):
            self._failed("mfa", key, portal, account)
            raise MfaInvalid()
        self.limiter.succeeded(key)

    def new_mfa_secret(self) -> str:
        import base64  # noqa: PLC0415

        return base64.b32encode(secrets.token_bytes(20)).decode()

    def enrol_mfa(self, email: str, secret: str, code: str) -> None:
        """Turn MFA on once the user proves their app holds `secret`."""
        try:
            step = totp.matching_step(secret, code.strip(), self.clock())
        except ValueError:
            step = None
        if step is None:
            raise MfaInvalid()
        self.directory.set_mfa(email, secret, self.clock(), email)
        self.directory.use_mfa_step(email, step)

    def change_password(self, email: str, old: str, new: str, portal: str = "portal") -> None:
        account = self.require(email)
        if len(old) > MAX_PASSWORD:
            raise InvalidCredentials()
        # a signed-in session (a Care Identity one, say) must not become a password oracle
        key = self._spend("password", account.email, portal, account)
        if not verify_password(old, account.password_hash):
            self._failed("password", key, portal, account)
            raise InvalidCredentials()
        self.limiter.succeeded(key)
        history = [account.password_hash, *account.password_history][:HISTORY]
        problems = rule_problems(new, account.email, history)
        if problems:
            raise PasswordRejected(problems)
        self.directory.set_password(account.email, hash_password(new), history, self.clock())

    def require(self, email: str) -> Account:
        account = self.directory.account(email)
        if account is None:
            raise AccountUnknown(email)
        return account
