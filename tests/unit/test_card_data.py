"""GET DATA, PUT DATA, GENERATE ASYMMETRIC KEY PAIR and the card management key (9B)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.card.card import VirtualCard
from simulator.card.crypto import encrypt_block
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import find, iter_tlv, tlv
from simulator.piv.constants import BLOCK_SIZE, Alg, KeyRef, ObjectTag
from tests.cards import raw, send, verify
from tests.conftest import NAME, UUID
from tests.unit.test_card_auth import general_authenticate, response_of, template


def get_data(card: VirtualCard, tag: int) -> tuple[bytes, int]:
    identifier = tag.to_bytes(1 if tag == 0x7E else 3, "big")
    answer, sw = send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, identifier), le=256)
    while sw & 0xFF00 == 0x6100:
        more, sw = send(card, 0xC0, le=sw & 0xFF or 256)
        answer += more
    return answer, sw


def content(answer: bytes) -> list[tuple[int, bytes]]:
    ((tag, value),) = iter_tlv(answer)
    assert tag == 0x53
    return list(iter_tlv(value))


def admin_authenticate(card: VirtualCard, key: bytes | None = None) -> int:
    """Mutual authentication with the card management key, as issuing tools do it."""
    alg = card.state.admin_algorithm
    key = key or card.state.admin_key
    answer, sw = general_authenticate(card, alg, 0x9B, template((0x80, b"")))
    assert sw == SW.SUCCESS
    ((_, inner),) = iter_tlv(answer)
    encrypted_witness = find(iter_tlv(inner), 0x80) or b""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher = TripleDES(key) if alg == Alg.TDES else algorithms.AES(key)
    decryptor = Cipher(cipher, modes.ECB()).decryptor()  # noqa: S305
    witness = decryptor.update(encrypted_witness) + decryptor.finalize()
    challenge = bytes(range(BLOCK_SIZE[alg]))
    answer, sw = general_authenticate(card, alg, 0x9B, template((0x80, witness), (0x81, challenge)))
    if sw == SW.SUCCESS:
        assert response_of(answer) == encrypt_block(alg, key, challenge)
    return sw


def test_discovery_object_is_bare_7e(card: VirtualCard) -> None:
    answer, sw = get_data(card, ObjectTag.DISCOVERY)
    assert sw == SW.SUCCESS
    assert answer == bytes.fromhex("7E124F0BA0000003080000100001005F2F024000")


def test_chuid_has_unique_guid_and_expiry(card: VirtualCard) -> None:
    answer, sw = get_data(card, ObjectTag.CHUID)
    assert sw == SW.SUCCESS
    items = content(answer)
    assert find(items, 0x34) == card.state.guid
    assert len(find(items, 0x30) or b"") == 25
    expiry = dt.datetime.strptime((find(items, 0x35) or b"").decode(), "%Y%m%d").date()
    assert expiry > dt.date.today()
    assert find(items, 0x3E)  # the issuer's signature
    assert [tag for tag, _ in items][-1] == 0xFE


def test_each_card_has_its_own_serial_and_guid(issued_cards: dict[int, object]) -> None:
    from simulator.card.factory import blank_card_state

    first = blank_card_state(8, "123456", "12345678", keys={})
    second = blank_card_state(8, "123456", "12345678", keys={})
    assert first.serial != second.serial and first.guid != second.guid
    assert first.objects[ObjectTag.CCC] != second.objects[ObjectTag.CCC]


@pytest.mark.parametrize(
    ("tag", "slot"),
    [
        (ObjectTag.AUTH_CERT, KeyRef.AUTHENTICATION),
        (ObjectTag.SIGNATURE_CERT, KeyRef.SIGNATURE),
        (ObjectTag.KEY_MANAGEMENT_CERT, KeyRef.KEY_MANAGEMENT),
        (ObjectTag.CARD_AUTH_CERT, KeyRef.CARD_AUTHENTICATION),
    ],
)
def test_certificate_objects_match_their_keys(card: VirtualCard, tag: int, slot: KeyRef) -> None:
    from cryptography import x509

    answer, sw = get_data(card, tag)
    assert sw == SW.SUCCESS
    items = content(answer)
    assert find(items, 0x71) == b"\x00" and find(items, 0xFE) == b""
    cert = x509.load_der_x509_certificate(find(items, 0x70) or b"")
    assert cert.public_key() == card.state.keys[slot].private_key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == UUID
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAME


def test_ccc(card: VirtualCard) -> None:
    answer, sw = get_data(card, ObjectTag.CCC)
    assert sw == SW.SUCCESS
    items = content(answer)
    assert len(find(items, 0xF0) or b"") == 21
    assert find(items, 0xF1) == b"\x21"


def test_printed_information_needs_the_pin(card: VirtualCard) -> None:
    assert get_data(card, ObjectTag.PRINTED_INFORMATION)[1] == SW.SECURITY_STATUS_NOT_SATISFIED
    assert verify(card) == SW.SUCCESS
    answer, sw = get_data(card, ObjectTag.PRINTED_INFORMATION)
    assert sw == SW.SUCCESS
    items = content(answer)
    assert find(items, 0x01) == NAME.encode()
    assert find(items, 0x02) == UUID.encode()


def test_missing_object_is_6a82(card: VirtualCard) -> None:
    assert get_data(card, 0x5FC108)[1] == SW.NOT_FOUND
    assert get_data(card, ObjectTag.KEY_HISTORY)[1] == SW.NOT_FOUND


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("00 CB 3F FE 05 5C 03 5F C1 02 00", SW.INCORRECT_P1P2),
        ("00 CB 00 00 05 5C 03 5F C1 02 00", SW.INCORRECT_P1P2),
        ("00 CB 3F FF 05 5D 03 5F C1 02 00", SW.INCORRECT_DATA),
        ("00 CB 3F FF 04 5C 02 C1 02 00", SW.INCORRECT_DATA),
        ("00 CB 3F FF 05 5C 04 5F C1 02 00", SW.INCORRECT_DATA),
        ("00 CB 3F FF 00", SW.INCORRECT_DATA),
    ],
)
def test_malformed_get_data(card: VirtualCard, apdu: str, expected: int) -> None:
    assert raw(card, apdu)[1] == expected


def test_put_data_needs_the_admin_key(card: VirtualCard) -> None:
    data = tlv(0x5C, b"\x5f\xc1\x09") + tlv(0x53, b"\x01\x03abc")
    assert send(card, 0xDB, 0x3F, 0xFF, data)[1] == SW.SECURITY_STATUS_NOT_SATISFIED


def test_admin_key_with_the_wrong_key_fails(card: VirtualCard) -> None:
    wrong = bytes(len(card.state.admin_key))
    assert admin_authenticate(card, wrong) == SW.SECURITY_STATUS_NOT_SATISFIED
    assert not card.piv.admin_authenticated


@pytest.mark.parametrize("series", [8, 9, 10])
def test_admin_external_authentication(issued_cards: dict[int, object], series: int) -> None:
    from simulator.card.state import CardState
    from tests.cards import clone

    state = issued_cards[series]
    assert isinstance(state, CardState)
    card = VirtualCard(clone(state))
    alg = card.state.admin_algorithm
    answer, sw = general_authenticate(card, alg, 0x9B, template((0x81, b"")))
    assert sw == SW.SUCCESS
    ((_, inner),) = iter_tlv(answer)
    challenge = find(iter_tlv(inner), 0x81) or b""
    assert len(challenge) == BLOCK_SIZE[alg]
    response = encrypt_block(alg, card.state.admin_key, challenge)
    assert general_authenticate(card, alg, 0x9B, template((0x82, response)))[1] == SW.SUCCESS
    assert card.piv.admin_authenticated
    # The challenge is single-use.
    assert general_authenticate(card, alg, 0x9B, template((0x82, response)))[1] == (
        SW.SECURITY_STATUS_NOT_SATISFIED
    )


def test_put_data_writes_replaces_and_deletes(card: VirtualCard) -> None:
    changes: list[int] = []
    card.piv._on_change = lambda: changes.append(1)
    assert admin_authenticate(card) == SW.SUCCESS
    value = bytes(range(200)) * 3
    data = tlv(0x5C, b"\x5f\xc1\x08") + tlv(0x53, value)
    assert send(card, 0xDB, 0x3F, 0xFF, data)[1] == SW.SUCCESS
    assert changes
    answer, sw = get_data(card, 0x5FC108)
    assert sw == SW.SUCCESS and answer == tlv(0x53, value)
    assert send(card, 0xDB, 0x3F, 0xFF, tlv(0x5C, b"\x5f\xc1\x08") + tlv(0x53, b""))[1] == (
        SW.SUCCESS
    )
    assert get_data(card, 0x5FC108)[1] == SW.NOT_FOUND


def test_put_data_errors(card: VirtualCard) -> None:
    assert admin_authenticate(card) == SW.SUCCESS
    too_big = tlv(0x5C, b"\x5f\xc1\x08") + tlv(0x53, bytes(9000))
    assert send(card, 0xDB, 0x3F, 0xFF, too_big)[1] == SW.NOT_ENOUGH_MEMORY
    unknown = tlv(0x5C, b"\x5f\xc2\x01") + tlv(0x53, b"x")
    assert send(card, 0xDB, 0x3F, 0xFF, unknown)[1] == SW.INCORRECT_DATA
    assert send(card, 0xDB, 0x3F, 0xFE, tlv(0x5C, b"\x7e"))[1] == SW.INCORRECT_P1P2
    assert send(card, 0xDB, 0x3F, 0xFF, tlv(0x5C, b"\x7e"))[1] == SW.INCORRECT_DATA


def test_generate_key_pair_then_sign_with_the_new_key(card: VirtualCard) -> None:
    request = tlv(0xAC, tlv(0x80, bytes([Alg.ECC_P256])))
    assert send(card, 0x47, 0x00, 0x9A, request, le=256)[1] == SW.SECURITY_STATUS_NOT_SATISFIED
    assert admin_authenticate(card) == SW.SUCCESS
    answer, sw = send(card, 0x47, 0x00, 0x9A, request, le=256)
    assert sw == SW.SUCCESS
    ((tag, inner),) = iter_tlv(answer)
    point = find(iter_tlv(inner), 0x86) or b""
    assert tag == 0x7F49 and len(point) == 65
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    import hashlib

    assert verify(card) == SW.SUCCESS
    digest = hashlib.sha256(b"new key").digest()
    signed, sw = general_authenticate(
        card, Alg.ECC_P256, 0x9A, template((0x82, b""), (0x81, digest))
    )
    assert sw == SW.SUCCESS
    public.verify(response_of(signed), b"new key", ec.ECDSA(hashes.SHA256()))


def test_generate_errors(card: VirtualCard) -> None:
    assert admin_authenticate(card) == SW.SUCCESS
    p384 = tlv(0xAC, tlv(0x80, bytes([Alg.ECC_P384])))  # series 9 does not generate P-384
    assert send(card, 0x47, 0x00, 0x9A, p384, le=256)[1] == SW.INCORRECT_DATA
    p256 = tlv(0xAC, tlv(0x80, bytes([Alg.ECC_P256])))
    assert send(card, 0x47, 0x00, 0x9B, p256, le=256)[1] == SW.INCORRECT_P1P2
    assert send(card, 0x47, 0x01, 0x9A, p256, le=256)[1] == SW.INCORRECT_P1P2
    assert send(card, 0x47, 0x00, 0x9A, tlv(0xAC, b""), le=256)[1] == SW.INCORRECT_DATA
