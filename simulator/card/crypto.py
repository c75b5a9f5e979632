"""The card's cryptography: private-key operations on its slots and the admin-key block cipher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from simulator.iso7816.sw import SW, StatusError
from simulator.iso7816.tlv import tlv
from simulator.piv.constants import EC_SIZE, RSA_BITS, Alg

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_CURVES: dict[Alg, ec.EllipticCurve] = {Alg.ECC_P256: ec.SECP256R1(), Alg.ECC_P384: ec.SECP384R1()}

# DER DigestInfo prefixes (RFC 8017 §9.2): a PKCS#1 v1.5 block carrying one of these is signed
# through OpenSSL; anything else falls back to the raw RSA operation, as a card does.
_DIGEST_INFO: dict[bytes, hashes.HashAlgorithm] = {
    bytes.fromhex("3021300906052b0e03021a05000414"): hashes.SHA1(),  # noqa: S303 - clients send it
    bytes.fromhex("302d300d06096086480165030402040500041c"): hashes.SHA224(),
    bytes.fromhex("3031300d060960864801650304020105000420"): hashes.SHA256(),
    bytes.fromhex("3041300d060960864801650304020205000430"): hashes.SHA384(),
    bytes.fromhex("3051300d060960864801650304020305000440"): hashes.SHA512(),
}


@dataclass
class SlotKey:
    """An asymmetric key in a PIV slot."""

    algorithm: Alg
    private_key: PrivateKey
    _crt: tuple[int, ...] | None = field(default=None, repr=False)

    @classmethod
    def generate(cls, algorithm: Alg) -> SlotKey:
        if algorithm in RSA_BITS:
            return cls(algorithm, rsa.generate_private_key(65537, RSA_BITS[algorithm]))
        if algorithm in _CURVES:
            return cls(algorithm, ec.generate_private_key(_CURVES[algorithm]))
        raise StatusError(SW.INCORRECT_DATA, f"cannot generate a key of algorithm {algorithm:02X}")

    @classmethod
    def from_pem(cls, algorithm: Alg, pem: bytes) -> SlotKey:
        key = serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("a slot key is RSA or EC")
        return cls(algorithm, key)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def is_rsa(self) -> bool:
        return isinstance(self.private_key, rsa.RSAPrivateKey)

    @property
    def input_length(self) -> int:
        """Bytes the card expects in tag 81: the modulus size (RSA) or the field size (EC)."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.key_size // 8
        return EC_SIZE[self.algorithm]

    def public_key_template(self) -> bytes:
        """The `7F 49` template GENERATE ASYMMETRIC KEY PAIR answers with."""
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            modulus = numbers.n.to_bytes(public.key_size // 8, "big")
            exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
            return tlv(0x7F49, tlv(0x81, modulus) + tlv(0x82, exponent))
        point = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return tlv(0x7F49, tlv(0x86, point))

    def private_operation(self, block: bytes) -> bytes:
        """Sign (or, for RSA key management, decrypt) a client-prepared block."""
        if len(block) != self.input_length:
            raise StatusError(SW.INCORRECT_DATA, "input length does not match the key")
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            algorithm = hashes.SHA384() if self.algorithm == Alg.ECC_P384 else hashes.SHA256()
            return key.sign(block, ec.ECDSA(utils.Prehashed(algorithm)))
        digest = _pkcs1_digest(block)
        if digest is not None:
            algorithm_, value = digest
            return key.sign(value, padding.PKCS1v15(), utils.Prehashed(algorithm_))
        return self._raw_rsa(key, int.from_bytes(block, "big")).to_bytes(len(block), "big")

    def key_agreement(self, peer_point: bytes) -> bytes:
        """ECDH with the key management key: the shared secret's x coordinate."""
        key = self.private_key
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise StatusError(SW.INCORRECT_DATA, "key agreement needs an EC key")
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, peer_point)
        except ValueError as exc:
            raise StatusError(SW.INCORRECT_DATA, "not a point on the key's curve") from exc
        return key.exchange(ec.ECDH(), peer)

    def _raw_rsa(self, key: rsa.RSAPrivateKey, message: int) -> int:
        if self._crt is None:
            numbers = key.private_numbers()
            self._crt = (numbers.public_numbers.n, numbers.p, numbers.q, numbers.dmp1,
                         numbers.dmq1, numbers.iqmp)  # fmt: skip
        n, p, q, dmp1, dmq1, iqmp = self._crt
        if message >= n:
            raise StatusError(SW.INCORRECT_DATA, "input is not smaller than the modulus")
        m1 = pow(message, dmp1, p)
        m2 = pow(message, dmq1, q)
        return m2 + q * ((iqmp * (m1 - m2)) % p)


def _pkcs1_digest(block: bytes) -> tuple[hashes.HashAlgorithm, bytes] | None:
    """(hash, digest) when `block` is a PKCS#1 v1.5 signature block over a known DigestInfo."""
    if block[:2] != b"\x00\x01":
        return None
    separator = block.find(b"\x00", 2)
    if separator < 10 or block[2:separator] != b"\xff" * (separator - 2):
        return None
    info = block[separator + 1 :]
    for prefix, algorithm in _DIGEST_INFO.items():
        if info.startswith(prefix) and len(info) == len(prefix) + algorithm.digest_size:
            return algorithm, info[len(prefix) :]
    return None


def encrypt_block(algorithm: Alg, key: bytes, block: bytes) -> bytes:
    """One ECB block with the card management key (the 9B challenge-response)."""
    cipher_algorithm: Any = TripleDES(key) if algorithm == Alg.TDES else algorithms.AES(key)
    encryptor = Cipher(cipher_algorithm, modes.ECB()).encryptor()  # noqa: S305 - PIV uses one block
    return encryptor.update(block) + encryptor.finalize()
