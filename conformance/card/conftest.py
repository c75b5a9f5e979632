"""Fixtures of the card suite, on top of the careid plugin's `card_connection`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509

from simulator.iso7816.sw import StatusError
from simulator.piv.client import PivClient
from simulator.piv.constants import KeyRef
from simulator.reader.connection import CardConnection


@pytest.fixture
def piv(card_connection: CardConnection) -> PivClient:
    """A PIV client on this test's card, with the PIV application selected."""
    client = PivClient(card_connection)
    client.select()
    return client


@pytest.fixture
def certificate(piv: PivClient) -> Callable[[KeyRef], x509.Certificate]:
    """`certificate(KeyRef.X)`: the certificate of a key slot; skips when the card has none."""

    def read(slot: KeyRef) -> x509.Certificate:
        try:
            return piv.certificate(slot)
        except StatusError as exc:
            pytest.skip(f"the card has no certificate for key {slot:02X}: {exc}")

    return read
