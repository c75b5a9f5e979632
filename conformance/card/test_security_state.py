"""Security state: which keys need the PIN, PIN-always, and what clears a verified PIN."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from conformance.card.helpers import (
    algorithm_of,
    apdu,
    check_sw,
    general_authenticate,
    get_data,
    pin_status,
    select_piv,
    send,
    sign,
    sw_name,
    tries,
    verify,
)
from conformance.targets import CardSession
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import parse_tlv, tlv
from simulator.piv.constants import (
    CARD_MANAGER_AID,
    SYMMETRIC_ALGS,
    TAG_CHALLENGE,
    TAG_EXPONENTIATION,
    TAG_RESPONSE,
    Alg,
    Ins,
    KeyRef,
    ObjectTag,
)
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
Certificate = Callable[[KeyRef], x509.Certificate]
# The well-known test management key of the virtual card (docs/card.md: Series).
TEST_ADMIN_KEY = bytes.fromhex("0102030405060708" * 4)


def _not_verified(conn: CardConnection, what: str) -> None:
    sw = pin_status(conn)
    assert tries(sw) is not None, f"{what}: the PIN is still verified ({sw_name(sw)})"


@pytest.mark.parametrize(
    "key",
    [KeyRef.AUTHENTICATION, KeyRef.SIGNATURE, KeyRef.KEY_MANAGEMENT],
    ids=lambda k: f"{k:02x}",
)
@requirement("CARD-SEC-001", expected="69 82 without a verified PIN")
def test_keys_need_pin(
    card_connection: CardConnection, certificate: Certificate, key: KeyRef
) -> None:
    """Keys 9A, 9C and 9D refuse to operate without the PIN."""
    cert = certificate(key)
    public = cert.public_key()
    if key == KeyRef.KEY_MANAGEMENT and isinstance(public, ec.EllipticCurvePublicKey):
        point = (
            ec.generate_private_key(public.curve)
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        _, sw = general_authenticate(
            card_connection, algorithm_of(public), key, point, tag=TAG_EXPONENTIATION
        )
    else:
        _, sw = sign(card_connection, cert, key, b"no pin")
    check_sw(sw, SW.SECURITY_STATUS_NOT_SATISFIED, what=f"key {key:02X} without PIN")


@requirement("CARD-SEC-002", expected="first 9C signature 90 00, second 69 82")
def test_signature_key_pin_always(
    card_connection: CardConnection, certificate: Certificate, card_pin: str
) -> None:
    """Each 9C signature needs its own VERIFY."""
    cert = certificate(KeyRef.SIGNATURE)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    check_sw(sign(card_connection, cert, KeyRef.SIGNATURE, b"one")[1], SW.SUCCESS, what="first 9C")
    _, sw = sign(card_connection, cert, KeyRef.SIGNATURE, b"two")
    check_sw(sw, SW.SECURITY_STATUS_NOT_SATISFIED, what="second 9C without a fresh VERIFY")


@requirement("CARD-SEC-003", expected="two 9A signatures after one VERIFY: 90 00 both")
def test_authentication_key_stays_verified(
    card_connection: CardConnection, certificate: Certificate, card_pin: str
) -> None:
    """The verified PIN serves more than one 9A signature."""
    cert = certificate(KeyRef.AUTHENTICATION)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    for count in ("first", "second"):
        _, sw = sign(card_connection, cert, KeyRef.AUTHENTICATION, count.encode())
        check_sw(sw, SW.SUCCESS, what=f"{count} 9A signature")


@requirement("CARD-SEC-004", expected="after the reset: status query 63 CX")
def test_reset_clears_pin(card_session: CardSession, card_pin: str) -> None:
    """A card reset clears the verified PIN."""
    if not card_session.can_reset:
        pytest.skip("this target's transport cannot reset the card")
    conn = card_session.connection
    select_piv(conn)
    check_sw(verify(conn, card_pin), SW.SUCCESS, what="VERIFY")
    card_session.reset()
    check_sw(select_piv(conn)[1], SW.SUCCESS, what="SELECT PIV after the reset")
    _not_verified(conn, "after a reset")


@requirement("CARD-SEC-005", expected="after removal and insertion: status query 63 CX")
def test_removal_clears_pin(card_session: CardSession, card_pin: str) -> None:
    """Removing the card clears the verified PIN."""
    if not card_session.can_reinsert:
        pytest.skip(
            f"the harness cannot pull the card on the {card_session.target.kind} target "
            "(only the PC/SC virtual reader can)"
        )
    select_piv(card_session.connection)
    check_sw(verify(card_session.connection, card_pin), SW.SUCCESS, what="VERIFY")
    conn = card_session.reinsert()
    check_sw(select_piv(conn)[1], SW.SUCCESS, what="SELECT PIV after re-insertion")
    _not_verified(conn, "after removal and re-insertion")


@requirement("CARD-SEC-006", expected="SELECT other app 90 00, SELECT PIV, status query 63 CX")
def test_other_application_clears_pin(card_connection: CardConnection, card_pin: str) -> None:
    """Selecting another application resets the PIV security status."""
    select_piv(card_connection)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    _, sw = select_piv(card_connection, CARD_MANAGER_AID)
    if sw == SW.NOT_FOUND:
        pytest.skip("the card has no other application to select (card manager 6A 82)")
    check_sw(sw, SW.SUCCESS, what="SELECT the card manager")
    check_sw(select_piv(card_connection)[1], SW.SUCCESS, what="SELECT PIV again")
    _not_verified(card_connection, "after selecting another application")


@requirement("CARD-SEC-007", expected="6A 82, then the status query 90 00")
def test_unknown_aid_keeps_pin(card_connection: CardConnection, card_pin: str) -> None:
    """A failed SELECT leaves the verified PIN alone."""
    select_piv(card_connection)
    check_sw(verify(card_connection, card_pin), SW.SUCCESS, what="VERIFY")
    check_sw(
        select_piv(card_connection, bytes.fromhex("A0000000999999"))[1],
        SW.NOT_FOUND,
        what="SELECT unknown AID",
    )
    check_sw(pin_status(card_connection), SW.SUCCESS, what="status query")


def _discovery_put(conn: CardConnection) -> bytes:
    """PUT DATA writing the Discovery object with its current content (a no-op if taken)."""
    answer, sw = get_data(conn, ObjectTag.DISCOVERY)
    check_sw(sw, SW.SUCCESS, what="GET DATA 7E")
    return apdu(0x00, Ins.PUT_DATA, 0x3F, 0xFF, tlv(0x5C, b"\x7e") + answer)


@requirement("CARD-SEC-008", expected="69 82")
def test_put_data_needs_admin(card_connection: CardConnection) -> None:
    """PUT DATA needs the card management key."""
    select_piv(card_connection)
    sw = send(card_connection, _discovery_put(card_connection))[1]
    check_sw(sw, SW.SECURITY_STATUS_NOT_SATISFIED, what="PUT DATA without admin")


@requirement("CARD-SEC-009", expected="69 82")
def test_generate_needs_admin(card_connection: CardConnection) -> None:
    """GENERATE ASYMMETRIC KEY PAIR needs the card management key."""
    select_piv(card_connection)
    command = apdu(
        0x00,
        Ins.GENERATE_ASYMMETRIC_KEY_PAIR,
        0x00,
        KeyRef.AUTHENTICATION,
        bytes.fromhex("AC03800111"),
        256,
    )
    check_sw(send(card_connection, command)[1], SW.SECURITY_STATUS_NOT_SATISFIED, what="GENERATE")


def _encrypt(algorithm: int, key: bytes, block: bytes) -> bytes:
    cipher = TripleDES(key) if algorithm == Alg.TDES else algorithms.AES(key)
    encryptor = Cipher(cipher, modes.ECB()).encryptor()  # noqa: S305 - one PIV block
    return encryptor.update(block) + encryptor.finalize()


def _challenge(conn: CardConnection) -> tuple[int, bytes]:
    """Ask the card for an admin challenge under whichever algorithm its 9B key has."""
    for algorithm in (Alg.AES128, Alg.AES192, Alg.AES256, Alg.TDES):
        command = apdu(
            0x00,
            Ins.GENERAL_AUTHENTICATE,
            algorithm,
            KeyRef.CARD_MANAGEMENT,
            tlv(0x7C, tlv(TAG_CHALLENGE)),
            256,
        )
        answer, sw = send(conn, command)
        if sw == SW.SUCCESS:
            items = parse_tlv(parse_tlv(answer)[0][1])
            return algorithm, dict(items)[TAG_CHALLENGE]
    raise AssertionError("the card gave no 9B challenge for any symmetric algorithm")


@requirement("CARD-SEC-010", expected="right response 90 00 then PUT DATA 90 00; wrong 69 82")
def test_admin_authentication(card_connection: CardConnection) -> None:
    """The card management key authenticates by challenge-response."""
    select_piv(card_connection)
    put = _discovery_put(card_connection)
    algorithm, challenge = _challenge(card_connection)
    wrong = bytes(len(challenge))
    command = apdu(
        0x00,
        Ins.GENERAL_AUTHENTICATE,
        algorithm,
        KeyRef.CARD_MANAGEMENT,
        tlv(0x7C, tlv(TAG_RESPONSE, wrong)),
        256,
    )
    check_sw(
        send(card_connection, command)[1], SW.SECURITY_STATUS_NOT_SATISFIED, what="wrong response"
    )
    check_sw(
        send(card_connection, put)[1], SW.SECURITY_STATUS_NOT_SATISFIED, what="PUT DATA after it"
    )
    algorithm, challenge = _challenge(card_connection)
    key = TEST_ADMIN_KEY[: SYMMETRIC_ALGS[Alg(algorithm)]]
    response = _encrypt(algorithm, key, challenge)
    command = apdu(
        0x00,
        Ins.GENERAL_AUTHENTICATE,
        algorithm,
        KeyRef.CARD_MANAGEMENT,
        tlv(0x7C, tlv(TAG_RESPONSE, response)),
        256,
    )
    check_sw(send(card_connection, command)[1], SW.SUCCESS, what="right response")
    check_sw(send(card_connection, put)[1], SW.SUCCESS, what="PUT DATA as admin")
