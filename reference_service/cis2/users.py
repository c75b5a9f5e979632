"""The user directory: the Care Identities the provider knows, read from a JSON file.

```json
{"users": [{"uuid": "555000000101", "title": "Dr", "given_name": "Alice",
            "family_name": "Smith", "status": "active", "email": "alice.smith@nhs.net",
            "id_assurance_level": "3", "totp_secret": "BASE32...",
            "organisations": [{"org_code": "RX1", "org_name": "NHS Test Trust"}],
            "roles": [{"org_code": "RX1", "org_name": "NHS Test Trust",
                       "role_code": "S8000:G8000:R8000", "role_name": "...",
                       "person_roleid": "555100000101"}]}]}
```

A real CIS2 reads the Spine directory; the reference reads this file (the harness writes it
from its personas). The file is re-read when it changes. Only users with status `active`
can sign in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_service.cis2.watched_file import WatchedFile

UUID_PATTERN = re.compile(r"[0-9]{12}")
STATUSES = ("active", "suspended", "closed")


class DirectoryError(ValueError):
    """The user directory file cannot be used."""


@dataclass(frozen=True)
class Organisation:
    org_code: str
    org_name: str


@dataclass(frozen=True)
class Role:
    org_code: str
    org_name: str
    role_code: str
    role_name: str
    person_roleid: str


@dataclass(frozen=True)
class User:
    uuid: str
    given_name: str
    family_name: str
    title: str | None = None
    status: str = "active"
    email: str | None = None
    id_assurance_level: str = "3"
    totp_secret: str | None = None
    organisations: tuple[Organisation, ...] = ()
    roles: tuple[Role, ...] = ()

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.title, self.given_name, self.family_name) if part)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def active(self) -> bool:
        return self.status == "active"

    def role(self, person_roleid: str) -> Role | None:
        return next((r for r in self.roles if r.person_roleid == person_roleid), None)


def _string(entry: dict[str, Any], key: str, where: str, *, optional: bool = False) -> Any:
    value = entry.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DirectoryError(f"{where}: {key} is a non-blank string")
    return value


def parse_user(entry: object, where: str) -> User:
    if not isinstance(entry, dict):
        raise DirectoryError(f"{where}: a user is an object")
    uuid = _string(entry, "uuid", where)
    if not UUID_PATTERN.fullmatch(uuid):
        raise DirectoryError(f"{where}: uuid is 12 digits")
    where = f"user {uuid}"
    status = entry.get("status", "active")
    if status not in STATUSES:
        raise DirectoryError(f"{where}: status is one of {STATUSES}")
    organisations = tuple(
        Organisation(_string(o, "org_code", where), _string(o, "org_name", where))
        for o in entry.get("organisations", [])
        if isinstance(o, dict)
    )
    roles = tuple(
        Role(
            _string(r, "org_code", where),
            _string(r, "org_name", where),
            _string(r, "role_code", where),
            _string(r, "role_name", where),
            _string(r, "person_roleid", where),
        )
        for r in entry.get("roles", [])
        if isinstance(r, dict)
    )
    return User(
        uuid=uuid,
        given_name=_string(entry, "given_name", where),
        family_name=_string(entry, "family_name", where),
        title=_string(entry, "title", where, optional=True),
        status=status,
        email=_string(entry, "email", where, optional=True),
        id_assurance_level=str(entry.get("id_assurance_level", "3")),
        totp_secret=_string(entry, "totp_secret", where, optional=True),
        organisations=organisations,
        roles=roles,
    )


def load_users(path: Path) -> dict[str, User]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DirectoryError(f"{path}: cannot read the user directory: {exc}") from None
    entries = document.get("users") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise DirectoryError(f'{path}: the directory is {{"users": [...]}}')
    users: dict[str, User] = {}
    for index, entry in enumerate(entries, start=1):
        user = parse_user(entry, f"{path}: user #{index}")
        users[user.uuid] = user
    return users


class UserDirectory:
    """The directory file, re-read whenever it changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = WatchedFile(self.path, load_users)

    def get(self, uuid: str) -> User | None:
        return self._file.current().get(uuid)
