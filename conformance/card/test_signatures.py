"""GENERAL AUTHENTICATE: signatures checked against the certificates, key operations, errors."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from conformance.card.helpers import (
    algorithm_of,
    apdu,
    check_signature,
    check_sw,
    general_authenticate,
    response_value,
    send,
    sign,
    signature_input,
    verify,
)
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import find, iter_tlv, tlv
from simulator.piv.constants import TAG_EXPONENTIATION, Alg, Ins, KeyRef
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
Certificate = Callable[[KeyRef], x509.Certificate]


def _signs(conn: CardConnection, certificate: x509.Certificate, key: KeyRef, what: str) -> None:
    message = b"careid challenge " + os.urandom(16)
    signature, sw = sign(conn, certificate, key, message)
    check_sw(sw, SW.SUCCESS, what=what)
    assert signature, f"{what}: no signature (82) in the answer"
    check_signature(certificate, message, signature)


@requirement("CARD-SIGN-001", expected="90 00, 7C { 82 sig }, sig verifies with the 9A certificate")
def test_sign_authentication_key(
    card_connection: CardConnection, certificate: Certificate, card_pin: str
) -> None:
    """Key 9A signs a sign-in challenge after VERIFY."""
    cert = certificate(KeyRef.AUTHENTICATION)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    _signs(card_connection, cert, KeyRef.AUTHENTICATION, "GENERAL AUTHENTICATE 9A")


@requirement("CARD-SIGN-002", expected="90 00, sig verifies with the 9C certificate")
def test_sign_digital_signature_key(
    card_connection: CardConnection, certificate: Certificate, card_pin: str
) -> None:
    """Key 9C signs after VERIFY."""
    cert = certificate(KeyRef.SIGNATURE)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    _signs(card_connection, cert, KeyRef.SIGNATURE, "GENERAL AUTHENTICATE 9C")


@requirement("CARD-SIGN-003", expected="90 00 without a PIN, sig verifies with the 9E certificate")
def test_sign_card_authentication_key(
    card_connection: CardConnection, certificate: Certificate
) -> None:
    """Key 9E signs without a PIN."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    _signs(card_connection, cert, KeyRef.CARD_AUTHENTICATION, "GENERAL AUTHENTICATE 9E")


@requirement("CARD-SIGN-004", expected="RSA: 00 02 ... 00 <secret>; EC: the shared secret")
def test_key_management_key(
    card_connection: CardConnection, certificate: Certificate, card_pin: str
) -> None:
    """Key 9D decrypts or agrees a key consistently with its certificate."""
    cert = certificate(KeyRef.KEY_MANAGEMENT)
    key = cert.public_key()
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    algorithm = algorithm_of(key)
    if isinstance(key, rsa.RSAPublicKey):
        secret = os.urandom(32)
        ciphertext = key.encrypt(secret, padding.PKCS1v15())
        answer, sw = general_authenticate(
            card_connection, algorithm, KeyRef.KEY_MANAGEMENT, ciphertext
        )
        check_sw(sw, SW.SUCCESS, what="GENERAL AUTHENTICATE 9D (decrypt)")
        block = response_value(answer) or b""
        assert block[:2] == b"\x00\x02", "the decrypted block is not PKCS#1 v1.5 type 2"
        assert block.endswith(b"\x00" + secret), "the decrypted block does not end with the secret"
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        ours = ec.generate_private_key(key.curve)
        point = ours.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        answer, sw = general_authenticate(
            card_connection, algorithm, KeyRef.KEY_MANAGEMENT, point, tag=TAG_EXPONENTIATION
        )
        check_sw(sw, SW.SUCCESS, what="GENERAL AUTHENTICATE 9D (ECDH)")
        assert response_value(answer) == ours.exchange(ec.ECDH(), key), "shared secrets differ"


@requirement("CARD-SIGN-005", expected="6A 86")
def test_algorithm_mismatch(card_connection: CardConnection, certificate: Certificate) -> None:
    """An algorithm that does not match the key is refused."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    actual = algorithm_of(cert.public_key())
    other = Alg.RSA2048 if actual != Alg.RSA2048 else Alg.ECC_P256
    block = signature_input(cert, b"mismatch")
    _, sw = general_authenticate(card_connection, other, KeyRef.CARD_AUTHENTICATION, block)
    check_sw(sw, SW.INCORRECT_P1P2, what=f"GENERAL AUTHENTICATE 9E with algorithm {other:02X}")


@requirement("CARD-SIGN-006", expected="6A 86 or 6A 88")
def test_unknown_key_reference(card_connection: CardConnection, certificate: Certificate) -> None:
    """A key reference the card does not have is refused."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    algorithm = algorithm_of(cert.public_key())
    _, sw = general_authenticate(card_connection, algorithm, 0x9F, signature_input(cert, b"x"))
    check_sw(sw, SW.INCORRECT_P1P2, SW.REFERENCE_NOT_FOUND, what="GENERAL AUTHENTICATE 9F")


@pytest.mark.parametrize("shape", ["no-82", "filled-82", "only-82"])
@requirement("CARD-SIGN-007", expected="6A 80")
def test_malformed_template(
    card_connection: CardConnection, certificate: Certificate, shape: str
) -> None:
    """A malformed dynamic authentication template is refused."""
    cert = certificate(KeyRef.CARD_AUTHENTICATION)
    block = signature_input(cert, b"malformed")
    body = {
        "no-82": tlv(0x81, block),
        "filled-82": tlv(0x82, b"\x00") + tlv(0x81, block),
        "only-82": tlv(0x82),
    }[shape]
    command = apdu(
        0x00,
        Ins.GENERAL_AUTHENTICATE,
        algorithm_of(cert.public_key()),
        KeyRef.CARD_AUTHENTICATION,
        tlv(0x7C, body),
        256,
    )
    check_sw(send(card_connection, command)[1], SW.INCORRECT_DATA, what=f"template {shape}")


@requirement("CARD-SIGN-008", expected="7C { 81 <8+ bytes> } twice, different")
def test_random_number(card_connection: CardConnection) -> None:
    """Algorithm 00 with key 9B answers random bytes."""
    answers = []
    for _ in range(2):
        command = apdu(
            0x00,
            Ins.GENERAL_AUTHENTICATE,
            0x00,
            KeyRef.CARD_MANAGEMENT,
            bytes.fromhex("7C028100"),
            256,
        )
        answer, sw = send(card_connection, command)
        check_sw(sw, SW.SUCCESS, what="GENERAL AUTHENTICATE 00 9B (random)")
        inner = find(iter_tlv(answer), 0x7C) or b""
        value = find(iter_tlv(inner), 0x81)
        assert value is not None and len(value) >= 8, f"no random bytes in {answer.hex(' ')}"
        answers.append(value)
    assert answers[0] != answers[1], "the card answered the same random bytes twice"
