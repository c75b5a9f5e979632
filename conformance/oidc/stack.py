"""The reference provider's files, made from the harness's test PKI and personas.

`reference_service` never imports `simulator`: it reads a CA bundle, a CRL, a user directory
and a client registry from files. This module (on the harness side) writes those files:

* `export_users(personas, path)`: the personas' Care Identities as the provider's user
  directory (`users.json`);
* `prepare(data_dir, ...)`: the test PKI's server certificate for the provider, the user
  directory, a client registry with the two portals pre-registered, and the settings file.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from pathlib import Path

from reference_service.cis2.clients import (
    Client,
    load_clients,
    new_client_id,
    new_client_secret,
    write_clients,
)
from reference_service.cis2.config import Settings
from reference_service.common.settings_file import settings_toml
from simulator.atomic import atomic_write_bytes
from simulator.personas import Persona, load_personas
from simulator.pki import TestPKI

DEFAULT_PORT = 9443
PORTAL_PORTS = {"nhsmail": 9444, "myidentity": 9445}
PORTAL_NAMES = {"nhsmail": "NHSmail portal", "myidentity": "My Identity Portal"}
AGENT_URL = "http://127.0.0.1:47201"


def user_entry(persona: Persona) -> dict[str, object]:
    identity = persona.care_identity
    return {
        "uuid": identity.uuid,
        "title": identity.title,
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "status": "active",
        "email": persona.nhsmail.email if persona.nhsmail else None,
        "id_assurance_level": "3",
        # The authenticator app (AAL2) shares the persona's NHSmail MFA secret, when it has one.
        "totp_secret": persona.nhsmail.mfa_secret if persona.nhsmail else None,
        "organisations": [o.model_dump() for o in identity.organisations],
        "roles": [r.model_dump() for r in identity.roles],
    }


def export_users(
    personas: Iterable[Persona], path: Path, *, status: dict[str, str] | None = None
) -> Path:
    """Write the provider's user directory; `status` overrides the status by UUID."""
    users = []
    for persona in personas:
        entry = user_entry(persona)
        if status and persona.care_identity.uuid in status:
            entry["status"] = status[persona.care_identity.uuid]
        users.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps({"users": users}, indent=2) + "\n").encode(), 0o644)
    return path


def portal_client(portal: str, host: str = "127.0.0.1", port: int | None = None) -> Client:
    base = f"https://{host}:{port or PORTAL_PORTS[portal]}"
    return Client(
        client_id=new_client_id(),
        name=PORTAL_NAMES[portal],
        redirect_uris=(f"{base}/oidc/callback",),
        client_secret=new_client_secret(),
        post_logout_redirect_uris=(f"{base}/signed-out",),
        backchannel_logout_uri=f"{base}/oidc/backchannel-logout",
        require_pkce=True,
    )


def ensure_registry(path: Path) -> list[Client]:
    """The registry, created with the two portals when it does not exist yet."""
    if not path.exists():
        write_clients(path, [portal_client("nhsmail"), portal_client("myidentity")])
    return list(load_clients(path).values())


def prepare(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    agent_url: str = AGENT_URL,
    personas_file: Path | None = None,
) -> tuple[Settings, Path]:
    """Write every file the provider reads; (settings, settings file path)."""
    data_dir = Path(data_dir).resolve()
    service_dir = data_dir / "cis2"
    service_dir.mkdir(parents=True, exist_ok=True)
    pki = TestPKI.open(data_dir / "pki")
    hosts = list(dict.fromkeys([host, "127.0.0.1", "localhost"]))
    certificate, key = pki.server_certificate("cis2", hosts)
    users = export_users(load_personas(personas_file).values(), service_dir / "users.json")
    clients = service_dir / "clients.toml"
    ensure_registry(clients)
    settings = Settings(
        base_url=f"https://{host}:{port}",
        data_dir=service_dir,
        ca_bundle=pki.ca_bundle_path,
        crl=pki.crl_path,
        users=users,
        clients=clients,
        agent_url=agent_url,
        tls_certificate=certificate,
        tls_key=key,
    )
    path = service_dir / "cis2.toml"
    atomic_write_bytes(path, settings_toml(settings).encode(), 0o644)
    return settings, path


def random_state() -> str:
    return secrets.token_urlsafe(16)
