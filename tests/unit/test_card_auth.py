"""GENERAL AUTHENTICATE: signatures on 9A/9C/9E, decryption and key agreement on 9D, 9B, random."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.card.card import VirtualCard
from simulator.card.report import certificate_in
from simulator.card.state import CardState
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import find, iter_tlv, tlv
from simulator.piv.constants import Alg, KeyRef
from tests.cards import clone, send, verify

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def pkcs1_block(message: bytes, size: int = 256) -> bytes:
    info = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    return b"\x00\x01" + b"\xff" * (size - 3 - len(info)) + b"\x00" + info


def template(*items: tuple[int, bytes]) -> bytes:
    return tlv(0x7C, b"".join(tlv(tag, value) for tag, value in items))


def rsa_sign_command_data(message: bytes) -> bytes:
    return template((0x82, b""), (0x81, pkcs1_block(message)))


def general_authenticate(card: VirtualCard, alg: int, key: int, data: bytes) -> tuple[bytes, int]:
    answer, sw = send(card, 0x87, alg, key, data, le=256)
    while sw & 0xFF00 == 0x6100:
        more, sw = send(card, 0xC0, le=sw & 0xFF or 256)
        answer += more
    return answer, sw


def response_of(answer: bytes) -> bytes:
    ((tag, inner),) = iter_tlv(answer)
    assert tag == 0x7C
    value = find(iter_tlv(inner), 0x82)
    assert value is not None
    return value


def certificate(card: VirtualCard, slot: KeyRef) -> x509.Certificate:
    cert = certificate_in(card.state, slot)
    assert cert is not None
    return cert


def test_rsa_signature_on_9a_verifies_against_the_certificate(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    answer, sw = general_authenticate(card, Alg.RSA2048, 0x9A, rsa_sign_command_data(b"hello"))
    assert sw == SW.SUCCESS
    public = certificate(card, KeyRef.AUTHENTICATION).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(response_of(answer), b"hello", padding.PKCS1v15(), hashes.SHA256())


def test_rsa_raw_block_without_digest_info_is_the_raw_private_operation(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    block = b"\x00" + bytes(range(1, 256))
    answer, sw = general_authenticate(card, Alg.RSA2048, 0x9A, template((0x82, b""), (0x81, block)))
    assert sw == SW.SUCCESS
    public = certificate(card, KeyRef.AUTHENTICATION).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    numbers = public.public_numbers()
    signature = int.from_bytes(response_of(answer), "big")
    assert pow(signature, numbers.e, numbers.n).to_bytes(256, "big") == block


def test_9a_needs_the_pin(card: VirtualCard) -> None:
    data = rsa_sign_command_data(b"x")
    assert (
        general_authenticate(card, Alg.RSA2048, 0x9A, data)[1] == SW.SECURITY_STATUS_NOT_SATISFIED
    )


def test_p256_signature_on_9e_needs_no_pin(card: VirtualCard) -> None:
    digest = hashlib.sha256(b"card auth").digest()
    answer, sw = general_authenticate(
        card, Alg.ECC_P256, 0x9E, template((0x82, b""), (0x81, digest))
    )
    assert sw == SW.SUCCESS
    public = certificate(card, KeyRef.CARD_AUTHENTICATION).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(response_of(answer), b"card auth", ec.ECDSA(hashes.SHA256()))


def test_p256_signature_on_9a_of_a_series_10_card(issued_cards: dict[int, CardState]) -> None:
    card = VirtualCard(clone(issued_cards[10]))
    assert verify(card) == SW.SUCCESS
    digest = hashlib.sha256(b"sign in").digest()
    answer, sw = general_authenticate(
        card, Alg.ECC_P256, 0x9A, template((0x82, b""), (0x81, digest))
    )
    assert sw == SW.SUCCESS
    public = certificate(card, KeyRef.AUTHENTICATION).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(response_of(answer), b"sign in", ec.ECDSA(hashes.SHA256()))


def test_9c_pin_always_each_signature_consumes_the_verify(card: VirtualCard) -> None:
    data = rsa_sign_command_data(b"document")
    assert verify(card) == SW.SUCCESS
    assert general_authenticate(card, Alg.RSA2048, 0x9C, data)[1] == SW.SUCCESS
    assert general_authenticate(card, Alg.RSA2048, 0x9C, data)[1] == (
        SW.SECURITY_STATUS_NOT_SATISFIED
    )
    assert general_authenticate(card, Alg.RSA2048, 0x9A, data)[1] == SW.SUCCESS  # 9A is still open
    assert verify(card) == SW.SUCCESS
    assert general_authenticate(card, Alg.RSA2048, 0x9C, data)[1] == SW.SUCCESS


def test_9d_rsa_decrypts(card: VirtualCard) -> None:
    public = certificate(card, KeyRef.KEY_MANAGEMENT).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    ciphertext = public.encrypt(b"session key", padding.PKCS1v15())
    assert verify(card) == SW.SUCCESS
    answer, sw = general_authenticate(
        card, Alg.RSA2048, 0x9D, template((0x82, b""), (0x81, ciphertext))
    )
    assert sw == SW.SUCCESS
    block = response_of(answer)
    assert block[:2] == b"\x00\x02" and block.endswith(b"\x00session key")


def test_9d_ecdh_agrees_the_same_secret(issued_cards: dict[int, CardState]) -> None:
    card = VirtualCard(clone(issued_cards[10]))
    peer = ec.generate_private_key(ec.SECP256R1())
    point = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert verify(card) == SW.SUCCESS
    answer, sw = general_authenticate(
        card, Alg.ECC_P256, 0x9D, template((0x82, b""), (0x85, point))
    )
    assert sw == SW.SUCCESS
    public = certificate(card, KeyRef.KEY_MANAGEMENT).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert response_of(answer) == peer.exchange(ec.ECDH(), public)


@pytest.mark.parametrize(
    ("alg", "key", "data", "expected"),
    [
        (Alg.ECC_P256, 0x9A, rsa_sign_command_data(b"x"), SW.INCORRECT_P1P2),  # wrong algorithm
        (Alg.RSA2048, 0x95, rsa_sign_command_data(b"x"), SW.INCORRECT_P1P2),  # retired slot
        (Alg.RSA2048, 0x80, rsa_sign_command_data(b"x"), SW.INCORRECT_P1P2),  # the PIN
        (Alg.RSA2048, 0x9A, template((0x82, b""), (0x81, b"short")), SW.INCORRECT_DATA),
        (Alg.RSA2048, 0x9A, template((0x81, pkcs1_block(b"x"))), SW.INCORRECT_DATA),  # no 82
        (Alg.RSA2048, 0x9A, template((0x82, b""), (0x81, b"\xff" * 256)), SW.INCORRECT_DATA),
        (Alg.RSA2048, 0x9A, b"\x7c\x05\x82\x00", SW.INCORRECT_DATA),  # malformed TLV
        (Alg.RSA2048, 0x9A, tlv(0x7D, b""), SW.INCORRECT_DATA),
        (Alg.RSA2048, 0x9A, template((0x82, b"")), SW.INCORRECT_DATA),  # nothing to sign
    ],
)
def test_malformed_general_authenticate(
    card: VirtualCard, alg: int, key: int, data: bytes, expected: int
) -> None:
    assert verify(card) == SW.SUCCESS
    assert general_authenticate(card, alg, key, data)[1] == expected


def test_random_bytes_form(card: VirtualCard) -> None:
    first, sw = general_authenticate(card, 0x00, 0x9B, template((0x81, b"")))
    second, _ = general_authenticate(card, 0x00, 0x9B, template((0x81, b"")))
    assert sw == SW.SUCCESS
    ((tag, inner),) = iter_tlv(first)
    value = find(iter_tlv(inner), 0x81)
    assert tag == 0x7C and value is not None and len(value) == 8
    assert first != second
