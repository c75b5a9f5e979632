"""Card series (8, 9, 10): ATR, label and algorithm set of each, with the NHS PIN rules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Literal

from simulator.piv.constants import Alg, KeyRef

Series = Literal[8, 9, 10]

NHS_PIN_TRIES = 3
DEFAULT_PUK_TRIES = 3
MAX_PUK_TRIES = 10


def contact_atr(historical: bytes) -> bytes:
    """A contact-card ATR announcing T=1 (not the `3B 8x 80 01` form OpenSC takes for contactless).

    TS=3B, T0 announces TA1 TB1 TC1 TD1 and the historical bytes; TD1=81 and TD2=31 say T=1
    with TA3 (IFSC FE) and TB3 (BWI/CWI 45); TCK closes it because T=1 is announced.
    """
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes((0xF0 | len(historical), 0x18, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x45)) + historical
    tck = reduce(lambda a, b: a ^ b, body, 0)
    return b"\x3b" + body + bytes((tck,))


@dataclass(frozen=True)
class CardProfile:
    series: Series
    atr: bytes
    label: str
    slot_algorithms: dict[KeyRef, Alg]
    admin_algorithm: Alg
    generation_algorithms: frozenset[Alg]
    version: bytes  # answer to the Yubico-style GET VERSION

    @property
    def supported_algorithms(self) -> list[Alg]:
        """What the SELECT answer announces in its AC template."""
        algs = {self.admin_algorithm, *self.generation_algorithms, *self.slot_algorithms.values()}
        return sorted(algs)


_RSA = Alg.RSA2048
_EC = Alg.ECC_P256

PROFILES: dict[int, CardProfile] = {
    8: CardProfile(
        series=8,
        atr=contact_atr(b"NHSCID-S8"),
        label="NHS Care Identity Series 8",
        slot_algorithms={
            KeyRef.AUTHENTICATION: _RSA,
            KeyRef.SIGNATURE: _RSA,
            KeyRef.KEY_MANAGEMENT: _RSA,
            KeyRef.CARD_AUTHENTICATION: _RSA,
        },
        admin_algorithm=Alg.TDES,
        generation_algorithms=frozenset({_RSA}),
        version=bytes((1, 0, 8)),
    ),
    9: CardProfile(
        series=9,
        atr=contact_atr(b"NHSCID-S9"),
        label="NHS Care Identity Series 9 PIV",
        slot_algorithms={
            KeyRef.AUTHENTICATION: _RSA,
            KeyRef.SIGNATURE: _RSA,
            KeyRef.KEY_MANAGEMENT: _RSA,
            KeyRef.CARD_AUTHENTICATION: _EC,
        },
        admin_algorithm=Alg.AES128,
        generation_algorithms=frozenset({_RSA, _EC}),
        version=bytes((1, 0, 9)),
    ),
    10: CardProfile(
        series=10,
        atr=contact_atr(b"NHSCIDS10"),
        label="NHS Care Identity Series 10 PIV",
        slot_algorithms={
            KeyRef.AUTHENTICATION: _EC,
            KeyRef.SIGNATURE: _EC,
            KeyRef.KEY_MANAGEMENT: _EC,
            KeyRef.CARD_AUTHENTICATION: _EC,
        },
        admin_algorithm=Alg.AES256,
        generation_algorithms=frozenset({_RSA, _EC, Alg.ECC_P384}),
        version=bytes((1, 0, 10)),
    ),
}


def profile_for_series(series: int) -> CardProfile:
    try:
        return PROFILES[series]
    except KeyError:
        raise ValueError(f"unknown card series {series}; known: 8, 9, 10") from None
