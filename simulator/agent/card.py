"""What the agent reads from a card and how it has the card sign: PIV over any connection."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from simulator.agent.protocol import SignAlgorithm
from simulator.iso7816.sw import SW, StatusError
from simulator.iso7816.tlv import find, iter_tlv
from simulator.piv.client import Connection, PivClient
from simulator.piv.constants import Alg, KeyRef, ObjectTag

# DER DigestInfo prefix of SHA-256 (RFC 8017 §9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_GSC_CARD_ID_PREFIX = bytes.fromhex("A000000116FF02")


@dataclass(frozen=True)
class CardInfo:
    """Who the card says it is: enough for the status, the dialog and the signature."""

    uuid: str | None = None
    name: str | None = None
    serial: str | None = None
    label: str | None = None
    certificate: bytes | None = None  # DER of the PIV Authentication (9A) certificate
    algorithm: SignAlgorithm | None = None
    key_algorithm: int | None = None  # the PIV algorithm identifier of key 9A
    key_size: int = 0  # RSA modulus bytes (RSA only)

    def to_json(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name, "serial": self.serial, "label": self.label}


def _serial(client: PivClient) -> str | None:
    """careid cards carry their number in the CCC card identifier; others: the whole id."""
    try:
        identifier = find(iter_tlv(client.read_object(ObjectTag.CCC)), 0xF0)
    except (StatusError, ValueError):
        return None
    if not identifier:
        return None
    digits = identifier[7:12].hex()
    if identifier[:7] == _GSC_CARD_ID_PREFIX and digits.isdigit():
        return digits
    return identifier.hex().upper()


def read_card(connection: Connection) -> CardInfo:
    """SELECT PIV and read the label, the 9A certificate and the card number (read-only)."""
    client = PivClient(connection)
    label = (find(client.select(), 0x50) or b"").decode("ascii", "replace") or None
    try:
        certificate = client.certificate(KeyRef.AUTHENTICATION)
    except (StatusError, ValueError):
        return CardInfo(label=label, serial=_serial(client))
    serials = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    key = certificate.public_key()
    algorithm: SignAlgorithm | None = None
    key_algorithm: int | None = None
    size = 0
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in (2048, 3072):
        algorithm = SignAlgorithm.RSA_PKCS1_SHA256
        key_algorithm = Alg.RSA2048 if key.key_size == 2048 else Alg.RSA3072
        size = key.key_size // 8
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        algorithm = SignAlgorithm.ECDSA_P256_SHA256
        key_algorithm = Alg.ECC_P256
    return CardInfo(
        uuid=str(serials[0].value) if serials else None,
        name=str(names[0].value) if names else None,
        serial=_serial(client),
        label=label,
        certificate=certificate.public_bytes(serialization.Encoding.DER),
        algorithm=algorithm,
        key_algorithm=key_algorithm,
        key_size=size,
    )


def signature_block(info: CardInfo, message: bytes) -> bytes:
    """What the card's raw key operation gets: a PKCS#1 v1.5 block (RSA) or the hash (ECDSA)."""
    digest = hashlib.sha256(message).digest()
    if info.algorithm is SignAlgorithm.RSA_PKCS1_SHA256:
        payload = SHA256_DIGEST_INFO + digest
        return b"\x00\x01" + b"\xff" * (info.key_size - len(payload) - 3) + b"\x00" + payload
    if info.algorithm is SignAlgorithm.ECDSA_P256_SHA256:
        return digest
    raise StatusError(SW.FUNCTION_NOT_SUPPORTED, "the card's 9A key cannot sign sign-in messages")


def card_sign(connection: Connection, info: CardInfo, message: bytes) -> bytes:
    """GENERAL AUTHENTICATE with key 9A over `message` (the PIN must be verified)."""
    if info.key_algorithm is None:
        raise StatusError(SW.FUNCTION_NOT_SUPPORTED, "the card's 9A key is not RSA or P-256")
    return PivClient(connection).sign(
        KeyRef.AUTHENTICATION, info.key_algorithm, signature_block(info, message)
    )


def load_certificate(info: CardInfo) -> x509.Certificate | None:
    return None if info.certificate is None else x509.load_der_x509_certificate(info.certificate)
