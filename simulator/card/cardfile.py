"""The card file format (`careid-card/1`): JSON that holds one card's durable state.

Secrets are stored only as salted digests. Private keys are stored unencrypted: these are
test cards, and a card file is the card itself.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.card.crypto import SlotKey
from simulator.card.faults import Fault
from simulator.card.reference_data import ReferenceData
from simulator.card.state import CardState
from simulator.piv.constants import ASYMMETRIC_SLOTS, SYMMETRIC_ALGS, Alg, KeyRef

FORMAT: Final = "careid-card/1"

Hex = Annotated[str, Field(pattern=r"^([0-9a-f]{2})*$")]


class CardFileError(ValueError):
    """A card file that cannot be loaded; the message names the file, the field and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferenceDataRecord(_Model):
    salt: Hex
    digest: Hex
    tries_left: int = Field(ge=0, le=15)
    limit: int = Field(ge=1, le=15)


class AdminKeyRecord(_Model):
    algorithm: Literal[Alg.TDES, Alg.AES128, Alg.AES192, Alg.AES256]
    key: Hex


class SlotKeyRecord(_Model):
    algorithm: Literal[Alg.RSA2048, Alg.RSA3072, Alg.ECC_P256, Alg.ECC_P384]
    pem: str


class CardRecord(_Model):
    format: Literal["careid-card/1"]
    series: Literal[8, 9, 10]
    serial: str = Field(pattern=r"^\d{10}$")
    guid: Hex = Field(min_length=32, max_length=32)
    persona: str | None = None
    uuid: str | None = Field(default=None, pattern=r"^\d{12}$")
    pin: ReferenceDataRecord
    puk: ReferenceDataRecord
    admin_key: AdminKeyRecord
    keys: dict[Literal["9a", "9c", "9d", "9e"], SlotKeyRecord]
    objects: dict[Annotated[str, Field(pattern=r"^(7e|5fc1[0-9a-f]{2})$")], Hex]
    faults: list[Fault] = []
    extra: dict[str, str] = {}


def _reference(record: ReferenceDataRecord) -> ReferenceData:
    return ReferenceData(
        bytes.fromhex(record.salt), bytes.fromhex(record.digest), record.tries_left, record.limit
    )


def _record(data: ReferenceData) -> ReferenceDataRecord:
    return ReferenceDataRecord(
        salt=data.salt.hex(), digest=data.digest.hex(), tries_left=data.tries_left, limit=data.limit
    )


def dumps(state: CardState) -> bytes:
    record = CardRecord(
        format=FORMAT,
        series=state.series,  # type: ignore[arg-type]
        serial=state.serial,
        guid=state.guid.hex(),
        persona=state.persona,
        uuid=state.uuid,
        pin=_record(state.pin),
        puk=_record(state.puk),
        admin_key=AdminKeyRecord(algorithm=state.admin_algorithm, key=state.admin_key.hex()),  # type: ignore[arg-type]
        keys={
            f"{slot:02x}": SlotKeyRecord(algorithm=key.algorithm, pem=key.to_pem().decode())  # type: ignore[misc, arg-type]
            for slot, key in sorted(state.keys.items())
        },
        objects={f"{tag:x}": value.hex() for tag, value in sorted(state.objects.items())},
        faults=sorted(state.faults),
        extra=state.extra,
    )
    return record.model_dump_json(indent=2).encode() + b"\n"


def loads(data: bytes, source: str = "card file") -> CardState:
    """Parse and check a card file; errors name the field and the reason."""
    try:
        record = CardRecord.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise CardFileError(f"{source}: {where}: {first['msg']}") from None
    admin_key = bytes.fromhex(record.admin_key.key)
    if len(admin_key) != SYMMETRIC_ALGS[Alg(record.admin_key.algorithm)]:
        raise CardFileError(f"{source}: admin_key.key: wrong length for its algorithm")
    keys: dict[KeyRef, SlotKey] = {}
    for slot_name, key_record in record.keys.items():
        slot = KeyRef(int(slot_name, 16))
        assert slot in ASYMMETRIC_SLOTS  # noqa: S101 - guaranteed by the Literal above
        try:
            keys[slot] = SlotKey.from_pem(Alg(key_record.algorithm), key_record.pem.encode())
        except ValueError as exc:
            raise CardFileError(f"{source}: keys.{slot_name}.pem: {exc}") from None
    return CardState(
        series=record.series,
        serial=record.serial,
        guid=bytes.fromhex(record.guid),
        pin=_reference(record.pin),
        puk=_reference(record.puk),
        admin_algorithm=Alg(record.admin_key.algorithm),
        admin_key=admin_key,
        keys=keys,
        objects={int(tag, 16): bytes.fromhex(value) for tag, value in record.objects.items()},
        faults=frozenset(record.faults),
        persona=record.persona,
        uuid=record.uuid,
        extra=dict(record.extra),
    )
