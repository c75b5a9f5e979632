"""Certificate profiles of the test PKI: CAs, card certificates and TLS server certificates.

Pure functions from keys, names and a clock to signed certificates; nothing here touches the
disk (that is `authority.py`'s job), so each profile can be tested on its own.

Profiles follow RFC 5280 and are shaped so that `cryptography.x509.verification` (a WebPKI
style verifier, stricter than most) accepts a trusted, in-date card certificate: CAs carry a
critical BasicConstraints and KeyUsage, every certificate carries SKI and AKI.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from uuid import UUID, uuid4

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from simulator.pki.files import PrivateKey

CertState = Literal["valid", "expired", "not_yet_valid", "revoked", "untrusted"]
"""How a card certificate is issued: in date and trusted, or broken in one way (negative tests)."""
CERT_STATES: tuple[CertState, ...] = get_args(CertState)

CardUsage = Literal["authentication", "signature", "key_management", "card_authentication"]
"""Which PIV key the certificate is for: 9A, 9C, 9D or 9E."""
CARD_USAGES: tuple[CardUsage, ...] = get_args(CardUsage)

CardPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

SMARTCARD_LOGON = ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")
"""Microsoft smartcard logon EKU, carried by real smartcard authentication certificates."""
PIV_CARD_AUTH = ObjectIdentifier("2.16.840.1.101.3.6.8")
"""id-PIV-cardAuth: FIPS 201 requires it in the Card Authentication (9E) certificate."""

PIV_CONTENT_SIGNING = ObjectIdentifier("2.16.840.1.101.3.6.7")
"""id-PIV-content-signing: the EKU of the certificate that signs the CHUID."""

CRL_DISTRIBUTION_POINT = "http://127.0.0.1/careid/crl.der"
"""Informational only: nothing serves this URL; services are given `TestPKI.crl_path` instead."""

CARD_ORGANISATION = "careid-harness test"
CA_ORGANISATION = "careid-harness"
COUNTRY = "GB"

ROOT_KEY_BITS = 3072
ISSUING_KEY_BITS = 2048
ROOT_VALIDITY = timedelta(days=20 * 365)
ISSUING_VALIDITY = timedelta(days=10 * 365)
# CAs start three years in the past so that an "expired" two-year card certificate still
# lies inside its issuer's validity, as it would with a real, long-lived CA.
CA_BACKDATE = timedelta(days=3 * 365 + 1)
# Leaf certificates start a little in the past to absorb clock differences between processes.
LEAF_BACKDATE = timedelta(minutes=5)
EXPIRED_BY = timedelta(days=1)
NOT_YET_VALID_FOR = timedelta(days=30)
DEFAULT_CARD_DAYS = 730
MAX_CARD_DAYS = 3650
SERVER_DAYS = 365

UUID_PATTERN = re.compile(r"[0-9]{12}")
SAN_USAGES: frozenset[CardUsage] = frozenset({"authentication", "card_authentication"})
SUPPORTED_CURVES = ("secp256r1", "secp384r1")
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate together with its private key (a CA, or the content signer)."""

    certificate: x509.Certificate
    key: PrivateKey


CertificateAuthority = CertifiedKey


@dataclass(frozen=True)
class CardCertificateRequest:
    """Everything needed to issue one card certificate; checked when it is made.

    `state` picks the validity window and the issuer (see `validity_window`); `days` is the
    length of the window (NHS certificates are renewed every 2 years). `card_guid` is the
    card's CHUID GUID, put in the subjectAltName of the authentication certificates as
    `urn:uuid:…` (FIPS 201); a random one is used when the caller has none.
    """

    public_key: CardPublicKey
    common_name: str
    uuid: str
    usage: CardUsage
    state: CertState = "valid"
    days: int = DEFAULT_CARD_DAYS
    card_guid: UUID | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise TypeError("a card key is RSA or EC (P-256 or P-384)")
        if isinstance(self.public_key, rsa.RSAPublicKey):
            if self.public_key.key_size < MIN_RSA_BITS:
                raise ValueError(f"an RSA card key has at least {MIN_RSA_BITS} bits")
        elif self.public_key.curve.name not in SUPPORTED_CURVES:
            raise ValueError(f"unsupported curve {self.public_key.curve.name}: use P-256 or P-384")
        if not self.common_name.strip():
            raise ValueError("the common name is empty")
        if not UUID_PATTERN.fullmatch(self.uuid):
            raise ValueError(f"a Care Identity UUID is exactly 12 digits, not {self.uuid!r}")
        if self.usage not in CARD_USAGES:
            raise ValueError(f"unknown usage {self.usage!r}; expected one of {CARD_USAGES}")
        if self.state not in CERT_STATES:
            raise ValueError(f"unknown state {self.state!r}; expected one of {CERT_STATES}")
        if not 1 <= self.days <= MAX_CARD_DAYS:
            raise ValueError(f"days must be 1 to {MAX_CARD_DAYS}, not {self.days}")


def utc(moment: datetime | None) -> datetime:
    """`moment` as an aware UTC time (naive means UTC, as in X.509); now when None."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def card_subject(common_name: str, uuid: str) -> x509.Name:
    """`C=GB, O=careid-harness test, CN=<name>, serialNumber=<UUID>`: where CIS2 reads the UUID."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CARD_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uuid),
        ]
    )


def generate_rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def build_root_ca(common_name: str, now: datetime | None = None) -> CertificateAuthority:
    """A self-signed root, valid from three years ago to twenty years from now."""
    moment = utc(now)
    key = generate_rsa_key(ROOT_KEY_BITS)
    name = ca_name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - CA_BACKDATE)
        .not_valid_after(moment + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)


def build_issuing_ca(
    common_name: str, root: CertificateAuthority, now: datetime | None = None
) -> CertificateAuthority:
    """An issuing CA under `root` (path length 0: it signs end-entity certificates only)."""
    moment = utc(now)
    key = generate_rsa_key(ISSUING_KEY_BITS)
    not_before, not_after = _clamp(
        moment - CA_BACKDATE, moment + ISSUING_VALIDITY, root.certificate
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name(common_name))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_aki(root.certificate), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)


def build_content_signer(
    common_name: str, issuer: CertificateAuthority, now: datetime | None = None
) -> CertifiedKey:
    """The card issuer's content signer (EC P-256, EKU id-PIV-content-signing): it signs the
    CHUID of every card, as FIPS 201 asks, rather than the CA signing data objects itself."""
    moment = utc(now)
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _clamp(
        moment - LEAF_BACKDATE, moment + ISSUING_VALIDITY, issuer.certificate
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name(common_name))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([PIV_CONTENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_aki(issuer.certificate), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key)


def validity_window(
    state: CertState, days: int, now: datetime, issuer: x509.Certificate
) -> tuple[datetime, datetime]:
    """(not_before, not_after) for a card certificate in `state`, inside the issuer's validity.

    expired: ended a day ago; not_yet_valid: starts in 30 days; otherwise starts now.
    """
    length = timedelta(days=days)
    if state == "expired":
        not_after = now - EXPIRED_BY
        not_before = not_after - length
    elif state == "not_yet_valid":
        not_before = now + NOT_YET_VALID_FOR
        not_after = not_before + length
    else:
        not_before = now - LEAF_BACKDATE
        not_after = now + length
    return _clamp(not_before, not_after, issuer)


def build_card_certificate(
    request: CardCertificateRequest, issuer: CertificateAuthority, now: datetime | None = None
) -> x509.Certificate:
    """Sign a card certificate for `request` with `issuer` (the state picks only the dates)."""
    not_before, not_after = validity_window(
        request.state, request.days, utc(now), issuer.certificate
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(card_subject(request.common_name, request.uuid))
        .issuer_name(issuer.certificate.subject)
        .public_key(request.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_card_key_usage(request.usage, request.public_key), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(request.public_key), False)
        .add_extension(_aki(issuer.certificate), critical=False)
        .add_extension(_crl_distribution_points(), critical=False)
    )
    if request.usage in SAN_USAGES:
        # FIPS 201 puts the card UUID here; WebPKI-style verifiers also insist on a SAN.
        guid = request.card_guid or uuid4()
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(guid.urn)])
        builder = builder.add_extension(san, critical=False)
    usages = _card_extended_key_usages(request.usage)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def subject_alternative_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """IP addresses as iPAddress entries, everything else as (lower-case) dNSName entries."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() or c == "/" for c in host):
                raise ValueError(f"not a host name or IP address: {host!r}") from None
            names.append(x509.DNSName(host.lower()))
    return names


def build_server_certificate(
    name: str,
    hosts: Sequence[str],
    key: PrivateKey,
    issuer: CertificateAuthority,
    now: datetime | None = None,
) -> x509.Certificate:
    """A TLS server certificate (EKU serverAuth) for `hosts`, signed by the issuing CA."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    moment = utc(now)
    not_before, not_after = _clamp(
        moment - LEAF_BACKDATE, moment + timedelta(days=SERVER_DAYS), issuer.certificate
    )
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    key_usage = _key_usage(digital_signature=True, key_encipherment=is_rsa)
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANISATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                ]
            )
        )
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(subject_alternative_names(hosts)), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_aki(issuer.certificate), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )


def is_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s name and key signed `certificate`."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _clamp(
    not_before: datetime, not_after: datetime, issuer: x509.Certificate
) -> tuple[datetime, datetime]:
    """Keep a certificate's validity inside its issuer's: verifiers may reject it otherwise."""
    start = max(not_before, issuer.not_valid_before_utc)
    end = min(not_after, issuer.not_valid_after_utc)
    if start >= end:
        issuer_from, issuer_to = issuer.not_valid_before_utc, issuer.not_valid_after_utc
        raise ValueError(
            f"the validity window {not_before:%Y-%m-%d}..{not_after:%Y-%m-%d} lies outside "
            f"the issuer's {issuer_from:%Y-%m-%d}..{issuer_to:%Y-%m-%d}"
        )
    return start, end


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _crl_distribution_points() -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(CRL_DISTRIBUTION_POINT)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    return x509.CRLDistributionPoints([point])


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_agreement: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_key_usage() -> x509.KeyUsage:
    return _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True)


def _card_key_usage(usage: CardUsage, public_key: CardPublicKey) -> x509.KeyUsage:
    if usage == "signature":
        return _key_usage(digital_signature=True, content_commitment=True)
    if usage == "key_management":
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        return _key_usage(key_encipherment=is_rsa, key_agreement=not is_rsa)
    return _key_usage(digital_signature=True)


def _card_extended_key_usages(usage: CardUsage) -> list[ObjectIdentifier]:
    if usage == "authentication":
        return [ExtendedKeyUsageOID.CLIENT_AUTH, SMARTCARD_LOGON]
    if usage == "signature":
        return [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    if usage == "card_authentication":
        return [PIV_CARD_AUTH]
    return []
