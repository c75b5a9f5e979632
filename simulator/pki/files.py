"""The on-disk layout of a test PKI directory, and reading and writing its PEM files.

Every file is written atomically (see `simulator.atomic`), so a process that reads the
directory while another one writes it sees whole files only. Changes that touch several
files are made under `pki_lock`, an exclusive `fcntl.flock` on a lock file in the directory.

Private keys are PEM PKCS#8 *unencrypted*, mode 0600: this is a throw-away test PKI.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator.atomic import atomic_write_bytes

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

KEY_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
DIRECTORY_MODE = 0o700


@dataclass(frozen=True)
class CaFiles:
    """Where one certificate and its private key are kept (a CA, or the content signer)."""

    certificate: Path
    key: Path


@dataclass(frozen=True)
class PkiLayout:
    """The file names inside a test PKI directory."""

    directory: Path

    @property
    def lock(self) -> Path:
        return self.directory / ".lock"

    @property
    def root(self) -> CaFiles:
        return self._ca("root-ca")

    @property
    def issuing(self) -> CaFiles:
        return self._ca("issuing-ca")

    @property
    def untrusted_root(self) -> CaFiles:
        return self._ca("untrusted-root-ca")

    @property
    def untrusted_issuing(self) -> CaFiles:
        return self._ca("untrusted-issuing-ca")

    @property
    def content_signer(self) -> CaFiles:
        return self._ca("content-signer")

    @property
    def ca_bundle(self) -> Path:
        return self.directory / "ca-bundle.pem"

    @property
    def crl_pem(self) -> Path:
        return self.directory / "crl.pem"

    @property
    def crl_der(self) -> Path:
        return self.directory / "crl.der"

    @property
    def revoked(self) -> Path:
        return self.directory / "revoked.json"

    @property
    def servers(self) -> Path:
        return self.directory / "servers"

    def server_chain(self, name: str) -> Path:
        return self.servers / f"{name}.pem"

    def server_key(self, name: str) -> Path:
        return self.servers / f"{name}.key"

    def _ca(self, stem: str) -> CaFiles:
        return CaFiles(self.directory / f"{stem}.pem", self.directory / f"{stem}.key")


def ensure_directory(path: Path) -> None:
    """Create `path` (private to the user: it holds keys) unless it exists."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)


@contextmanager
def pki_lock(layout: PkiLayout) -> Iterator[None]:
    """Hold the directory's exclusive lock; blocks until other holders let go.

    `flock` locks belong to the open file, so this also serialises threads of one process
    as long as each takes the lock through this function.
    """
    ensure_directory(layout.directory)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, KEY_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_private_key(path: Path, key: PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write_bytes(path, data, KEY_FILE_MODE)


def read_private_key(path: Path) -> PrivateKey | None:
    """The key in `path`, or None when it is missing, unreadable or not RSA/EC."""
    try:
        # The RSA consistency check costs ~90 ms a key; these files are our own, written
        # atomically, and callers compare the key with its certificate anyway.
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (OSError, ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    return None


def certificates_pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def write_certificates(path: Path, certificates: Sequence[x509.Certificate]) -> None:
    atomic_write_bytes(path, certificates_pem(certificates), PUBLIC_FILE_MODE)


def read_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates in a PEM file; empty when it is missing or unreadable."""
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return []


def read_certificate(path: Path) -> x509.Certificate | None:
    certificates = read_certificates(path)
    return certificates[0] if certificates else None


def write_public_bytes(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, PUBLIC_FILE_MODE)
