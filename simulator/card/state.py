"""What a card holds: identity, secrets, keys, data objects and fault modes."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from simulator.card.crypto import SlotKey
from simulator.card.faults import Fault
from simulator.card.reference_data import ReferenceData
from simulator.piv.constants import Alg, KeyRef


@dataclass
class CardState:
    """The durable part of a card: exactly what its card file stores."""

    series: int
    serial: str
    guid: bytes
    pin: ReferenceData
    puk: ReferenceData
    admin_algorithm: Alg
    admin_key: bytes
    keys: dict[KeyRef, SlotKey]
    # Object ID → content: the value inside tag 53 (for Discovery, the value inside tag 7E).
    objects: dict[int, bytes]
    faults: frozenset[Fault] = frozenset()
    persona: str | None = None
    uuid: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def fresh_copy(self) -> CardState:
        """Another card with this one's contents and its own counters and objects.

        Keys are shared: they never change in place (GENERATE replaces a slot's key).
        """
        return replace(
            self,
            pin=copy.copy(self.pin),
            puk=copy.copy(self.puk),
            keys=dict(self.keys),
            objects=dict(self.objects),
        )

    @property
    def terminated(self) -> bool:
        """PIN and PUK both blocked: nothing but a new card helps (SELECT warns with 62 83)."""
        return self.pin.blocked and self.puk.blocked
