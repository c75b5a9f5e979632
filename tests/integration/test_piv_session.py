"""A whole PIV session with the real virtual card, through pcscd + vpcd and pyscard."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from simulator.iso7816.sw import PinVerifyError
from simulator.iso7816.tlv import find, parse_tlv, single_tlv, tlv
from simulator.personas import get_persona
from simulator.piv.constants import PIV_AID, Alg, KeyRef, ObjectTag, pad_pin
from simulator.reader.connection import CardConnection, PcscConnection
from simulator.reader.errors import CardRemovedError
from simulator.reader.pcsc import wait_for_card
from simulator.reader.transcript import Transcript
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def read_certificate(connection: CardConnection, tag: int) -> x509.Certificate:
    object_id = tlv(0x5C, tag.to_bytes(3, "big"))
    content = single_tlv(connection.send(0x00, 0xCB, 0x3F, 0xFF, object_id, le=256), 0x53)
    der = find(parse_tlv(content), 0x70)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def sign(connection: CardConnection, certificate: x509.Certificate, message: bytes) -> bytes:
    """GENERAL AUTHENTICATE with key 9A over `message`; verified here with the certificate."""
    digest = hashlib.sha256(message).digest()
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        info = SHA256_DIGEST_INFO + digest
        block = b"\x00\x01" + b"\xff" * (key.key_size // 8 - len(info) - 3) + b"\x00" + info
        alg, challenge = Alg.RSA2048, block
    else:
        alg, challenge = Alg.ECC_P256, digest
    template = tlv(0x7C, tlv(0x82) + tlv(0x81, challenge))
    answer = connection.send(0x00, 0x87, alg, KeyRef.AUTHENTICATION, template, le=256)
    signature = find(parse_tlv(single_tlv(answer, 0x7C)), 0x82)
    assert signature is not None
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    return signature


@pytest.mark.parametrize("persona", ["alice", "bob"])  # series 9 (RSA) and series 10 (EC)
def test_full_piv_session(
    stack: ReaderStack, issue: Callable[..., Path], persona: str, tmp_path: Path
) -> None:
    spec = get_persona(persona)
    pin = spec.card.pin
    slot = stack.control.insert(issue(persona), 0)
    transcript = Transcript(tmp_path / "apdu.txt", title=slot.reader)
    with PcscConnection(slot.reader, observers=[transcript]) as connection:
        assert not connection.physical
        select = bytes((0x00, 0xA4, 0x04, 0x00, len(PIV_AID))) + PIV_AID + b"\x00"
        data, sw = connection.transmit(select)
        assert sw == 0x9000 and data[0] == 0x61
        certificate = read_certificate(connection, ObjectTag.AUTH_CERT)
        serial = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        assert serial[0].value == spec.care_identity.uuid
        with pytest.raises(PinVerifyError) as before:
            connection.send(0x00, 0x20, 0x00, 0x80)  # PIN state: not verified yet
        tries = before.value.tries_left
        connection.send(0x00, 0x20, 0x00, 0x80, pad_pin(pin))
        sign(connection, certificate, b"sign-in challenge for https://cis2.test")
        assert connection.transmit(bytes.fromhex("00200080"))[1] == 0x9000
    transcript.close()
    assert tries == 3
    text = (tmp_path / "apdu.txt").read_text()
    assert pad_pin(pin).hex(" ").upper() not in text and pin not in text
    assert "> 00 87" in text  # the signature went over the wire, its PIN did not


def test_drop_connection_fault_pulls_the_card_mid_signature(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    persona = "fault-drop"  # card fault "drop_connection": vanishes in the middle of a signature
    spec = get_persona(persona)
    slot = stack.control.insert(issue(persona), 3)
    with PcscConnection(slot.reader) as connection:
        certificate = read_certificate(connection, ObjectTag.AUTH_CERT)
        connection.send(0x00, 0x20, 0x00, 0x80, pad_pin(spec.card.pin))
        with pytest.raises(CardRemovedError):
            sign(connection, certificate, b"challenge")
    # pcscd sees the slot empty, then the runner re-inserts the same card.
    assert wait_for_card(slot.reader, present=False, timeout=10)
    assert wait_for_card(slot.reader, present=True, timeout=10)
    with PcscConnection(slot.reader) as connection:
        assert connection.transmit(bytes.fromhex("00200080"))[1] == 0x63C3  # not verified


def test_careid_card_read_names_the_card_without_changing_it(
    stack: ReaderStack, issue: Callable[..., Path]
) -> None:
    from click.testing import CliRunner

    from conformance.cli import main
    from simulator.card.store import load_card_state

    card_file = issue("alice")
    stack.control.insert(card_file, 0)
    before = card_file.read_bytes()
    reader = stack.layout.slot(0).reader
    result = CliRunner().invoke(
        main, ["card", "read", "--reader", reader, "--data-dir", str(stack.data_dir)]
    )
    assert result.exit_code == 0, result.output
    state = load_card_state(card_file)
    assert state.uuid is not None and state.uuid in result.output
    assert state.guid.hex().upper() in result.output
    assert "PIN tries left      3" in result.output
    assert card_file.read_bytes() == before  # nothing on the card changed
