"""Seeding the directory from an accounts file (written by the harness's exporter).

```json
{"accounts": [{"email": "alice.smith@nhs.net", "display_name": "Alice Smith",
  "organisation": "NHS Test Trust", "org_code": "RX1",
  "password_hash": "scrypt$16384$8$1$...", "mfa_secret": null, "aup_accepted": true,
  "status": "active", "linked_uuid": "555000000101"}]}
```

Accounts already in the database are left as they are (the database is the truth once
seeded); missing ones are added with their link.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_service.directory.errors import DirectoryError
from reference_service.directory.store import Account, Directory

STATUSES = ("active", "locked", "disabled")


class AccountsFileError(ValueError):
    """The accounts file cannot be used."""


@dataclass(frozen=True)
class SeedEntry:
    account: Account
    linked_uuid: str | None


def _entry(item: Any, index: int) -> SeedEntry:
    where = f"account #{index}"
    if not isinstance(item, dict):
        raise AccountsFileError(f"{where}: an object")
    email = item.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise AccountsFileError(f"{where}: email")
    status = item.get("status", "active")
    if status not in STATUSES:
        raise AccountsFileError(f"{where}: status is one of {STATUSES}")
    password_hash = item.get("password_hash")
    if not isinstance(password_hash, str) or not password_hash.startswith("scrypt$"):
        raise AccountsFileError(f"{where}: password_hash is a scrypt hash")
    linked = item.get("linked_uuid")
    account = Account(
        email=email,
        display_name=str(item.get("display_name") or email),
        organisation=str(item.get("organisation") or ""),
        org_code=str(item.get("org_code") or ""),
        password_hash=password_hash,
        password_history=(),
        mfa_secret=item.get("mfa_secret") or None,
        mfa_last_step=None,
        aup_accepted=bool(item.get("aup_accepted", False)),
        status=status,
        failed_logins=0,
    )
    return SeedEntry(account, str(linked) if linked else None)


def load_accounts_file(path: Path) -> list[SeedEntry]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AccountsFileError(f"{path}: {exc}") from None
    items = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise AccountsFileError(f"{path}: an object with an `accounts` list")
    return [_entry(item, index) for index, item in enumerate(items, start=1)]


def seed(directory: Directory, path: Path, now: float) -> int:
    """Add the file's accounts (and links) missing from the directory; how many were added."""
    added = 0
    for entry in load_accounts_file(path):
        if directory.put_account(entry.account):
            added += 1
            if entry.linked_uuid:
                # A conflicting link already in the database wins.
                with contextlib.suppress(DirectoryError):
                    directory.link(entry.linked_uuid, entry.account.email, now, "seed")
    return added
