"""Pre-issued load personas: many distinct Care Identities, each with a card and a TOTP secret.

Issuing is the slow part of a card (key generation, certificates), so a pool is issued once
into a cache directory and reused by every run and every Locust process: series 10 cards
(P-256 keys: about 4 ms a card here), certificates from the data directory's test PKI.

    <data dir>/load-pool/<count>-s<series>/
        pool.json    index: uuid, name, card file, PIN, TOTP secret of each persona
        users.json   the same people as entries of the reference provider's user directory
        cards/NNNNN.card

UUIDs start 5559 (the personas file uses 5550): a pool never collides with a persona.
Every value is fictional test data.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.atomic import atomic_write_bytes
from simulator.card import cardfile
from simulator.card.factory import blank_card_state
from simulator.card.issue import personalise
from simulator.pki import TestPKI

POOL_DIR = "load-pool"
INDEX = "pool.json"
USERS = "users.json"
UUID_PREFIX = "5559"
ORG = {"org_code": "RLOAD", "org_name": "Load Test Trust"}


@dataclass(frozen=True)
class LoadPersona:
    index: int
    uuid: str
    name: str
    card: Path
    pin: str = field(repr=False)
    totp_secret: str = field(repr=False)

    def user_entry(self) -> dict[str, Any]:
        """This persona in the provider's user directory (the shape stack.user_entry writes)."""
        given, family = self.name.split(" ", 1)
        return {
            "uuid": self.uuid,
            "title": None,
            "given_name": given,
            "family_name": family,
            "status": "active",
            "email": None,
            "id_assurance_level": "3",
            "totp_secret": self.totp_secret,
            "organisations": [ORG],
            "roles": [
                {
                    **ORG,
                    "role_code": "S8000:G8000:R8000",
                    "role_name": "Clinical Practitioner Access Role",
                    "person_roleid": f"5558{self.index:08d}",
                }
            ],
        }


@dataclass(frozen=True)
class Pool:
    directory: Path
    personas: tuple[LoadPersona, ...]

    @property
    def users_file(self) -> Path:
        return self.directory / USERS

    def part(self, index: int, parts: int) -> Sequence[LoadPersona]:
        """The `index`-th of `parts` disjoint slices (one per Locust worker)."""
        if parts <= 1:
            return self.personas
        size = len(self.personas) // parts
        if size == 0:
            raise ValueError(f"a pool of {len(self.personas)} cannot be split {parts} ways")
        return self.personas[index * size : (index + 1) * size]


def pool_dir(data_dir: Path, count: int, series: int = 10) -> Path:
    return Path(data_dir) / POOL_DIR / f"{count}-s{series}"


def _secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def issue_pool(data_dir: Path, count: int, *, series: int = 10) -> Pool:
    """Issue `count` load personas (replacing an unfinished pool of that size)."""
    directory = pool_dir(data_dir, count, series)
    if directory.exists():
        shutil.rmtree(directory)
    cards = directory / "cards"
    cards.mkdir(parents=True)
    pki = TestPKI.open(Path(data_dir) / "pki")
    personas = []
    for index in range(count):
        uuid = f"{UUID_PREFIX}{index:08d}"
        name = f"Load User{index:05d}"
        pin = f"{secrets.randbelow(10**6):06d}"
        state = blank_card_state(series, pin, f"{secrets.randbelow(10**8):08d}")
        personalise(state, pki, name=name, uuid=uuid)
        state.persona = f"load-{index}"
        path = cards / f"{index:05d}.card"
        atomic_write_bytes(path, cardfile.dumps(state))
        personas.append(LoadPersona(index, uuid, name, path, pin, _secret()))
    pool = Pool(directory, tuple(personas))
    users = {"users": [p.user_entry() for p in personas]}
    atomic_write_bytes(pool.users_file, json.dumps(users).encode(), 0o644)
    index_doc = [
        {
            "uuid": p.uuid,
            "name": p.name,
            "card": p.card.name,
            "pin": p.pin,
            "totp_secret": p.totp_secret,
        }
        for p in personas
    ]
    # Written last: a pool with an index is complete.
    atomic_write_bytes(directory / INDEX, json.dumps(index_doc).encode(), 0o600)
    return pool


def open_pool(directory: Path) -> Pool:
    directory = Path(directory)
    document = json.loads((directory / INDEX).read_text(encoding="utf-8"))
    personas = tuple(
        LoadPersona(
            i, e["uuid"], e["name"], directory / "cards" / e["card"], e["pin"], e["totp_secret"]
        )
        for i, e in enumerate(document)
    )
    return Pool(directory, personas)


def ensure_pool(data_dir: Path, count: int, *, series: int = 10) -> Pool:
    """The cached pool of `count` personas, issued first when there is none (the data dir's
    PKI must be the one that issued it: a new PKI means a new data dir, so a new cache)."""
    directory = pool_dir(data_dir, count, series)
    if (directory / INDEX).exists():
        return open_pool(directory)
    return issue_pool(data_dir, count, series=series)


def cycle(personas: Sequence[LoadPersona], start: int = 0) -> Iterator[LoadPersona]:
    """Endless round-robin over `personas` (bounded by the caller's iterations)."""
    if not personas:
        raise ValueError("an empty pool")
    index = start
    while True:
        yield personas[index % len(personas)]
        index += 1
