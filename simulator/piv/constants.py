"""PIV identifiers: application, instructions, key references, algorithms, data objects."""

from __future__ import annotations

from enum import IntEnum

PIV_AID = bytes.fromhex("A000000308000010000100")
PIV_RID = PIV_AID[:5]
PIV_PIX_WITH_VERSION = PIV_AID[5:]
# A second application on the card, so "selecting another application" is a real event.
CARD_MANAGER_AID = bytes.fromhex("A000000151000000")

MIN_AID_PREFIX = 5  # right-truncated SELECT needs at least the RID


class Ins(IntEnum):
    SELECT = 0xA4
    GET_DATA = 0xCB
    VERIFY = 0x20
    CHANGE_REFERENCE_DATA = 0x24
    RESET_RETRY_COUNTER = 0x2C
    GENERAL_AUTHENTICATE = 0x87
    PUT_DATA = 0xDB
    GENERATE_ASYMMETRIC_KEY_PAIR = 0x47
    GET_RESPONSE = 0xC0
    GET_VERSION = 0xFD  # Yubico extension, sent by yubico-piv-tool before anything else


class KeyRef(IntEnum):
    PIN = 0x80
    PUK = 0x81
    AUTHENTICATION = 0x9A
    CARD_MANAGEMENT = 0x9B
    SIGNATURE = 0x9C
    KEY_MANAGEMENT = 0x9D
    CARD_AUTHENTICATION = 0x9E


ASYMMETRIC_SLOTS = (
    KeyRef.AUTHENTICATION,
    KeyRef.SIGNATURE,
    KeyRef.KEY_MANAGEMENT,
    KeyRef.CARD_AUTHENTICATION,
)


class Alg(IntEnum):
    TDES = 0x03
    AES128 = 0x08
    AES192 = 0x0A
    AES256 = 0x0C
    RSA2048 = 0x07
    RSA3072 = 0x05
    ECC_P256 = 0x11
    ECC_P384 = 0x14


SYMMETRIC_ALGS = {Alg.TDES: 24, Alg.AES128: 16, Alg.AES192: 24, Alg.AES256: 32}
BLOCK_SIZE = {Alg.TDES: 8, Alg.AES128: 16, Alg.AES192: 16, Alg.AES256: 16}
RSA_BITS = {Alg.RSA2048: 2048, Alg.RSA3072: 3072}
EC_SIZE = {Alg.ECC_P256: 32, Alg.ECC_P384: 48}


class ObjectTag(IntEnum):
    """GET DATA / PUT DATA object identifiers (the value of tag 5C)."""

    DISCOVERY = 0x7E
    CARD_AUTH_CERT = 0x5FC101
    CHUID = 0x5FC102
    AUTH_CERT = 0x5FC105
    CCC = 0x5FC107
    PRINTED_INFORMATION = 0x5FC109
    SIGNATURE_CERT = 0x5FC10A
    KEY_MANAGEMENT_CERT = 0x5FC10B
    KEY_HISTORY = 0x5FC10C


CERT_OBJECT_FOR_KEY = {
    KeyRef.AUTHENTICATION: ObjectTag.AUTH_CERT,
    KeyRef.SIGNATURE: ObjectTag.SIGNATURE_CERT,
    KeyRef.KEY_MANAGEMENT: ObjectTag.KEY_MANAGEMENT_CERT,
    KeyRef.CARD_AUTHENTICATION: ObjectTag.CARD_AUTH_CERT,
}

PIN_PROTECTED_OBJECTS = frozenset({ObjectTag.PRINTED_INFORMATION})

# Dynamic authentication template (GENERAL AUTHENTICATE) tags.
TAG_DYN_AUTH = 0x7C
TAG_WITNESS = 0x80
TAG_CHALLENGE = 0x81
TAG_RESPONSE = 0x82
TAG_EXPONENTIATION = 0x85

PIN_LENGTH_MIN = 6
PIN_LENGTH_MAX = 8
PIN_FIELD_LENGTH = 8
PIN_PAD = 0xFF


def pad_pin(pin: str) -> bytes:
    """Encode a PIN or PUK as PIV sends it: ASCII padded to 8 bytes with FF."""
    raw = pin.encode("ascii")
    if len(raw) > PIN_FIELD_LENGTH:
        raise ValueError("a PIN is at most 8 characters")
    return raw + bytes([PIN_PAD]) * (PIN_FIELD_LENGTH - len(raw))
