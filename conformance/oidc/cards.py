"""In-process virtual cards that answer sign-in challenges (no PC/SC, no agent).

`CardSigner` stands in for the Identity Agent's signing step in headless flows and tests: it
holds a virtual card, verifies its PIN and has it sign the sign-in message of
docs/signin-protocol.md with key 9A, exactly as the agent does over PC/SC.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator.card.card import VirtualCard
from simulator.card.issue import issue_card
from simulator.card.store import load_card_state
from simulator.personas import get_persona
from simulator.piv.client import PivClient
from simulator.piv.constants import Alg, KeyRef
from simulator.reader.connection import InProcessConnection

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signin_message(origin: str, challenge: str) -> bytes:
    return b"careid-signin-v1\n" + origin.encode() + b"\n" + challenge.encode()


@dataclass
class CardSigner:
    """A persona's virtual card in this process."""

    card: VirtualCard
    pin: str = field(repr=False)
    client: PivClient = field(init=False)
    certificate: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.client = PivClient(InProcessConnection(self.card))
        self.client.select()
        self.certificate = self.client.certificate(KeyRef.AUTHENTICATION)

    @classmethod
    def issue(cls, persona: str, data_dir: Path, personas_file: Path | None = None) -> CardSigner:
        path = issue_card(persona, data_dir=data_dir, personas_file=personas_file)
        return cls(VirtualCard(load_card_state(path)), get_persona(persona, personas_file).card.pin)

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def sign_message(self, message: bytes) -> bytes:
        if self.client.pin_tries_left() is not None:
            self.client.verify_pin(self.pin)
        digest = hashlib.sha256(message).digest()
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            payload = SHA256_DIGEST_INFO + digest
            size = key.key_size // 8
            block = b"\x00\x01" + b"\xff" * (size - len(payload) - 3) + b"\x00" + payload
            algorithm = Alg.RSA2048 if key.key_size == 2048 else Alg.RSA3072
            return self.client.sign(KeyRef.AUTHENTICATION, algorithm, block)
        if isinstance(key, ec.EllipticCurvePublicKey):
            return self.client.sign(KeyRef.AUTHENTICATION, Alg.ECC_P256, digest)
        raise ValueError("the card's 9A key is neither RSA nor EC")

    def answer(self, origin: str, challenge: str) -> dict[str, str]:
        """The body the smartcard page posts: challenge, signature, certificate (base64url)."""
        signature = self.sign_message(signin_message(origin, challenge))
        return {
            "challenge": challenge,
            "signature": b64url(signature),
            "certificate": b64url(self.certificate_der),
        }
