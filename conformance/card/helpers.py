"""What the card tests share: APDU building, status-word checks, signature blocks.

Everything goes through the connection interface (`transmit`), or, for tests of framing
itself, through the transport's raw `exchange` with the connection's observers told, so the
transcript shows every byte either way.
"""

from __future__ import annotations

import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.sw import SW, describe, tries_left
from simulator.iso7816.tlv import find, iter_tlv, tlv
from simulator.piv.constants import (
    PIV_AID,
    TAG_CHALLENGE,
    TAG_DYN_AUTH,
    TAG_RESPONSE,
    Alg,
    Ins,
    KeyRef,
    pad_pin,
)
from simulator.reader.connection import CardConnection

# DER DigestInfo prefix of SHA-256 (RFC 8017 §9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    return CommandApdu(cla, ins, p1, p2, data, le).to_bytes()


def sw_name(sw: int) -> str:
    return f"{sw >> 8:02X} {sw & 0xFF:02X} ({describe(sw)})"


def check_sw(sw: int, *expected: int, what: str) -> None:
    """Assert the status word with a one-line message the report can show."""
    wanted = " or ".join(sw_name(e) for e in expected)
    assert sw in expected, f"{what}: expected {wanted}, got {sw_name(sw)}"


def send(connection: CardConnection, raw: bytes) -> tuple[bytes, int]:
    return connection.transmit(raw)


def exchange(connection: CardConnection, raw: bytes) -> tuple[bytes, int]:
    """One raw exchange below the framing (no GET RESPONSE, no chaining), still transcribed."""
    started = time.perf_counter()
    try:
        response = connection.transport.exchange(raw)
    except Exception as error:
        for observer in connection.observers:
            observer.exchanged(raw, None, time.perf_counter() - started, error)
        raise
    for observer in connection.observers:
        observer.exchanged(raw, response, time.perf_counter() - started, None)
    return response[:-2], int.from_bytes(response[-2:], "big")


def select_piv(connection: CardConnection, aid: bytes = PIV_AID) -> tuple[bytes, int]:
    return send(connection, apdu(0x00, Ins.SELECT, 0x04, 0x00, aid, 256))


def get_data(connection: CardConnection, tag: int) -> tuple[bytes, int]:
    identifier = tag.to_bytes(1 if tag == 0x7E else 3, "big")
    return send(connection, apdu(0x00, Ins.GET_DATA, 0x3F, 0xFF, tlv(0x5C, identifier), 256))


def verify(connection: CardConnection, pin: str) -> int:
    return send(connection, apdu(0x00, Ins.VERIFY, 0x00, KeyRef.PIN, pad_pin(pin)))[1]


def verify_field(connection: CardConnection, field: bytes) -> int:
    return send(connection, apdu(0x00, Ins.VERIFY, 0x00, KeyRef.PIN, field))[1]


def pin_status(connection: CardConnection) -> int:
    """The VERIFY status query (no data): 90 00 verified, else 63 CX."""
    return send(connection, bytes((0x00, Ins.VERIFY, 0x00, KeyRef.PIN)))[1]


tries = tries_left  # X of a 63 CX answer, None for any other status word


def unverify(connection: CardConnection) -> int:
    return send(connection, bytes((0x00, Ins.VERIFY, 0xFF, KeyRef.PIN)))[1]


def change_reference(connection: CardConnection, key: int, old: bytes, new: bytes) -> int:
    return send(connection, apdu(0x00, Ins.CHANGE_REFERENCE_DATA, 0x00, key, old + new))[1]


def reset_retry_counter(connection: CardConnection, puk: bytes, new_pin: bytes) -> int:
    data = puk + new_pin
    return send(connection, apdu(0x00, Ins.RESET_RETRY_COUNTER, 0x00, KeyRef.PIN, data))[1]


def wrong_pin(pin: str) -> str:
    """A well-formed PIN of the same length that is not `pin`."""
    return "".join(str((int(digit) + 1) % 10) for digit in pin)


def puk_field(puk: str) -> bytes:
    return puk.encode("ascii")


# --- keys and signatures -------------------------------------------------------------------------


def algorithm_of(key: Any) -> int:
    """The PIV algorithm identifier of a certificate's public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return {2048: Alg.RSA2048, 3072: Alg.RSA3072}[key.key_size]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": Alg.ECC_P256, "secp384r1": Alg.ECC_P384}[key.curve.name]
    raise TypeError(f"unsupported key type {type(key).__name__}")


def _hash_for(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()


def signature_input(certificate: x509.Certificate, message: bytes) -> bytes:
    """What the card signs for `message`: a PKCS#1 v1.5 block (RSA) or the hash (ECDSA)."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        digest = hashes.Hash(hashes.SHA256())
        digest.update(message)
        info = SHA256_DIGEST_INFO + digest.finalize()
        size = key.key_size // 8
        return b"\x00\x01" + b"\xff" * (size - len(info) - 3) + b"\x00" + info
    assert isinstance(key, ec.EllipticCurvePublicKey)
    digest = hashes.Hash(_hash_for(key))
    digest.update(message)
    return digest.finalize()


def check_signature(certificate: x509.Certificate, message: bytes, signature: bytes) -> None:
    """Raises InvalidSignature unless `signature` is the certificate key's over `message`."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, message, ec.ECDSA(_hash_for(key)))


def general_authenticate_data(block: bytes, *, tag: int = TAG_CHALLENGE) -> bytes:
    return tlv(TAG_DYN_AUTH, tlv(TAG_RESPONSE) + tlv(tag, block))


def general_authenticate(
    connection: CardConnection, algorithm: int, key: int, block: bytes, *, tag: int = TAG_CHALLENGE
) -> tuple[bytes, int]:
    data = general_authenticate_data(block, tag=tag)
    return send(connection, apdu(0x00, Ins.GENERAL_AUTHENTICATE, algorithm, key, data, 256))


def response_value(answer: bytes) -> bytes | None:
    """The 82 value inside a 7C answer, or None."""
    try:
        inner = find(iter_tlv(answer), TAG_DYN_AUTH)
        return None if inner is None else find(iter_tlv(inner), TAG_RESPONSE)
    except ValueError:
        return None


def sign(
    connection: CardConnection, certificate: x509.Certificate, key: int, message: bytes
) -> tuple[bytes | None, int]:
    """Have the card sign `message` with `key`; (signature or None, status word)."""
    algorithm = algorithm_of(certificate.public_key())
    answer, sw = general_authenticate(
        connection, algorithm, key, signature_input(certificate, message)
    )
    return (response_value(answer) if sw == SW.SUCCESS else None), sw


def public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
