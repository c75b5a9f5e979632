"""`TestPKI`: the test certification authorities kept in one directory (normally `<data_dir>/pki`).

Two hierarchies of the same shape, root CA -> issuing CA (path length 0) -> end entities:

* the *trusted* one, whose root and issuing CA are in `ca_bundle_path` (what a service trusts)
  and whose issuing CA publishes the CRL at `crl_path`;
* the *untrusted* one, used for card certificates issued in state "untrusted"; it is in no
  bundle, so a correct service must refuse what it signs.

The directory is created on first use and reused afterwards; several processes may open it at
once (changes are made under an exclusive lock, every file is replaced atomically). The CA
keys are unencrypted PEM files, mode 0600: this PKI exists for tests and must never be trusted
outside them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from simulator.pki.certificates import (
    CardCertificateRequest,
    CardPublicKey,
    CardUsage,
    CertificateAuthority,
    CertifiedKey,
    CertState,
    build_card_certificate,
    build_content_signer,
    build_issuing_ca,
    build_root_ca,
    build_server_certificate,
    is_issued_by,
    subject_alternative_names,
    utc,
)
from simulator.pki.crl import RevocationList, build_crl, crl_bytes, crl_is_current, load_crl
from simulator.pki.files import (
    CaFiles,
    PkiLayout,
    certificates_pem,
    ensure_directory,
    pki_lock,
    read_certificate,
    read_certificates,
    read_private_key,
    write_certificates,
    write_private_key,
    write_public_bytes,
)

ROOT_CA_NAME = "careid-harness Test Root CA"
ISSUING_CA_NAME = "careid-harness Test Issuing CA"
UNTRUSTED_ROOT_CA_NAME = "careid-harness Untrusted Test Root CA"
UNTRUSTED_ISSUING_CA_NAME = "careid-harness Untrusted Test Issuing CA"
CONTENT_SIGNER_NAME = "careid-harness Test Content Signer"

DEFAULT_SERVER_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
# A server certificate this close to its end is replaced rather than reused.
SERVER_RENEWAL_MARGIN = timedelta(days=1)
SERVER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class TestPKI:
    """The test PKI in one directory. Make one with `TestPKI.open(directory)`."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    def __init__(
        self,
        layout: PkiLayout,
        *,
        root: CertificateAuthority,
        issuing: CertificateAuthority,
        untrusted_root: CertificateAuthority,
        untrusted_issuing: CertificateAuthority,
        content_signer: CertifiedKey,
    ) -> None:
        self._layout = layout
        self._root = root
        self._issuing = issuing
        self._untrusted_root = untrusted_root
        self._untrusted_issuing = untrusted_issuing
        self._content_signer = content_signer

    @classmethod
    def open(cls, directory: Path) -> TestPKI:
        """Load the PKI in `directory`, creating whatever is missing, broken or out of date.

        Idempotent and safe to call from several processes at once: the first one creates,
        the others wait for the lock and then load what it wrote.
        """
        layout = PkiLayout(Path(directory))
        ensure_directory(layout.directory)
        with pki_lock(layout):
            now = utc(None)
            root = _load_or_create(layout.root, None, now, lambda: build_root_ca(ROOT_CA_NAME, now))
            issuing = _load_or_create(
                layout.issuing, root, now, lambda: build_issuing_ca(ISSUING_CA_NAME, root, now)
            )
            untrusted_root = _load_or_create(
                layout.untrusted_root, None, now, lambda: build_root_ca(UNTRUSTED_ROOT_CA_NAME, now)
            )
            untrusted_issuing = _load_or_create(
                layout.untrusted_issuing,
                untrusted_root,
                now,
                lambda: build_issuing_ca(UNTRUSTED_ISSUING_CA_NAME, untrusted_root, now),
            )
            content_signer = _load_or_create(
                layout.content_signer,
                issuing,
                now,
                lambda: build_content_signer(CONTENT_SIGNER_NAME, issuing, now),
            )
            bundle = certificates_pem([root.certificate, issuing.certificate])
            if _read_bytes(layout.ca_bundle) != bundle:
                write_public_bytes(layout.ca_bundle, bundle)
            pki = cls(
                layout,
                root=root,
                issuing=issuing,
                untrusted_root=untrusted_root,
                untrusted_issuing=untrusted_issuing,
                content_signer=content_signer,
            )
            pki._refresh_crl(RevocationList.load(layout.revoked))
        return pki

    # -- where things are -------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._layout.directory

    @property
    def ca_bundle_path(self) -> Path:
        """PEM with the trusted root and issuing CA: what a relying service trusts."""
        return self._layout.ca_bundle

    @property
    def crl_path(self) -> Path:
        """The issuing CA's CRL, PEM (the DER encoding is at `crl_der_path`)."""
        return self._layout.crl_pem

    @property
    def crl_der_path(self) -> Path:
        return self._layout.crl_der

    @property
    def root_certificate(self) -> x509.Certificate:
        return self._root.certificate

    @property
    def issuing_certificate(self) -> x509.Certificate:
        return self._issuing.certificate

    @property
    def untrusted_root_certificate(self) -> x509.Certificate:
        return self._untrusted_root.certificate

    @property
    def untrusted_issuing_certificate(self) -> x509.Certificate:
        return self._untrusted_issuing.certificate

    @property
    def content_signer_certificate(self) -> x509.Certificate:
        """Signs card data objects (the CHUID); issued by the trusted issuing CA."""
        return self._content_signer.certificate

    # -- signed data objects ---------------------------------------------------------------

    def sign_cms(self, content: bytes) -> bytes:
        """A detached CMS SignedData (DER) over `content` by the content signer, with its
        certificate embedded: the CHUID's issuer signature (tag 3E).

        Simplification: the encapsulated content type is id-data rather than PIV's
        id-PIV-CHUIDSecurityObject, and there is no pivSigner-DN attribute.
        """
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(self._content_signer.certificate, self._content_signer.key, hashes.SHA256())
            .sign(
                serialization.Encoding.DER,
                [
                    pkcs7.PKCS7Options.DetachedSignature,
                    pkcs7.PKCS7Options.Binary,
                    pkcs7.PKCS7Options.NoCapabilities,
                ],
            )
        )

    # -- card certificates -----------------------------------------------------------------

    def issue(
        self, request: CardCertificateRequest, *, now: datetime | None = None
    ) -> x509.Certificate:
        """Issue a card certificate; state "revoked" also revokes it, "untrusted" uses the
        untrusted hierarchy."""
        issuer = self._untrusted_issuing if request.state == "untrusted" else self._issuing
        certificate = build_card_certificate(request, issuer, now)
        if request.state == "revoked":
            self.revoke(certificate.serial_number)
        return certificate

    def issue_card_certificate(
        self,
        public_key: CardPublicKey,
        *,
        common_name: str,
        uuid: str,
        usage: CardUsage,
        state: CertState = "valid",
        days: int = 730,
        now: datetime | None = None,
        card_guid: UUID | None = None,
    ) -> x509.Certificate:
        """Issue a certificate for a card key: subject `CN=<common_name>, serialNumber=<uuid>`."""
        request = CardCertificateRequest(
            public_key=public_key,
            common_name=common_name,
            uuid=uuid,
            usage=usage,
            state=state,
            days=days,
            card_guid=card_guid,
        )
        return self.issue(request, now=now)

    def chain_for(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The issuers of `cert`, nearest first: `[issuing CA, root CA]` of its hierarchy.

        Raises ValueError for a certificate that neither hierarchy issued.
        """
        for issuing, root in (
            (self._issuing, self._root),
            (self._untrusted_issuing, self._untrusted_root),
        ):
            if is_issued_by(cert, issuing.certificate):
                return [issuing.certificate, root.certificate]
            if is_issued_by(cert, root.certificate) and cert != root.certificate:
                return [root.certificate]
        raise ValueError(f"certificate {cert.subject.rfc4514_string()} was not issued by this PKI")

    # -- revocation ------------------------------------------------------------------------

    def revoke(self, serial_number: int) -> None:
        """Add `serial_number` to the revocation list (kept on disk) and republish the CRL."""
        if serial_number <= 0:
            raise ValueError("a certificate serial number is a positive integer")
        with pki_lock(self._layout):
            revocations = RevocationList.load(self._layout.revoked)
            updated = revocations.with_revoked(serial_number, utc(None))
            # The list is saved (with the next CRL number) by the republication itself.
            self._refresh_crl(updated, force=updated is not revocations)

    def crl(self) -> x509.CertificateRevocationList:
        """The published CRL, republished first if it has expired or is missing."""
        with pki_lock(self._layout):
            return self._refresh_crl(RevocationList.load(self._layout.revoked))

    def _refresh_crl(
        self, revocations: RevocationList, *, force: bool = False
    ) -> x509.CertificateRevocationList:
        """Publish a new CRL unless the current one is still right. Call with the lock held."""
        current = load_crl(self._layout.crl_pem)
        if (
            not force
            and current is not None
            and crl_is_current(current, self._issuing.certificate, revocations)
            and _read_bytes(self._layout.crl_der) == crl_bytes(current)[1]
        ):
            return current
        numbered = revocations.next_number()
        crl = build_crl(self._issuing, numbered)
        # The number is saved first: a crash between the writes must never reuse a number.
        write_public_bytes(self._layout.revoked, numbered.to_json())
        pem, der = crl_bytes(crl)
        write_public_bytes(self._layout.crl_pem, pem)
        write_public_bytes(self._layout.crl_der, der)
        return crl

    # -- TLS servers -----------------------------------------------------------------------

    def server_certificate(
        self, name: str, hosts: Sequence[str] = DEFAULT_SERVER_HOSTS
    ) -> tuple[Path, Path]:
        """(chain PEM, key PEM) of a TLS server certificate for `hosts`, from the issuing CA.

        The chain file holds the server certificate then the issuing CA. An existing
        certificate is reused while it is in date, issued by the current issuing CA and
        names every one of `hosts`; otherwise a new key and certificate replace it.
        """
        if not SERVER_NAME_PATTERN.fullmatch(name):
            raise ValueError(f"a server name is letters, digits, '.', '_' and '-', not {name!r}")
        wanted = set(subject_alternative_names(hosts))
        if not wanted:
            raise ValueError("a server certificate needs at least one host")
        chain_path = self._layout.server_chain(name)
        key_path = self._layout.server_key(name)
        with pki_lock(self._layout):
            ensure_directory(self._layout.servers)
            if self._server_files_reusable(chain_path, key_path, wanted):
                return chain_path, key_path
            key = ec.generate_private_key(ec.SECP256R1())
            certificate = build_server_certificate(name, list(hosts), key, self._issuing)
            write_private_key(key_path, key)
            write_certificates(chain_path, [certificate, self._issuing.certificate])
        return chain_path, key_path

    def _server_files_reusable(
        self, chain_path: Path, key_path: Path, wanted: set[x509.GeneralName]
    ) -> bool:
        chain = read_certificates(chain_path)
        key = read_private_key(key_path)
        if len(chain) != 2 or key is None or chain[1] != self._issuing.certificate:
            return False
        leaf = chain[0]
        now = utc(None)
        if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc - SERVER_RENEWAL_MARGIN:
            return False
        if leaf.public_key() != key.public_key() or not is_issued_by(leaf, chain[1]):
            return False
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        return wanted <= set(san)


def _load_or_create(
    files: CaFiles,
    issuer: CertifiedKey | None,
    now: datetime,
    build: Callable[[], CertifiedKey],
) -> CertifiedKey:
    """The certificate and key stored in `files` if they are whole, match, are in date and
    are signed by `issuer` (by themselves when None); otherwise new ones from `build`, written
    key first so that a certificate on disk never lacks its key."""
    certificate = read_certificate(files.certificate)
    key = read_private_key(files.key)
    if certificate is not None and key is not None:
        signer = issuer.certificate if issuer is not None else certificate
        in_date = certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc
        if (
            in_date
            and certificate.public_key() == key.public_key()
            and is_issued_by(certificate, signer)
        ):
            return CertifiedKey(certificate, key)
    created = build()
    write_private_key(files.key, created.key)
    write_certificates(files.certificate, [created.certificate])
    return created


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
