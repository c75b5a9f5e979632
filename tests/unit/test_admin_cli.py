"""`careid admin`: the helpdesk's registrations and account status, each audited."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conformance.cli import main
from conformance.portals.stack import directory_paths, export_accounts
from reference_service.directory.seed import seed
from reference_service.directory.store import Directory
from simulator.personas import get_persona, load_personas

ALICE = get_persona("alice")
ALICE_EMAIL = ALICE.nhsmail.email if ALICE.nhsmail else ""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory seeded from the personas (scrypt hashes: made once for the module)."""
    data_dir = tmp_path_factory.mktemp("admin")
    database, accounts = directory_paths(data_dir)
    export_accounts(load_personas().values(), accounts)
    directory = Directory(database)
    seed(directory, accounts, time.time())
    directory.close()
    return data_dir


@pytest.fixture
def data_dir(seeded: Path, tmp_path: Path) -> Path:
    """A copy of the seeded directory for one test (closed, so its WAL is checkpointed)."""
    database, accounts = directory_paths(seeded)
    copy_db, copy_accounts = directory_paths(tmp_path)
    copy_db.parent.mkdir(parents=True)
    copy_db.write_bytes(database.read_bytes())
    copy_accounts.write_bytes(accounts.read_bytes())
    return tmp_path


def careid(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["admin", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_links_then_unlink_by_uuid_is_audited(data_dir: Path) -> None:
    code, out = careid("links", "--data-dir", str(data_dir))
    assert code == 0 and f"{ALICE.care_identity.uuid}  {ALICE_EMAIL}" in out
    code, out = careid(
        "unlink",
        "--data-dir",
        str(data_dir),
        "--uuid",
        ALICE.care_identity.uuid,
        "--reason",
        "lost card",
        "--actor",
        "helpdesk:test",
    )
    assert code == 0, out
    assert f"unlinked {ALICE.care_identity.uuid} from {ALICE_EMAIL}" in out
    directory = Directory(directory_paths(data_dir)[0])
    try:
        assert directory.link_for_uuid(ALICE.care_identity.uuid) is None
        removed = directory.audit_events("link.removed")[-1]
        assert removed["actor"] == "helpdesk:test" and removed["uuid"] == ALICE.care_identity.uuid
        assert removed["detail"]["reason"] == "lost card"
    finally:
        directory.close()
    code, out = careid("links", "--data-dir", str(data_dir))
    assert ALICE.care_identity.uuid not in out


def test_unlink_by_email_and_refusals(data_dir: Path) -> None:
    dir_option = ("--data-dir", str(data_dir))
    code, out = careid("unlink", *dir_option, "--reason", "x")
    assert code == 2 and "give --uuid or --email" in out
    code, out = careid("unlink", *dir_option, "--email", ALICE_EMAIL, "--reason", "left")
    assert code == 0, out
    code, out = careid("unlink", *dir_option, "--email", ALICE_EMAIL, "--reason", "again")
    assert code == 1 and "Error:" in out  # nothing left to remove: a clear error, no trace


def test_account_status_unlock_and_unknown(data_dir: Path) -> None:
    olivia = get_persona("olivia").nhsmail
    assert olivia is not None
    dir_option = ("--data-dir", str(data_dir))
    code, out = careid("account", *dir_option, olivia.email, "--status", "active")
    assert code == 0 and f"{olivia.email}: active" in out
    directory = Directory(directory_paths(data_dir)[0])
    try:
        account = directory.account(olivia.email)
        assert account is not None and account.status == "active"
    finally:
        directory.close()
    code, out = careid("account", *dir_option, "nobody@nhs.net", "--status", "locked")
    assert code == 1 and "account_unknown" in out, out


def test_no_directory_yet(tmp_path: Path) -> None:
    code, out = careid("links", "--data-dir", str(tmp_path))
    assert code == 1 and "run `careid service up` first" in out
