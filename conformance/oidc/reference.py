"""The reference provider assembled in this process, for tests and the suite's default target.

`ReferenceWorld` holds a data directory with the test PKI, the personas' user directory, a
client registry with test relying parties, and a `Provider` over a fresh database, with a
clock the caller can move. `asgi_client()` talks to it without sockets; the suite's
default target serves it over HTTPS instead (`server.BackgroundServer`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from joserfc.jwk import ECKey, RSAKey

from conformance.oidc.cards import CardSigner
from conformance.oidc.stack import export_users
from reference_service.cis2.app import create_app
from reference_service.cis2.backchannel_logout import LogoutDelivery
from reference_service.cis2.clients import Client, write_clients
from reference_service.cis2.config import Settings
from reference_service.cis2.provider import Provider
from reference_service.cis2.store import Store
from simulator.personas import load_personas
from simulator.pki import TestPKI

BASE_URL = "https://127.0.0.1:9443"
RP = "https://rp.example.test"


class Clock:
    """A clock tests can move: `clock.advance(seconds)`."""

    def __init__(self, start: float | None = None) -> None:
        import time  # noqa: PLC0415

        self.now = start if start is not None else time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RelyingPartySpec:
    client: Client
    private_key: RSAKey | ECKey | None = None


def relying_parties() -> dict[str, RelyingPartySpec]:
    """Relying parties registered in the test registry, by role in the tests."""
    rsa_key = RSAKey.generate_key(2048, parameters={"kid": "rp-rsa", "use": "sig"}, private=True)
    jwks = {"keys": [rsa_key.as_dict(private=False)]}

    def client(name: str, **fields: Any) -> Client:
        values: dict[str, Any] = {
            "client_id": f"{secrets.randbelow(10**12):012d}.apps.national",
            "name": name,
            "redirect_uris": (f"{RP}/{name}/callback",),
            "client_secret": secrets.token_urlsafe(32),
            "post_logout_redirect_uris": (f"{RP}/{name}/signed-out",),
            "backchannel_logout_uri": f"{RP}/{name}/backchannel",
        }
        values.update(fields)
        return Client(**values)

    return {
        "secret": RelyingPartySpec(client("secret")),
        "pkce": RelyingPartySpec(client("pkce", require_pkce=True)),
        "es256": RelyingPartySpec(
            client("es256", id_token_signed_response_alg="ES256")  # noqa: S106
        ),
        "jwt": RelyingPartySpec(
            client(
                "jwt",
                token_endpoint_auth_method="private_key_jwt",  # noqa: S106
                client_secret=None,
                jwks=jwks,
            ),
            rsa_key,
        ),
    }


@dataclass
class ReferenceWorld:
    """Files, provider and app of one test module; cards are issued lazily and cached."""

    data_dir: Path
    pki: TestPKI
    settings: Settings
    clients: dict[str, RelyingPartySpec]
    clock: Clock = field(default_factory=Clock)
    deliveries: list[LogoutDelivery] = field(default_factory=list)
    audit_events: list[dict[str, Any]] = field(default_factory=list)
    _cards: dict[str, CardSigner] = field(default_factory=dict)
    _provider: Provider | None = None
    _app: FastAPI | None = None

    @classmethod
    def create(cls, data_dir: Path, *, base_url: str = BASE_URL) -> ReferenceWorld:
        data_dir = Path(data_dir)
        pki = TestPKI.open(data_dir / "pki")
        service = data_dir / "cis2"
        users = export_users(load_personas().values(), service / "users.json")
        clients = relying_parties()
        registry = service / "clients.toml"
        write_clients(registry, [spec.client for spec in clients.values()])
        settings = Settings(
            base_url=base_url,
            data_dir=service,
            ca_bundle=pki.ca_bundle_path,
            crl=pki.crl_path,
            users=users,
            clients=registry,
        )
        return cls(data_dir, pki, settings, clients)

    def audit(self, event: str, **fields: Any) -> None:
        self.audit_events.append({"event": event, **fields})

    def deliver(self, delivery: LogoutDelivery) -> int:
        self.deliveries.append(delivery)
        return 200

    def fetch_jwks(self, uri: str) -> dict[str, Any]:
        raise OSError(f"no network in tests: {uri}")

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = Provider(
                self.settings,
                Store(self.settings.database),
                clock=self.clock,
                fetch_jwks=self.fetch_jwks,
                deliver_logout=self.deliver,
                audit=self.audit,
            )
        return self._provider

    @property
    def app(self) -> FastAPI:
        if self._app is None:
            self._app = create_app(self.provider)
        return self._app

    def card(self, persona: str) -> CardSigner:
        if persona not in self._cards:
            self._cards[persona] = CardSigner.issue(persona, self.data_dir)
        return self._cards[persona]

    def set_user_status(self, uuid: str, status: str) -> None:
        path = self.settings.users
        document = json.loads(path.read_text())
        for user in document["users"]:
            if user["uuid"] == uuid:
                user["status"] = status
        path.write_text(json.dumps(document))


def authorize_url(world: ReferenceWorld, rp: str = "secret", **params: str) -> str:
    """An authorization request of the test relying party `rp` (defaults overridable)."""
    from urllib.parse import urlencode  # noqa: PLC0415

    client = world.clients[rp].client
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "scope": "openid profile",
        "state": "st-123",
        "nonce": "n-456",
    }
    query.update(params)
    return f"{world.settings.issuer}/authorize?{urlencode(query)}"


def token_form(
    world: ReferenceWorld, code: str, rp: str = "secret", **extra: str
) -> dict[str, str]:
    """The token request body of `rp` for `code` (client_secret_post)."""
    client = world.clients[rp].client
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
        "client_id": client.client_id,
    }
    if client.client_secret:
        form["client_secret"] = client.client_secret
    form.update(extra)
    return form
