"""The test PKI: certificate profiles, chain checks, revocation, server certificates, files."""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.atomic import atomic_write_bytes
from simulator.pki import (
    CRL_DISTRIBUTION_POINT,
    PIV_CARD_AUTH,
    ROOT_CA_NAME,
    SMARTCARD_LOGON,
    UNTRUSTED_ROOT_CA_NAME,
    CardCertificateRequest,
    TestPKI,
)

UUID = "555000000042"
NAME = "Alice Smith"


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki") / "pki"


@pytest.fixture(scope="module")
def pki(pki_dir: Path) -> TestPKI:
    return TestPKI.open(pki_dir)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def pki_copy(pki: TestPKI, tmp_path: Path) -> Path:
    """A private copy of the module's PKI directory, for tests that damage or change it."""
    target = tmp_path / "pki"
    shutil.copytree(pki.directory, target)
    return target


def bundle(pki: TestPKI) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pki.ca_bundle_path.read_bytes())


def client_verifier(
    anchors: list[x509.Certificate], at: datetime | None = None
) -> verification.ClientVerifier:
    builder = verification.PolicyBuilder().store(verification.Store(anchors))
    if at is not None:
        builder = builder.time(at)
    return builder.build_client_verifier()


def issue(pki: TestPKI, key: ec.EllipticCurvePrivateKey, **kwargs: object) -> x509.Certificate:
    args: dict[str, object] = {"common_name": NAME, "uuid": UUID, "usage": "authentication"}
    args.update(kwargs)
    return pki.issue_card_certificate(key.public_key(), **args)  # type: ignore[arg-type]


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


# -- the hierarchy -------------------------------------------------------------------------


def test_bundle_holds_the_trusted_root_and_issuing_ca_only(pki: TestPKI) -> None:
    assert bundle(pki) == [pki.root_certificate, pki.issuing_certificate]
    cn = pki.root_certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == ROOT_CA_NAME == "careid-harness Test Root CA"
    assert pki.untrusted_root_certificate not in bundle(pki)
    assert pki.untrusted_issuing_certificate not in bundle(pki)


def test_issuing_ca_is_signed_by_root_with_path_length_zero(pki: TestPKI) -> None:
    pki.issuing_certificate.verify_directly_issued_by(pki.root_certificate)
    constraints = pki.issuing_certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    root_life = pki.root_certificate.not_valid_after_utc - datetime.now(UTC)
    issuing_life = pki.issuing_certificate.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=19 * 365) < root_life <= timedelta(days=20 * 365)
    assert timedelta(days=9 * 365) < issuing_life <= timedelta(days=10 * 365)


def test_untrusted_hierarchy_has_its_own_root(pki: TestPKI) -> None:
    pki.untrusted_issuing_certificate.verify_directly_issued_by(pki.untrusted_root_certificate)
    cn = pki.untrusted_root_certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn[0].value == UNTRUSTED_ROOT_CA_NAME
    assert pki.untrusted_root_certificate.public_key() != pki.root_certificate.public_key()


def test_open_again_loads_the_same_authorities(pki: TestPKI, pki_dir: Path) -> None:
    again = TestPKI.open(pki_dir)
    assert again.root_certificate == pki.root_certificate
    assert again.issuing_certificate == pki.issuing_certificate
    assert again.untrusted_root_certificate == pki.untrusted_root_certificate


def test_ca_keys_are_private_files(pki: TestPKI) -> None:
    keys = sorted(pki.directory.glob("*.key"))
    assert len(keys) == 5  # four CAs and the content signer
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        serialization.load_pem_private_key(key.read_bytes(), password=None)  # PKCS8, no password
    assert not list(pki.directory.glob("*.tmp")), "temporary files left behind"


def test_content_signer_signs_detached_cms_that_openssl_verifies(
    pki: TestPKI, tmp_path: Path
) -> None:
    signer = pki.content_signer_certificate
    signer.verify_directly_issued_by(pki.issuing_certificate)
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ObjectIdentifier("2.16.840.1.101.3.6.7")]

    content = bytes.fromhex("3019d4e739da739ced39ce739d836858210842108421c84210c3eb")
    signature = pki.sign_cms(content)
    assert pkcs7.load_der_pkcs7_certificates(signature) == [signer]
    assert content not in signature  # detached: the CHUID carries the content itself

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to verify CMS")
    (tmp_path / "content.bin").write_bytes(content)
    (tmp_path / "signature.der").write_bytes(signature)
    verify = [
        openssl, "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        "-in", str(tmp_path / "signature.der"), "-content", str(tmp_path / "content.bin"),
        "-CAfile", str(pki.ca_bundle_path), "-out", os.devnull,
    ]  # fmt: skip
    assert subprocess.run(verify, capture_output=True, check=False).returncode == 0  # noqa: S603
    (tmp_path / "content.bin").write_bytes(content[:-1] + b"\x00")
    assert subprocess.run(verify, capture_output=True, check=False).returncode != 0  # noqa: S603


# -- card certificates ---------------------------------------------------------------------


@pytest.mark.parametrize("key_fixture", ["ec_key", "rsa_key"])
def test_valid_card_certificate_verifies_against_the_bundle(
    pki: TestPKI, key_fixture: str, request: pytest.FixtureRequest
) -> None:
    key = request.getfixturevalue(key_fixture)
    certificate = issue(pki, key)
    chain = client_verifier(bundle(pki)).verify(certificate, [pki.issuing_certificate]).chain
    assert chain[0] == certificate
    assert pki.chain_for(certificate) == [pki.issuing_certificate, pki.root_certificate]
    assert certificate.public_key() == key.public_key()
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)


def test_valid_card_certificate_verifies_from_the_root_alone(
    pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    certificate = issue(pki, ec_key)
    chain = client_verifier([pki.root_certificate]).verify(certificate, pki.chain_for(certificate))
    assert chain.chain == [certificate, pki.issuing_certificate, pki.root_certificate]


def test_subject_carries_name_and_uuid(pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey) -> None:
    certificate = issue(pki, ec_key)
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAME
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == UUID
    assert "2.5.4.5=555000000042" in subject.rfc4514_string()
    assert certificate.issuer == pki.issuing_certificate.subject
    assert 0 < certificate.serial_number < 2**159


def test_two_years_by_default(pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    certificate = issue(pki, ec_key, now=now)
    assert certificate.not_valid_before_utc <= now
    assert certificate.not_valid_after_utc == now + timedelta(days=730)


def test_serial_numbers_are_random(pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey) -> None:
    serials = {issue(pki, ec_key).serial_number for _ in range(5)}
    assert len(serials) == 5


ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)


def _ext(certificate: x509.Certificate, kind: type[ExtensionT]) -> x509.Extension[ExtensionT]:
    return certificate.extensions.get_extension_for_class(kind)


@pytest.mark.parametrize(
    ("usage", "key_usage", "eku"),
    [
        (
            "authentication",
            {"digital_signature"},
            {ExtendedKeyUsageOID.CLIENT_AUTH, SMARTCARD_LOGON},
        ),
        (
            "signature",
            {"digital_signature", "content_commitment"},
            {ExtendedKeyUsageOID.EMAIL_PROTECTION},
        ),
        ("key_management", {"key_agreement"}, None),
        ("card_authentication", {"digital_signature"}, {PIV_CARD_AUTH}),
    ],
)
def test_card_certificate_profile(
    pki: TestPKI,
    ec_key: ec.EllipticCurvePrivateKey,
    usage: str,
    key_usage: set[str],
    eku: set[x509.ObjectIdentifier] | None,
) -> None:
    certificate = issue(pki, ec_key, usage=usage)
    ku = _ext(certificate, x509.KeyUsage)
    assert ku.critical
    flags = {
        "digital_signature", "content_commitment", "key_encipherment",
        "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
    }  # fmt: skip
    assert {flag for flag in flags if getattr(ku.value, flag)} == key_usage
    if eku is None:
        with pytest.raises(x509.ExtensionNotFound):
            _ext(certificate, x509.ExtendedKeyUsage)
    else:
        assert set(_ext(certificate, x509.ExtendedKeyUsage).value) == eku
    constraints = _ext(certificate, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    ski = _ext(certificate, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ec_key.public_key())
    aki = _ext(certificate, x509.AuthorityKeyIdentifier).value
    issuer_ski = _ext(pki.issuing_certificate, x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest
    points = _ext(certificate, x509.CRLDistributionPoints).value
    assert points[0].full_name == [x509.UniformResourceIdentifier(CRL_DISTRIBUTION_POINT)]


def test_rsa_key_management_certificate_is_for_key_encipherment(
    pki: TestPKI, rsa_key: rsa.RSAPrivateKey
) -> None:
    certificate = pki.issue_card_certificate(
        rsa_key.public_key(), common_name=NAME, uuid=UUID, usage="key_management"
    )
    ku = _ext(certificate, x509.KeyUsage).value
    assert ku.key_encipherment and not ku.key_agreement and not ku.digital_signature


def test_card_guid_goes_into_the_authentication_certificate_san(
    pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    import uuid

    guid = uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    certificate = issue(pki, ec_key, card_guid=guid)
    san = _ext(certificate, x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(guid.urn)]


def test_p384_keys_are_accepted(pki: TestPKI) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    certificate = issue(pki, key)
    client_verifier(bundle(pki)).verify(certificate, [])


def test_untrusted_certificate_does_not_verify_against_the_bundle(
    pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    certificate = issue(pki, ec_key, state="untrusted")
    assert certificate.issuer == pki.untrusted_issuing_certificate.subject
    with pytest.raises(verification.VerificationError):
        client_verifier(bundle(pki)).verify(certificate, [pki.issuing_certificate])
    # ...while it is otherwise a proper certificate: its own hierarchy accepts it.
    chain = pki.chain_for(certificate)
    assert chain == [pki.untrusted_issuing_certificate, pki.untrusted_root_certificate]
    client_verifier([chain[1]]).verify(certificate, chain[:1])


def test_expired_certificate(pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey) -> None:
    now = datetime.now(UTC)
    certificate = issue(pki, ec_key, state="expired", now=now)
    assert certificate.not_valid_after_utc <= now - timedelta(hours=23)
    assert certificate.not_valid_before_utc < certificate.not_valid_after_utc
    with pytest.raises(verification.VerificationError):
        client_verifier(bundle(pki)).verify(certificate, [])
    inside = certificate.not_valid_after_utc - timedelta(days=1)
    client_verifier(bundle(pki), at=inside).verify(certificate, [])  # only the dates are wrong


def test_not_yet_valid_certificate(pki: TestPKI, ec_key: ec.EllipticCurvePrivateKey) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    certificate = issue(pki, ec_key, state="not_yet_valid", now=now)
    assert certificate.not_valid_before_utc == now + timedelta(days=30)
    assert certificate.not_valid_after_utc == now + timedelta(days=30 + 730)
    with pytest.raises(verification.VerificationError):
        client_verifier(bundle(pki)).verify(certificate, [])
    inside = certificate.not_valid_before_utc + timedelta(days=1)
    client_verifier(bundle(pki), at=inside).verify(certificate, [])


def test_chain_for_rejects_foreign_certificates(pki: TestPKI) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.now(UTC)
    foreign = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(pki.issuing_certificate.subject)  # claims the right issuer name
        .public_key(stranger.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(stranger, hashes.SHA256())
    )
    with pytest.raises(ValueError, match="not issued by this PKI"):
        pki.chain_for(foreign)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uuid": "55500000004"}, "12 digits"),
        ({"uuid": "55500000004x"}, "12 digits"),
        ({"common_name": " "}, "common name"),
        ({"days": 0}, "days"),
        ({"usage": "decipher"}, "usage"),
        ({"state": "broken"}, "state"),
    ],
)
def test_bad_requests_are_refused(
    ec_key: ec.EllipticCurvePrivateKey, change: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "public_key": ec_key.public_key(),
        "common_name": NAME,
        "uuid": UUID,
        "usage": "authentication",
    }
    args.update(change)
    with pytest.raises(ValueError, match=message):
        CardCertificateRequest(**args)  # type: ignore[arg-type]


def test_unsupported_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="curve"):
        CardCertificateRequest(
            ec.generate_private_key(ec.SECP521R1()).public_key(),
            common_name=NAME,
            uuid=UUID,
            usage="authentication",
        )
    with pytest.raises(ValueError, match="2048"):
        CardCertificateRequest(
            rsa.generate_private_key(65537, 1024).public_key(),  # noqa: S505 - must be refused
            common_name=NAME,
            uuid=UUID,
            usage="authentication",
        )


# -- revocation ----------------------------------------------------------------------------


def test_revoked_certificate_is_in_the_crl_after_reopening(
    pki: TestPKI, pki_dir: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    good = issue(pki, ec_key)
    revoked = issue(pki, ec_key, state="revoked")
    # It is a trusted, in-date certificate: only the CRL says otherwise.
    client_verifier(bundle(pki)).verify(revoked, [])

    reopened = TestPKI.open(pki_dir)
    crl = reopened.crl()
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(good.serial_number) is None
    on_disk = x509.load_pem_x509_crl(reopened.crl_path.read_bytes())
    assert on_disk.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    der = x509.load_der_x509_crl((reopened.crl_path.parent / "crl.der").read_bytes())
    assert der == on_disk


def test_crl_is_signed_by_the_issuing_ca_for_seven_days(pki: TestPKI) -> None:
    crl = pki.crl()
    issuing_key = pki.issuing_certificate.public_key()
    assert isinstance(issuing_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(issuing_key)
    root_key = pki.root_certificate.public_key()
    assert isinstance(root_key, rsa.RSAPublicKey)
    assert not crl.is_signature_valid(root_key)
    assert crl.issuer == pki.issuing_certificate.subject
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(days=7)


def test_every_revocation_is_kept_and_numbered(
    pki_copy: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    pki = TestPKI.open(pki_copy)
    first = issue(pki, ec_key)
    second = issue(pki, ec_key)
    before = pki.crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    pki.revoke(first.serial_number)
    TestPKI.open(pki_copy).revoke(second.serial_number)  # another instance, same directory
    pki.revoke(first.serial_number)  # revoking twice changes nothing
    crl = TestPKI.open(pki_copy).crl()
    serials = [entry.serial_number for entry in crl]
    assert serials.count(first.serial_number) == 1
    assert second.serial_number in serials
    after = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert after >= before + 2


def test_missing_crl_is_republished_at_open(
    pki_copy: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    pki = TestPKI.open(pki_copy)
    revoked = issue(pki, ec_key, state="revoked")
    pki.crl_path.unlink()
    (pki_copy / "crl.der").unlink()
    reopened = TestPKI.open(pki_copy)
    assert reopened.crl_path.exists()
    assert (pki_copy / "crl.der").exists()
    crl = x509.load_pem_x509_crl(reopened.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None


def test_expired_crl_is_republished_at_open(
    pki_copy: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    pki = TestPKI.open(pki_copy)
    revoked = issue(pki, ec_key, state="revoked")
    issuing_key = serialization.load_pem_private_key(
        (pki_copy / "issuing-ca.key").read_bytes(), password=None
    )
    assert isinstance(issuing_key, rsa.RSAPrivateKey)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    stale = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.issuing_certificate.subject)
        .last_update(long_ago)
        .next_update(long_ago + timedelta(days=7))
        .sign(issuing_key, hashes.SHA256())
    )
    pki.crl_path.write_bytes(stale.public_bytes(serialization.Encoding.PEM))

    crl = x509.load_pem_x509_crl(TestPKI.open(pki_copy).crl_path.read_bytes())
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > datetime.now(UTC) + timedelta(days=6)
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None


def test_revoking_needs_a_positive_serial(pki: TestPKI) -> None:
    with pytest.raises(ValueError, match="positive"):
        pki.revoke(0)


# -- repair --------------------------------------------------------------------------------


def test_lost_issuing_key_gets_a_new_issuing_ca_under_the_same_root(pki_copy: Path) -> None:
    before = TestPKI.open(pki_copy)
    (pki_copy / "issuing-ca.key").unlink()
    after = TestPKI.open(pki_copy)
    assert after.root_certificate == before.root_certificate
    assert after.issuing_certificate != before.issuing_certificate
    after.issuing_certificate.verify_directly_issued_by(after.root_certificate)
    assert bundle(after) == [after.root_certificate, after.issuing_certificate]
    crl_key = after.issuing_certificate.public_key()
    assert isinstance(crl_key, rsa.RSAPublicKey)
    assert after.crl().is_signature_valid(crl_key)


# -- server certificates -------------------------------------------------------------------


def test_server_certificate(pki: TestPKI) -> None:
    chain_path, key_path = pki.server_certificate("cis2")
    chain = x509.load_pem_x509_certificates(chain_path.read_bytes())
    assert len(chain) == 2
    assert chain[1] == pki.issuing_certificate
    leaf = chain[0]
    san = _ext(leaf, x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()
    store = verification.Store([pki.root_certificate])
    for subject in (
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ):
        builder = verification.PolicyBuilder().store(store)
        builder.build_server_verifier(subject).verify(leaf, chain[1:])


def test_server_certificate_is_reused_until_hosts_change(pki: TestPKI) -> None:
    chain_path, key_path = pki.server_certificate("portal")
    first = chain_path.read_bytes(), key_path.read_bytes()
    assert pki.server_certificate("portal") == (chain_path, key_path)
    assert (chain_path.read_bytes(), key_path.read_bytes()) == first
    pki.server_certificate("portal", hosts=("localhost",))  # a subset: still fine
    assert chain_path.read_bytes() == first[0]

    pki.server_certificate("portal", hosts=("127.0.0.1", "myidentity.test"))
    assert chain_path.read_bytes() != first[0]
    leaf = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
    san = _ext(leaf, x509.SubjectAlternativeName).value
    assert "myidentity.test" in san.get_values_for_type(x509.DNSName)


def test_server_names_cannot_escape_the_directory(pki: TestPKI) -> None:
    for name in ("../evil", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="server name"):
            pki.server_certificate(name)


def test_tls_handshake_with_the_server_certificate(pki: TestPKI) -> None:
    """Python's ssl (OpenSSL) accepts the chain and hostname, trusting only the bundle."""
    chain_path, key_path = pki.server_certificate("handshake")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(chain_path, key_path)
    client_context = ssl.create_default_context(cafile=str(pki.ca_bundle_path))

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _ = listener.accept()
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"hello")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client_context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.recv(5) == b"hello"
        thread.join(timeout=5)


# -- concurrency ---------------------------------------------------------------------------


def _open_in_child(directory: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    pki = TestPKI.open(Path(directory))
    results.put(  # type: ignore[attr-defined]
        (fingerprint(pki.root_certificate), fingerprint(pki.issuing_certificate))
    )


def test_processes_opening_a_fresh_directory_at_once_agree(tmp_path: Path) -> None:
    directory = tmp_path / "shared" / "pki"
    context = multiprocessing.get_context("spawn")
    count = 3
    barrier = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=_open_in_child, args=(str(directory), barrier, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert len(set(outcomes)) == 1, "processes saw different authorities"
    final = TestPKI.open(directory)
    assert outcomes[0] == (
        fingerprint(final.root_certificate),
        fingerprint(final.issuing_certificate),
    )
    final.issuing_certificate.verify_directly_issued_by(final.root_certificate)
    assert bundle(final) == [final.root_certificate, final.issuing_certificate]


# -- atomic writes -------------------------------------------------------------------------


def test_atomic_write_replaces_the_file_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new", mode=0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    atomic_write_bytes(target, b"secret")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]
