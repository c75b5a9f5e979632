"""The card factory: a card with keys, PIN and PUK, before any certificate is put on it."""

from __future__ import annotations

import os
import secrets
import uuid as uuidlib
from collections.abc import Iterable

from simulator.card.crypto import SlotKey
from simulator.card.faults import Fault
from simulator.card.objects import ccc_object, discovery_content
from simulator.card.profile import NHS_PIN_TRIES, profile_for_series
from simulator.card.reference_data import ReferenceData, is_well_formed_pin
from simulator.card.state import CardState
from simulator.piv.constants import SYMMETRIC_ALGS, KeyRef, ObjectTag, pad_pin

# The well-known test management key (the default of common PIV test cards); a card file
# records it, so issuing tools and the suites can authenticate as the card's issuer.
DEFAULT_ADMIN_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708" * 2)


def new_serial() -> str:
    """A 10-digit card number; random, so two cards issued anywhere do not share one."""
    return f"{secrets.randbelow(9_000_000_000) + 1_000_000_000}"


def blank_card_state(
    series: int,
    pin: str,
    puk: str,
    *,
    puk_tries: int = 3,
    locked: bool = False,
    faults: Iterable[Fault | str] = (),
    keys: dict[KeyRef, SlotKey] | None = None,
) -> CardState:
    """A card with keys, PIN and PUK set but no certificates yet (what a card factory ships)."""
    pin_field = pad_pin(pin)
    if not is_well_formed_pin(pin_field):
        raise ValueError("a PIN is 6 to 8 digits")
    if len(puk) != 8:
        raise ValueError("a PUK is 8 characters")
    profile = profile_for_series(series)
    serial = new_serial()
    if keys is None:
        keys = {slot: SlotKey.generate(alg) for slot, alg in profile.slot_algorithms.items()}
    admin_key = DEFAULT_ADMIN_KEY[: SYMMETRIC_ALGS[profile.admin_algorithm]]
    return CardState(
        series=series,
        serial=serial,
        guid=uuidlib.uuid4().bytes,
        pin=ReferenceData.create(pin_field, NHS_PIN_TRIES, 0 if locked else None),
        puk=ReferenceData.create(puk.encode("ascii"), puk_tries),
        admin_algorithm=profile.admin_algorithm,
        admin_key=admin_key,
        keys=keys,
        objects={
            ObjectTag.CCC: ccc_object(bytes.fromhex(serial) + os.urandom(9)),
            ObjectTag.DISCOVERY: discovery_content(),
        },
        faults=frozenset(Fault(fault) for fault in faults),
    )
