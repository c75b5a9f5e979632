"""Certificates: presence, the NHS UUID in the subject, chain to the test root, validity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from conformance.targets import CardTarget
from simulator.iso7816.sw import SW, StatusError
from simulator.iso7816.tlv import find, iter_tlv
from simulator.piv.client import PivClient
from simulator.piv.constants import CERT_OBJECT_FOR_KEY, KeyRef, ObjectTag

requirement = pytest.mark.requirement
SMARTCARD_LOGON = ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")
TWO_YEARS = timedelta(days=731)
# Leeway for issuers that back-date the start of a certificate a little.
BACKDATE_LEEWAY = timedelta(days=2)


def _all_certificates(piv: PivClient) -> dict[KeyRef, x509.Certificate]:
    certificates = {}
    for slot in CERT_OBJECT_FOR_KEY:
        try:
            certificates[slot] = piv.certificate(slot)
        except StatusError as exc:
            if exc.sw != SW.NOT_FOUND:
                raise
    assert certificates, "the card holds no certificate"
    return certificates


def _uuid(certificate: x509.Certificate) -> str | None:
    values = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else None


@requirement("CARD-CERT-001", expected="GET DATA 5FC105 gives an X.509 v3 certificate")
def test_authentication_certificate(piv: PivClient) -> None:
    """The card holds a PIV Authentication certificate."""
    certificate = piv.certificate(KeyRef.AUTHENTICATION)
    assert certificate.version == x509.Version.v3, f"version is {certificate.version}"


@requirement("CARD-CERT-002", expected="subject serialNumber = 12 digits, CN = the cardholder")
def test_uuid_in_subject(piv: PivClient) -> None:
    """The PIV Authentication certificate names the Care Identity UUID and the cardholder."""
    certificate = piv.certificate(KeyRef.AUTHENTICATION)
    uuid = _uuid(certificate)
    assert uuid is not None, f"no serialNumber in {certificate.subject.rfc4514_string()}"
    assert len(uuid) == 12 and uuid.isdigit(), f"UUID {uuid!r} is not 12 digits"
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert names and str(names[0].value).strip(), "no cardholder name (CN)"


def _load_bundle(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _chain_to_root(
    certificate: x509.Certificate, bundle: list[x509.Certificate], now: datetime
) -> list[str]:
    """Walk issuer links through the bundle to a self-signed root; the names walked."""
    path, current = [], certificate
    for _ in range(8):
        issuers = [ca for ca in bundle if ca.subject == current.issuer]
        assert issuers, f"no CA in the bundle issued {current.subject.rfc4514_string()}"
        issuer = issuers[0]
        current.verify_directly_issued_by(issuer)  # signature, issuer name and algorithm
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca, f"{issuer.subject.rfc4514_string()} is not a CA"
        assert issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc, (
            f"CA {issuer.subject.rfc4514_string()} is outside its validity"
        )
        path.append(issuer.subject.rfc4514_string())
        if issuer.subject == issuer.issuer:
            issuer.verify_directly_issued_by(issuer)
            return path
        current = issuer
    raise AssertionError("no root within 8 links")


@requirement("CARD-CERT-003", expected="each certificate -> issuing CA -> root of the CA bundle")
def test_chain_to_root(piv: PivClient, careid_target: CardTarget) -> None:
    """Every certificate chains to the trusted root."""
    if careid_target.ca_bundle is None:
        pytest.skip("no CA bundle for this card: pass --careid-ca-bundle FILE")
    bundle = _load_bundle(careid_target.ca_bundle)
    now = datetime.now(UTC)
    for slot, certificate in _all_certificates(piv).items():
        path = _chain_to_root(certificate, bundle, now)
        assert path, f"key {slot:02X}: empty chain"


@requirement("CARD-CERT-004", expected="not before <= now <= not after, for every certificate")
def test_validity_now(piv: PivClient) -> None:
    """Every certificate is within its validity period."""
    now = datetime.now(UTC)
    for slot, certificate in _all_certificates(piv).items():
        start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        assert start <= now, f"key {slot:02X}: not valid before {start:%Y-%m-%d %H:%M}"
        assert now <= end, f"key {slot:02X}: expired on {end:%Y-%m-%d}"


@requirement("CARD-CERT-005", expected="not after - not before <= 2 years")
def test_validity_two_years(piv: PivClient) -> None:
    """Card certificates are valid for at most two years."""
    for slot, certificate in _all_certificates(piv).items():
        span = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        assert span <= TWO_YEARS + BACKDATE_LEEWAY, f"key {slot:02X}: valid for {span.days} days"


@requirement("CARD-CERT-006", expected="9C, 9D and 9E certificates present, same UUID as 9A")
def test_other_certificates(piv: PivClient) -> None:
    """The signature, key management and card authentication certificates are present."""
    certificates = _all_certificates(piv)
    for slot in (KeyRef.SIGNATURE, KeyRef.KEY_MANAGEMENT, KeyRef.CARD_AUTHENTICATION):
        assert slot in certificates, f"no certificate for key {slot:02X}"
    uuid = _uuid(certificates[KeyRef.AUTHENTICATION])
    for slot, certificate in certificates.items():
        assert _uuid(certificate) == uuid, f"key {slot:02X} names UUID {_uuid(certificate)}"


@requirement("CARD-CERT-007", expected="SAN has URI urn:uuid:<CHUID GUID>")
def test_guid_in_san(piv: PivClient) -> None:
    """The PIV Authentication certificate carries the card's GUID."""
    guid = find(iter_tlv(piv.read_object(ObjectTag.CHUID)), 0x34)
    assert guid is not None, "CHUID has no GUID"
    certificate = piv.certificate(KeyRef.AUTHENTICATION)
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    expected = UUID(bytes=guid).urn
    assert expected in [uri.lower() for uri in uris], f"SAN URIs {uris}, expected {expected}"


@requirement(
    "CARD-CERT-008", expected="KeyUsage digitalSignature; EKU clientAuth or smartcard logon"
)
def test_authentication_usage(piv: PivClient) -> None:
    """The PIV Authentication certificate allows client authentication."""
    certificate = piv.certificate(KeyRef.AUTHENTICATION)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature, "KeyUsage lacks digitalSignature"
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku or SMARTCARD_LOGON in eku, (
        f"EKU {[oid.dotted_string for oid in eku]} has neither clientAuth nor smartcard logon"
    )


@requirement("CARD-CERT-009", expected="no certificate serial on the CRL")
def test_not_revoked(piv: PivClient, careid_target: CardTarget) -> None:
    """No certificate on the card is revoked."""
    crl = careid_target.crl()
    if crl is None:
        pytest.skip("no CRL for this card: pass --careid-crl FILE")
    for slot, certificate in _all_certificates(piv).items():
        if certificate.issuer != crl.issuer:
            continue
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        assert entry is None, f"key {slot:02X}: certificate revoked on {entry.revocation_date_utc}"
