"""Revocation: the persisted list of revoked serial numbers and the CRL built from it.

The list (`revoked.json`) is the source of truth; the CRL is a signed view of it that is
rebuilt whenever the list changes, the CRL is missing or no longer valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator.pki.certificates import CertificateAuthority, utc

CRL_LIFETIME = timedelta(days=7)


class RevocationListError(ValueError):
    """`revoked.json` cannot be read: refuse to publish a CRL that would forget revocations."""


@dataclass(frozen=True)
class RevokedEntry:
    serial_number: int
    revoked_at: datetime


@dataclass(frozen=True)
class RevocationList:
    """The revoked serials of the issuing CA, and the number of the CRL that lists them."""

    crl_number: int = 0
    entries: tuple[RevokedEntry, ...] = field(default_factory=tuple)

    @property
    def serial_numbers(self) -> frozenset[int]:
        return frozenset(entry.serial_number for entry in self.entries)

    def with_revoked(self, serial_number: int, when: datetime) -> RevocationList:
        """A new list that also holds `serial_number` (unchanged if it is already there)."""
        if serial_number in self.serial_numbers:
            return self
        entry = RevokedEntry(serial_number, utc(when))
        return RevocationList(self.crl_number, (*self.entries, entry))

    def next_number(self) -> RevocationList:
        """The same entries under the next CRL number (each published CRL gets a new one)."""
        return RevocationList(self.crl_number + 1, self.entries)

    def to_json(self) -> bytes:
        document = {
            "crl_number": self.crl_number,
            "revoked": [
                {"serial": format(e.serial_number, "x"), "revoked_at": e.revoked_at.isoformat()}
                for e in self.entries
            ],
        }
        return (json.dumps(document, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> RevocationList:
        try:
            document = json.loads(data)
            entries = tuple(
                RevokedEntry(
                    int(item["serial"], 16), utc(datetime.fromisoformat(item["revoked_at"]))
                )
                for item in document["revoked"]
            )
            return cls(int(document["crl_number"]), entries)
        except (ValueError, KeyError, TypeError) as exc:
            raise RevocationListError(f"{source}: unreadable revocation list: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> RevocationList:
        """The list stored in `path`; an empty list when the file does not exist yet."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls()
        return cls.from_json(data, path)


def build_crl(
    issuer: CertificateAuthority, revocations: RevocationList, now: datetime | None = None
) -> x509.CertificateRevocationList:
    """A CRL signed by `issuer`, valid for 7 days, numbered `revocations.crl_number`."""
    moment = utc(now)
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(moment)
        .next_update(moment + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(revocations.crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    for entry in revocations.entries:
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at)
            .build()
        )
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(issuer.key, hashes.SHA256())


def load_crl(path: Path) -> x509.CertificateRevocationList | None:
    try:
        return x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError):
        return None


def crl_is_current(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    revocations: RevocationList,
    now: datetime | None = None,
) -> bool:
    """True when `crl` is signed by `issuer`, still in date and lists exactly `revocations`."""
    public_key = issuer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return False
    if crl.issuer != issuer.subject or not crl.is_signature_valid(public_key):
        return False
    next_update = crl.next_update_utc
    if next_update is None or next_update <= utc(now):
        return False
    return {revoked.serial_number for revoked in crl} == revocations.serial_numbers


def crl_bytes(crl: x509.CertificateRevocationList) -> tuple[bytes, bytes]:
    """(PEM, DER) encodings of `crl`."""
    return crl.public_bytes(serialization.Encoding.PEM), crl.public_bytes(
        serialization.Encoding.DER
    )
