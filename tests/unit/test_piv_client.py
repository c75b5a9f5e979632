"""The PIV client over the in-process connection: the same calls the agent and suites make."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.card.card import VirtualCard
from simulator.card.state import CardState
from simulator.iso7816.sw import PinVerifyError, StatusError
from simulator.piv.client import PivClient
from simulator.piv.constants import Alg, KeyRef
from simulator.reader.connection import InProcessConnection
from tests.cards import PIN, WRONG_PIN, clone
from tests.conftest import NAME, UUID


@pytest.fixture
def client(issued_cards: dict[int, CardState]) -> PivClient:
    return PivClient(InProcessConnection(VirtualCard(clone(issued_cards[10]))))


def test_identity_reads_who_the_card_is(client: PivClient) -> None:
    identity = client.identity()
    assert identity.uuid == UUID and identity.name == NAME
    assert "Series 10" in identity.label
    assert identity.guid is not None and len(identity.guid) == 32
    assert identity.pin_tries_left == 3
    assert set(identity.certificates) == {
        KeyRef.AUTHENTICATION, KeyRef.SIGNATURE, KeyRef.KEY_MANAGEMENT, KeyRef.CARD_AUTHENTICATION
    }  # fmt: skip


def test_verify_and_sign(client: PivClient) -> None:
    with pytest.raises(PinVerifyError) as wrong:
        client.verify_pin(WRONG_PIN)
    assert wrong.value.tries_left == 2
    client.verify_pin(PIN)
    assert client.pin_tries_left() is None
    digest = hashlib.sha256(b"challenge").digest()
    signature = client.sign(KeyRef.AUTHENTICATION, Alg.ECC_P256, digest)
    public = client.certificate(KeyRef.AUTHENTICATION).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"challenge", ec.ECDSA(hashes.SHA256()))


def test_errors_carry_the_status_word(client: PivClient) -> None:
    with pytest.raises(StatusError) as missing:
        client.read_object(0x5FC108)
    assert missing.value.sw == 0x6A82
