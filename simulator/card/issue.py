"""Issuing cards: keys, certificates from the test PKI, and the data objects, per persona."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives import serialization

from simulator.atomic import atomic_write_bytes
from simulator.card import cardfile
from simulator.card.factory import blank_card_state
from simulator.card.objects import (
    certificate_object,
    chuid_content,
    chuid_object,
    printed_information_object,
)
from simulator.card.state import CardState
from simulator.card.store import CARD_SUFFIX
from simulator.datadir import ensure_dir
from simulator.personas import get_persona
from simulator.piv.constants import CERT_OBJECT_FOR_KEY, KeyRef, ObjectTag
from simulator.pki import CertState, TestPKI

USAGE_FOR_SLOT = {
    KeyRef.AUTHENTICATION: "authentication",
    KeyRef.SIGNATURE: "signature",
    KeyRef.KEY_MANAGEMENT: "key_management",
    KeyRef.CARD_AUTHENTICATION: "card_authentication",
}


def personalise(
    state: CardState,
    pki: TestPKI,
    *,
    name: str,
    uuid: str,
    certificate_state: CertState = "valid",
    days: int = 730,
) -> None:
    """Issue a certificate for every key and write the identity objects (CHUID, Printed Info)."""
    expiry: date | None = None
    for slot, key in state.keys.items():
        certificate = pki.issue_card_certificate(
            key.private_key.public_key(),
            common_name=name,
            uuid=uuid,
            usage=USAGE_FOR_SLOT[slot],  # type: ignore[arg-type]
            state=certificate_state,
            days=days,
            card_guid=UUID(bytes=state.guid),
        )
        der = certificate.public_bytes(serialization.Encoding.DER)
        state.objects[CERT_OBJECT_FOR_KEY[slot]] = certificate_object(der)
        if slot == KeyRef.AUTHENTICATION:
            expiry = certificate.not_valid_after_utc.date()
    expiry = expiry or (datetime.now(UTC) + timedelta(days=days)).date()
    signature = pki.sign_cms(chuid_content(state.guid, expiry))
    state.objects[ObjectTag.CHUID] = chuid_object(state.guid, expiry, signature)
    state.objects[ObjectTag.PRINTED_INFORMATION] = printed_information_object(
        name, uuid, expiry, state.serial
    )
    state.uuid = uuid


def issue_card(
    persona: str,
    *,
    data_dir: Path,
    pin: str | None = None,
    puk: str | None = None,
    out: Path | None = None,
    personas_file: Path | None = None,
) -> Path:
    """Issue a card for a persona into a card file and return the file's path."""
    spec = get_persona(persona, personas_file)
    card = spec.card
    state = blank_card_state(
        card.series,
        pin or card.pin,
        puk or card.puk,
        puk_tries=card.puk_tries,
        locked=card.locked,
        faults=card.faults,
    )
    identity = spec.care_identity
    personalise(
        state,
        TestPKI.open(data_dir / "pki"),
        name=identity.display_name,
        uuid=identity.uuid,
        certificate_state=card.certificate,
    )
    state.persona = spec.name
    path = out or ensure_dir(data_dir / "cards") / f"{spec.name}-{state.serial}{CARD_SUFFIX}"
    ensure_dir(Path(path).parent)
    atomic_write_bytes(Path(path), cardfile.dumps(state))
    return Path(path)
