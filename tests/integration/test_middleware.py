"""Real middleware nobody here wrote, unmodified: OpenSC's opensc-tool and PKCS#11 module."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.personas import get_persona
from simulator.reader.connection import PcscConnection
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration

PKCS11_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
TOOL_TIMEOUT = 60.0
AUTH_KEY_ID = "01"  # OpenSC's PKCS#11 id of the PIV Authentication key (9A)


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - fixed tools, test arguments
        list(args), env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    if check and result.returncode != 0:
        # The command line is left out of the message: it may carry a test PIN.
        pytest.fail(f"{args[0]} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def pkcs11(env: dict[str, str], reader: str, *args: str, check: bool = True) -> str:
    if not Path(PKCS11_MODULE).exists():
        pytest.skip(f"{PKCS11_MODULE} missing: sudo apt-get install -y opensc-pkcs11")
    result = run(
        env,
        "pkcs11-tool",
        "--module",
        PKCS11_MODULE,
        "--slot-description",
        reader,
        *args,
        check=check,
    )
    return result.stdout + result.stderr


def test_opensc_tool_recognises_a_piv_card(
    stack: ReaderStack, issue: Callable[..., Path], opensc_env: dict[str, str]
) -> None:
    slot = stack.control.insert(issue("alice"), 0)
    listing = run(opensc_env, "opensc-tool", "--list-readers").stdout
    row = next(line for line in listing.splitlines() if line.endswith(slot.reader))
    assert " Yes " in row  # card present
    named = run(opensc_env, "opensc-tool", "--reader", slot.reader, "--name", "-v").stdout
    drivers = run(opensc_env, "opensc-tool", "--list-drivers").stdout
    piv_driver = next(line for line in drivers.splitlines() if line.split()[:1] == ["PIV-II"])
    long_name = piv_driver.split(None, 1)[1].strip()  # "Personal Identity Verification Card"
    assert f"Card name: {long_name}" in named
    assert f"Using card driver {long_name}" in named


@pytest.mark.parametrize(
    ("persona", "mechanism"), [("alice", "SHA256-RSA-PKCS"), ("bob", "ECDSA-SHA256")]
)
def test_pkcs11_lists_certificates_logs_in_and_signs(
    stack: ReaderStack,
    issue: Callable[..., Path],
    opensc_env: dict[str, str],
    tmp_path: Path,
    persona: str,
    mechanism: str,
) -> None:
    spec = get_persona(persona)
    slot = stack.control.insert(issue(persona), 1)
    objects = pkcs11(opensc_env, slot.reader, "--list-objects", "--type", "cert")
    assert "Certificate for PIV Authentication" in objects
    assert f"serialNumber={spec.care_identity.uuid}" in objects

    cert_file, message, signature = (tmp_path / n for n in ("cert.der", "message", "sig"))
    pkcs11(opensc_env, slot.reader, "--read-object", "--type", "cert", "--id", AUTH_KEY_ID,
           "--output-file", str(cert_file))  # fmt: skip
    message.write_bytes(b"sign-in challenge for https://cis2.test")
    pkcs11(opensc_env, slot.reader, "--login", "--pin", spec.card.pin, "--sign",
           "--id", AUTH_KEY_ID, "--mechanism", mechanism, "--signature-format", "openssl",
           "--input-file", str(message), "--output-file", str(signature))  # fmt: skip

    key = x509.load_der_x509_certificate(cert_file.read_bytes()).public_key()
    signed, data = signature.read_bytes(), message.read_bytes()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signed, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signed, data, ec.ECDSA(hashes.SHA256()))


def test_wrong_pin_through_pkcs11_spends_a_try(
    stack: ReaderStack, issue: Callable[..., Path], opensc_env: dict[str, str]
) -> None:
    slot = stack.control.insert(issue("alice"), 2)
    with PcscConnection(slot.reader) as connection:
        tries_before = connection.transmit(bytes.fromhex("00200080"))[1]
    assert tries_before == 0x63C3

    output = pkcs11(
        opensc_env, slot.reader, "--login", "--pin", "000000", "--list-objects", check=False
    )
    assert "CKR_PIN_INCORRECT" in output

    with PcscConnection(slot.reader) as connection:
        assert connection.transmit(bytes.fromhex("00200080"))[1] == 0x63C2
