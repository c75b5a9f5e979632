"""Account rules shared by both portals: password login with lockout, MFA, the AUP gate and
password changes under the published rules."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from reference_service.cis2 import totp
from reference_service.directory.errors import (
    AccountDisabled,
    AccountLocked,
    AccountUnknown,
    AupNotAccepted,
    InvalidCredentials,
    MfaInvalid,
    PasswordRejected,
)
from reference_service.directory.passwords import (
    DUMMY_HASH,
    HISTORY,
    hash_password,
    rule_problems,
    verify_password,
)
from reference_service.directory.store import Account, Directory

LOCKOUT_THRESHOLD = 5
MAX_EMAIL = 254
MAX_PASSWORD = 256


@dataclass
class AccountService:
    directory: Directory
    clock: Callable[[], float]
    lockout_threshold: int = LOCKOUT_THRESHOLD

    def password_login(self, email: str, password: str, portal: str) -> Account:
        """The account for this address and password, or a typed refusal."""
        email = email.strip()
        if not email or len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            raise InvalidCredentials()
        account = self.directory.account(email)
        if account is None:
            verify_password(password, DUMMY_HASH)  # the same cost as a known address
            raise InvalidCredentials()
        self.check_status(account)
        if not verify_password(password, account.password_hash):
            if self.directory.record_failure(account.email, self.clock(), self.lockout_threshold):
                raise AccountLocked()
            raise InvalidCredentials()
        if account.failed_logins:
            self.directory.reset_failures(account.email)
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

    def verify_mfa(self, email: str, code: str) -> None:
        account = self.require(email)
        if account.mfa_secret is None:
            return
        step = totp.matching_step(account.mfa_secret, code.strip(), self.clock())
        if step is None or not self.directory.use_mfa_step(account.email, step):
            self.directory.record_failure(account.email, self.clock(), self.lockout_threshold)
            raise MfaInvalid()

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

    def change_password(self, email: str, old: str, new: str) -> None:
        account = self.require(email)
        if len(old) > MAX_PASSWORD or not verify_password(old, account.password_hash):
            raise InvalidCredentials()
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
