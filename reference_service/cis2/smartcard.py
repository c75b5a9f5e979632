"""The smartcard mechanism: challenges, and the check of a card's signed answer.

Follows docs/signin-protocol.md. A challenge is 32 random bytes (base64url), single-use,
expiring, and bound to a login transaction and to the service's origin. The card signs

    b"careid-signin-v1\\n" + origin + b"\\n" + challenge

with its PIV Authentication key (RSA PKCS#1 v1.5 or ECDSA P-256, SHA-256). The answer is
accepted only when the certificate chains to a CA of the trusted bundle file, every
certificate of the chain is in date, the issuing CA's CRL (from the CRL file, itself checked)
does not list it, and the signature verifies over the message rebuilt with *this* service's
origin. The user's UUID is the subject's `serialNumber`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from reference_service.cis2.errors import SignInError
from reference_service.cis2.store import Store

MESSAGE_PREFIX = b"careid-signin-v1\n"
CHALLENGE_BYTES = 32
CHALLENGE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,512}")
MAX_CERTIFICATE_CHARS = 16_384
MAX_SIGNATURE_CHARS = 2_048
MAX_CHAIN = 5


def signed_message(origin: str, challenge: str) -> bytes:
    return MESSAGE_PREFIX + origin.encode() + b"\n" + challenge.encode()


def b64url_decode(value: str, what: str, limit: int) -> bytes:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise SignInError("malformed_response", f"the {what} is missing or too long")
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        raise SignInError("malformed_response", f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise SignInError("malformed_response", f"the {what} is not base64url") from None


@dataclass(frozen=True)
class VerifiedCard:
    uuid: str
    serial_number: int
    subject: str


class _FileCache:
    """A file's parsed content, re-parsed when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._data: bytes | None = None
        self._lock = threading.Lock()

    def read(self) -> bytes | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._data = self.path.read_bytes()
                except OSError:
                    return None
                self._stamp = stamp
            return self._data


def _pem_blocks(data: bytes, kind: bytes) -> list[bytes]:
    pattern = rb"-----BEGIN " + kind + rb"-----.+?-----END " + kind + rb"-----"
    return re.findall(pattern, data, re.DOTALL)


class CertificateVerifier:
    """Chains a card certificate to the trusted CA bundle file and checks the CRL file."""

    def __init__(self, ca_bundle: Path, crl: Path | None) -> None:
        self._bundle = _FileCache(ca_bundle)
        self._crl = _FileCache(crl) if crl is not None else None

    def anchors(self) -> list[x509.Certificate]:
        data = self._bundle.read()
        if not data:
            return []
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            return []

    def crls(self) -> list[x509.CertificateRevocationList]:
        if self._crl is None:
            return []
        data = self._crl.read() or b""
        found = []
        for block in _pem_blocks(data, b"X509 CRL"):
            try:
                found.append(x509.load_pem_x509_crl(block))
            except ValueError:
                continue
        if not found and data and b"-----BEGIN" not in data:
            with contextlib.suppress(ValueError):
                found.append(x509.load_der_x509_crl(data))
        return found

    def verify(self, certificate: x509.Certificate, now: datetime) -> list[x509.Certificate]:
        """The chain [leaf, issuer, ..., root]; raises SignInError with the reason."""
        trusted = self.anchors()
        if not trusted:
            raise SignInError(
                "trust_unavailable", "The service cannot read its trusted CA bundle.", 503
            )
        chain = [certificate]
        current = certificate
        while True:
            issuer = next(
                (ca for ca in trusted if ca.subject == current.issuer and _signed_by(current, ca)),
                None,
            )
            if issuer is None:
                raise SignInError(
                    "certificate_untrusted",
                    "The card's certificate was not issued by a trusted authority.",
                    403,
                )
            if not _is_ca(issuer):
                raise SignInError(
                    "certificate_untrusted", "The card's certificate chain is not valid.", 403
                )
            chain.append(issuer)
            if issuer.subject == issuer.issuer or len(chain) > MAX_CHAIN:
                break
            current = issuer
        for link in chain:
            if now < link.not_valid_before_utc:
                raise SignInError(
                    "certificate_not_yet_valid",
                    "The card's certificate is not valid yet."
                    if link is certificate
                    else "A certificate of the card's chain is not valid yet.",
                    403,
                )
            if now > link.not_valid_after_utc:
                raise SignInError(
                    "certificate_expired",
                    "The card's certificate has expired: contact your Registration Authority."
                    if link is certificate
                    else "A certificate of the card's chain has expired.",
                    403,
                )
        self._check_revocation(certificate, chain[1], now)
        return chain

    def _check_revocation(
        self, certificate: x509.Certificate, issuer: x509.Certificate, now: datetime
    ) -> None:
        key = issuer.public_key()
        usable = [
            crl
            for crl in self.crls()
            if crl.issuer == issuer.subject
            and isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
            and crl.is_signature_valid(key)
        ]
        if not usable:
            raise SignInError(
                "revocation_unavailable",
                "The service cannot check whether the card's certificate is revoked.",
                503,
            )
        crl = max(usable, key=lambda c: c.last_update_utc)
        next_update = crl.next_update_utc
        if next_update is not None and next_update < now:
            raise SignInError(
                "revocation_unavailable",
                "The service's revocation list is out of date; the card cannot be checked.",
                503,
            )
        if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
            raise SignInError(
                "certificate_revoked",
                "The card's certificate has been revoked: contact your Registration Authority.",
                403,
            )


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.value.ca)


def verify_signature(certificate: x509.Certificate, message: bytes, signature: bytes) -> None:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            return
    except (InvalidSignature, ValueError):
        pass
    else:
        raise SignInError("certificate_unsupported", "The card's key type is not supported.")
    raise SignInError(
        "signature_invalid", "The card's signature does not match the sign-in challenge.", 403
    )


def uuid_of(certificate: x509.Certificate) -> str:
    values = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    uuid = str(values[0].value) if values else ""
    if not re.fullmatch(r"[0-9]{12}", uuid):
        raise SignInError(
            "certificate_no_uuid", "The card's certificate does not name a Care Identity.", 403
        )
    return uuid


class ChallengeService:
    """Issues challenges and checks signed answers (stateless apart from the store)."""

    def __init__(
        self,
        store: Store,
        verifier: CertificateVerifier,
        clock: Callable[[], float],
        *,
        lifetime: float = 120.0,
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.clock = clock
        self.lifetime = lifetime

    def issue(self, tx_id: str, origin: str) -> tuple[str, float]:
        challenge = base64.urlsafe_b64encode(secrets.token_bytes(CHALLENGE_BYTES))
        text = challenge.rstrip(b"=").decode()
        expires = self.clock() + self.lifetime
        self.store.put_challenge(text, tx_id, origin, expires)
        return text, expires

    def verify(
        self, tx_id: str, origin: str, challenge: str, signature: str, certificate: str
    ) -> VerifiedCard:
        if not isinstance(challenge, str) or not CHALLENGE_PATTERN.fullmatch(challenge):
            raise SignInError("challenge_invalid", "The sign-in challenge is malformed.")
        signature_bytes = b64url_decode(signature, "signature", MAX_SIGNATURE_CHARS)
        certificate_der = b64url_decode(certificate, "certificate", MAX_CERTIFICATE_CHARS)
        record = self.store.take_challenge(challenge)
        if record is None:
            raise SignInError("challenge_unknown", "The sign-in challenge is not one of ours.")
        if record["used"]:
            raise SignInError(
                "challenge_replayed", "The sign-in challenge has been used already.", 403
            )
        if record["expires"] <= self.clock():
            raise SignInError(
                "challenge_expired", "The sign-in challenge has expired: try again.", 403
            )
        if not secrets.compare_digest(record["tx_id"], tx_id):
            raise SignInError(
                "challenge_wrong_transaction", "The challenge belongs to another sign-in.", 403
            )
        if record["origin"] != origin:
            raise SignInError(
                "challenge_wrong_origin", "The challenge was issued for another origin.", 403
            )
        try:
            card_certificate = x509.load_der_x509_certificate(certificate_der)
        except ValueError:
            raise SignInError(
                "certificate_malformed", "The card's certificate cannot be read."
            ) from None
        now = datetime.fromtimestamp(self.clock(), UTC)
        self.verifier.verify(card_certificate, now)
        verify_signature(card_certificate, signed_message(origin, challenge), signature_bytes)
        return VerifiedCard(
            uuid=uuid_of(card_certificate),
            serial_number=card_certificate.serial_number,
            subject=card_certificate.subject.rfc4514_string(),
        )
