"""The directory: link rules (one Care Identity <-> one NHSmail account), typed conflicts,
audited unlink, sessions, the jti guard and seeding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reference_service.directory.errors import (
    AccountAlreadyLinked,
    AccountUnknown,
    AlreadyLinked,
    CareIdentityLinkedElsewhere,
    LinkUnknown,
)
from reference_service.directory.passwords import hash_password
from reference_service.directory.seed import AccountsFileError, load_accounts_file, seed
from reference_service.directory.store import Account, Directory

HASH = hash_password("Seed!Password1")


def account(email: str, **fields: object) -> Account:
    values: dict[str, object] = {
        "email": email,
        "display_name": email.split("@", maxsplit=1)[0],
        "organisation": "NHS Test Trust",
        "org_code": "RX1",
        "password_hash": HASH,
        "password_history": (),
        "mfa_secret": None,
        "mfa_last_step": None,
        "aup_accepted": True,
        "status": "active",
        "failed_logins": 0,
    }
    values.update(fields)
    return Account(**values)  # type: ignore[arg-type]


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    d = Directory(tmp_path / "d.sqlite3")
    for name in ("a", "b", "c"):
        d.put_account(account(f"{name}@nhs.net"))
    return d


def test_database_is_wal_and_synchronous_full(directory: Directory) -> None:
    assert directory._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert directory._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_link_is_one_to_one_with_typed_conflicts(directory: Directory) -> None:
    link = directory.link("555000000001", "a@nhs.net", 1.0, "a@nhs.net")
    assert directory.link_for_uuid("555000000001") == link
    assert directory.link_for_email("A@NHS.NET") == link
    with pytest.raises(AlreadyLinked):
        directory.link("555000000001", "a@nhs.net", 2.0, "a@nhs.net")
    with pytest.raises(CareIdentityLinkedElsewhere) as elsewhere:
        directory.link("555000000001", "b@nhs.net", 2.0, "b@nhs.net")
    assert elsewhere.value.code == "care_identity_linked_elsewhere"
    assert elsewhere.value.status == 409
    with pytest.raises(AccountAlreadyLinked):
        directory.link("555000000002", "a@nhs.net", 2.0, "a@nhs.net")
    with pytest.raises(AccountUnknown):
        directory.link("555000000003", "nobody@nhs.net", 2.0, "x")
    assert len(directory.links()) == 1
    assert [e["event"] for e in directory.audit_events()] == ["link.created"]


def test_unlink_is_audited_and_closes_sessions(directory: Directory) -> None:
    directory.link("555000000001", "a@nhs.net", 1.0, "a@nhs.net")
    token = directory.create_session("nhsmail", 1.0, 100.0)
    directory.update_session(token, email="a@nhs.net", uuid="555000000001", sid="s1")
    removed = directory.unlink(5.0, "helpdesk:jo", email="a@nhs.net", reason="lost card")
    assert removed.uuid == "555000000001"
    assert directory.session("nhsmail", token, 6.0) is None
    event = directory.audit_events("link.removed")[0]
    assert event["actor"] == "helpdesk:jo" and event["detail"]["reason"] == "lost card"
    with pytest.raises(LinkUnknown):
        directory.unlink(6.0, "x", uuid="555000000001")
    with pytest.raises(ValueError, match="UUID or the email"):
        directory.unlink(6.0, "x")
    directory.link("555000000001", "b@nhs.net", 7.0, "b@nhs.net")  # free again


def test_sessions_expire_close_and_are_stored_as_digests(directory: Directory) -> None:
    token = directory.create_session("nhsmail", 10.0, 60.0, {"stage": "signed_in"})
    assert directory.session("nhsmail", token, 20.0) is not None
    assert directory.session("myidentity", token, 20.0) is None
    assert directory.session("nhsmail", token, 71.0) is None
    directory.update_session(token, sid="sid-1", uuid="555000000001")
    assert (
        directory.close_sessions("nhsmail", 30.0, "backchannel_logout", sid="sid-1", uuid=None) == 1
    )
    assert directory.session("nhsmail", token, 31.0) is None
    raw = directory._db.execute("SELECT digest FROM sessions").fetchone()[0]
    assert token not in raw


def test_jti_is_single_use(directory: Directory) -> None:
    assert directory.first_use("iss jti-1", 100.0, 1.0)
    assert not directory.first_use("iss jti-1", 100.0, 2.0)
    assert directory.first_use("iss jti-1", 300.0, 200.0)  # expired entries are forgotten


def test_lockout_counts_and_locks(directory: Directory) -> None:
    for _ in range(4):
        assert not directory.record_failure("a@nhs.net", 1.0, 5)
    assert directory.record_failure("a@nhs.net", 1.0, 5)
    assert directory.account("a@nhs.net").status == "locked"  # type: ignore[union-attr]
    directory.set_status("a@nhs.net", "active", 2.0, "helpdesk")
    assert directory.account("a@nhs.net").failed_logins == 0  # type: ignore[union-attr]


def test_seed_adds_missing_accounts_and_links(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    entry = {
        "email": "x@nhs.net",
        "display_name": "X",
        "password_hash": HASH,
        "aup_accepted": True,
        "status": "active",
        "linked_uuid": "555000000009",
    }
    path.write_text(json.dumps({"accounts": [entry]}))
    directory = Directory(tmp_path / "d.sqlite3")
    assert seed(directory, path, 1.0) == 1
    assert seed(directory, path, 2.0) == 0
    assert directory.link_for_uuid("555000000009") is not None
    for bad in (
        {"accounts": [{"email": "x"}]},
        {"nope": 1},
        {"accounts": [{**entry, "status": "?"}]},
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(AccountsFileError):
            load_accounts_file(path)
