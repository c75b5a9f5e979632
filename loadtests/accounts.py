"""The load pool's NHSmail accounts: one account per load persona, in the directory's seed form.

Every persona `n` of a pool has `load.user<n>@load.nhs.net` (AUP accepted, active). The pool
is split by role, by index, so no two flows fight over an account or a link:

* **linking personas** (every `LINKING_EVERY`-th): account *not* linked, MFA off (My
  Identity Portal logs in with the password alone); the `linking` flow links the persona's
  own card to its own account;
* **signed-in personas** (all the others): account linked to the persona's Care Identity
  (the `nhsmail` flow signs in with the card) and MFA on with the persona's TOTP secret
  (the `password` flow logs in with password + code).

Passwords are scrypt (N=2^14: ≈ 60 ms a hash here), so thousands of hashes would dominate
setting up a run: every account shares **one** load password, hashed once and cached with
the pool (`nhsmail.json`, mode 0600, beside `accounts.json`, the seed file). Test data only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.pool import ORG, LoadPersona, Pool
from reference_service.directory.passwords import hash_password
from simulator.atomic import atomic_write_bytes

SECRETS_FILE = "nhsmail.json"
SEED_FILE = "accounts.json"
DOMAIN = "load.nhs.net"
LINKING_EVERY = 4


def email(persona: LoadPersona) -> str:
    return f"load.user{persona.index:05d}@{DOMAIN}"


def is_linking(persona: LoadPersona) -> bool:
    return persona.index % LINKING_EVERY == LINKING_EVERY - 1


def linking_personas(personas: Sequence[LoadPersona]) -> list[LoadPersona]:
    return [p for p in personas if is_linking(p)]


def signed_in_personas(personas: Sequence[LoadPersona]) -> list[LoadPersona]:
    return [p for p in personas if not is_linking(p)]


def account_entry(persona: LoadPersona, password_hash: str) -> dict[str, Any]:
    """The persona's account as an entry of the directory's seed file (reference_service
    .directory.seed); signed-in personas come linked, with MFA on."""
    linking = is_linking(persona)
    return {
        "email": email(persona),
        "display_name": persona.name,
        "organisation": ORG["org_name"],
        "org_code": ORG["org_code"],
        "password_hash": password_hash,
        "mfa_secret": None if linking else persona.totp_secret,
        "aup_accepted": True,
        "status": "active",
        "linked_uuid": None if linking else persona.uuid,
    }


@dataclass(frozen=True)
class PoolAccounts:
    password: str
    seed_file: Path  # {"accounts": [...]} for the directory's seed


def _new_password() -> str:
    # Meets the published rules (classes, length) and contains no user name.
    return f"Ld-{secrets.token_urlsafe(12)}-9a"


def ensure_accounts(pool: Pool) -> PoolAccounts:
    """The pool's accounts: made (one scrypt hash) the first time, then read from the pool."""
    if (pool.directory / SECRETS_FILE).exists():
        return read_accounts(pool.directory)
    password = _new_password()
    password_hash = hash_password(password)
    accounts = {"accounts": [account_entry(p, password_hash) for p in pool.personas]}
    seed_path = pool.directory / SEED_FILE
    atomic_write_bytes(seed_path, json.dumps(accounts).encode(), 0o600)
    # Written last: its presence says the seed file is complete.
    secrets_path = pool.directory / SECRETS_FILE
    atomic_write_bytes(secrets_path, json.dumps({"password": password}).encode(), 0o600)
    return PoolAccounts(password, seed_path)


def read_accounts(pool_dir: Path) -> PoolAccounts:
    """The accounts of a pool made earlier (Locust processes read, never write)."""
    document = json.loads((Path(pool_dir) / SECRETS_FILE).read_text(encoding="utf-8"))
    return PoolAccounts(str(document["password"]), Path(pool_dir) / SEED_FILE)
