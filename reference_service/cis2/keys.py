"""The provider's signing keys: one active key per algorithm, rotation, and the JWKS.

Rotating makes a new key the signer for its algorithm; the old one is *retired*: it signs
nothing more but stays in the JWKS for `retention` seconds, so ID tokens and logout tokens it
signed still verify at relying parties that cache the key set. All JOSE work is joserfc's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from reference_service.cis2.store import Store

SIGNING_ALGORITHMS = ("RS256", "ES256")
DEFAULT_RETENTION = 7 * 24 * 3600.0

Key = RSAKey | ECKey


def _generate(alg: str, kid: str) -> Key:
    parameters: Any = {"kid": kid, "use": "sig", "alg": alg}
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=parameters, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, private=True)
    raise ValueError(f"unsupported signing algorithm {alg}")


def _import(jwk: dict[str, Any]) -> Key:
    if jwk.get("kty") == "RSA":
        return RSAKey.import_key(jwk)
    return ECKey.import_key(jwk)


class KeyManager:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        *,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        self.store = store
        self.clock = clock
        self.retention = retention
        self._cache: dict[str, Key] = {}
        self.ensure()

    def ensure(self) -> None:
        """Create an active key for every algorithm that has none."""
        active = {row["alg"] for row in self.store.signing_keys() if row["retired"] is None}
        for alg in SIGNING_ALGORITHMS:
            if alg not in active:
                self._add(alg)

    def _add(self, alg: str) -> str:
        kid = f"{alg.lower()}-{secrets.token_urlsafe(9)}"
        key = _generate(alg, kid)
        self.store.add_signing_key(kid, alg, key.as_dict(private=True), self.clock())
        self._cache[kid] = key
        return kid

    def rotate(self, alg: str = "RS256") -> str:
        """A new active key for `alg`; the old one is retired (kept for verification)."""
        if alg not in SIGNING_ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {alg}")
        kid = self._add(alg)
        self.store.delete_signing_keys_retired_before(self.clock() - self.retention)
        return kid

    def _key(self, kid: str, jwk_text: str) -> Key:
        key = self._cache.get(kid)
        if key is None:
            key = _import(json.loads(jwk_text))
            self._cache[kid] = key
        return key

    def active(self, alg: str) -> tuple[str, Key]:
        for row in reversed(self.store.signing_keys()):
            if row["alg"] == alg and row["retired"] is None:
                return row["kid"], self._key(row["kid"], row["jwk"])
        self.ensure()
        return self.active(alg)

    def published(self) -> list[tuple[str, Key]]:
        """Every key a relying party may need: active, and retired within the retention."""
        horizon = self.clock() - self.retention
        return [
            (row["kid"], self._key(row["kid"], row["jwk"]))
            for row in self.store.signing_keys()
            if row["retired"] is None or row["retired"] >= horizon
        ]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for _, key in self.published()]}

    def key_set(self) -> KeySet:
        return KeySet([key for _, key in self.published()])

    def sign(self, claims: dict[str, Any], alg: str = "RS256", typ: str | None = None) -> str:
        kid, key = self.active(alg)
        header: dict[str, Any] = {"alg": alg, "kid": kid}
        if typ:
            header["typ"] = typ
        return jwt.encode(header, claims, key, algorithms=[alg])

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this provider signed (signature only; callers check the rest).

        Raises ValueError for anything that is not such a token.
        """
        try:
            decoded = jwt.decode(token, self.key_set(), algorithms=list(SIGNING_ALGORITHMS))
        except Exception as exc:  # joserfc raises several unrelated types for bad input
            raise ValueError(f"not a token of this provider: {type(exc).__name__}") from None
        return dict(decoded.claims)
