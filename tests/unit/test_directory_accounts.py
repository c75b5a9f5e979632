"""Passwords (scrypt, rules), password login with lockout, MFA and the AUP gate."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from reference_service.cis2 import totp
from reference_service.directory.accounts import AccountService
from reference_service.directory.errors import (
    AccountDisabled,
    AccountLocked,
    AupNotAccepted,
    InvalidCredentials,
    MfaInvalid,
    PasswordRejected,
    TooManyAttempts,
)
from reference_service.directory.passwords import hash_password, rule_problems, verify_password
from reference_service.directory.store import Directory
from tests.unit.test_directory_store import account

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
PASSWORD = "Harbour!Lantern42"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(tmp_path: Path) -> AccountService:
    d = Directory(tmp_path / "d.sqlite3")
    d.put_account(account("jo.bloggs@nhs.net", password_hash=hash_password(PASSWORD)))
    d.put_account(
        account("mfa.user@nhs.net", password_hash=hash_password(PASSWORD), mfa_secret=SECRET)
    )
    d.put_account(account("no.aup@nhs.net", aup_accepted=False))
    d.put_account(account("off.user@nhs.net", status="disabled"))
    return AccountService(d, Clock())


def test_scrypt_hashes_are_salted_and_checked() -> None:
    one, two = hash_password(PASSWORD), hash_password(PASSWORD)
    assert one != two and one.startswith("scrypt$")
    assert verify_password(PASSWORD, one) and not verify_password("harbour!lantern42", one)
    assert not verify_password(PASSWORD, "garbage") and not verify_password(PASSWORD, "scrypt$x")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Ab1!", "at least 8"),
        ("alllowercase", "3 of"),
        ("Jo.Bloggs!2024", "user name"),
        ("Xbloggs12!", "user name"),
    ],
)
def test_password_rules(password: str, problem: str) -> None:
    assert any(problem in p for p in rule_problems(password, "jo.bloggs@nhs.net"))


def test_password_history_of_four(service: AccountService) -> None:
    email = "jo.bloggs@nhs.net"
    passwords = [PASSWORD, "Second!Pass11", "Third!Pass22", "Fourth!Pass33", "Fifth!Pass44"]
    for old, new in itertools.pairwise(passwords):
        service.change_password(email, old, new)
    with pytest.raises(PasswordRejected, match="last 4"):
        service.change_password(email, passwords[-1], passwords[1])
    service.change_password(email, passwords[-1], PASSWORD)  # 5 changes ago: allowed
    with pytest.raises(InvalidCredentials):
        service.change_password(email, "wrong", "Another!Pass55")


def test_login_lockout_after_five_failures(service: AccountService) -> None:
    """Five failures lock the password for a while (not for ever: the helpdesk lock is
    `status = locked`); the right password is refused meanwhile."""
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            service.password_login("jo.bloggs@nhs.net", "Wrong!Pass1", "nhsmail")
    with pytest.raises(TooManyAttempts):
        service.password_login("jo.bloggs@nhs.net", "Wrong!Pass1", "nhsmail")
    with pytest.raises(TooManyAttempts):
        service.password_login("jo.bloggs@nhs.net", PASSWORD, "nhsmail")
    assert service.require("jo.bloggs@nhs.net").status == "active"
    clock = service.clock
    assert isinstance(clock, Clock)
    clock.now += service.policy.lockout + 1
    assert service.password_login("jo.bloggs@nhs.net", PASSWORD, "nhsmail").email


def test_a_helpdesk_unlock_ends_the_lock(service: AccountService) -> None:
    for _ in range(5):
        with pytest.raises((InvalidCredentials, TooManyAttempts)):
            service.password_login("jo.bloggs@nhs.net", "Wrong!Pass1", "nhsmail")
    service.directory.set_status("jo.bloggs@nhs.net", "active", service.clock(), "helpdesk")
    assert service.password_login("jo.bloggs@nhs.net", PASSWORD, "nhsmail").email


def test_a_locked_account_is_refused_with_the_right_password(service: AccountService) -> None:
    service.directory.set_status("jo.bloggs@nhs.net", "locked", service.clock(), "helpdesk")
    with pytest.raises(AccountLocked):
        service.password_login("jo.bloggs@nhs.net", PASSWORD, "nhsmail")


def test_login_statuses_and_unknown(service: AccountService) -> None:
    assert service.password_login(" jo.bloggs@nhs.net ", PASSWORD, "nhsmail").email
    with pytest.raises(InvalidCredentials):
        service.password_login("nobody@nhs.net", PASSWORD, "nhsmail")
    with pytest.raises(InvalidCredentials):
        service.password_login("", "", "nhsmail")
    with pytest.raises(AccountDisabled):
        service.password_login("off.user@nhs.net", PASSWORD, "nhsmail")
    with pytest.raises(AupNotAccepted):
        service.gate(service.require("no.aup@nhs.net"))


def test_mfa_codes_single_use_and_enrolment(service: AccountService) -> None:
    clock = service.clock
    code = totp.totp(SECRET, clock())
    service.verify_mfa("mfa.user@nhs.net", code)
    with pytest.raises(MfaInvalid):
        service.verify_mfa("mfa.user@nhs.net", code)
    with pytest.raises(MfaInvalid):
        service.verify_mfa("mfa.user@nhs.net", "12345x")
    secret = service.new_mfa_secret()
    with pytest.raises(MfaInvalid):
        service.enrol_mfa(
            "jo.bloggs@nhs.net",
            secret,
            "000000" if totp.totp(secret, clock()) != "000000" else "111111",
        )
    service.enrol_mfa("jo.bloggs@nhs.net", secret, totp.totp(secret, clock()))
    assert service.require("jo.bloggs@nhs.net").mfa_enabled
