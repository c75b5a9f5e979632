"""The portals' files, made from the harness's test PKI and personas.

`reference_service` never imports `simulator`: the portals read an accounts file, the CA
bundle and their settings. This module (harness side) writes those files:

* `export_accounts(personas, path)`: the personas' NHSmail accounts (scrypt password hashes,
  never the passwords) with their links, as the directory's seed file;
* `prepare_portals(data_dir, cis2_settings, ...)`: server certificates, the accounts file and
  one settings file per portal, with the client id and secret registered at the provider.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from conformance.oidc.stack import AGENT_URL, PORTAL_NAMES, PORTAL_PORTS
from reference_service.cis2.clients import load_clients
from reference_service.cis2.config import Settings
from reference_service.common.settings_file import settings_toml
from reference_service.directory.passwords import hash_password
from reference_service.directory.settings import PortalSettings
from simulator.atomic import atomic_write_bytes
from simulator.personas import Persona, load_personas
from simulator.pki import TestPKI

PORTALS = ("nhsmail", "myidentity")


def account_entry(persona: Persona) -> dict[str, object] | None:
    account = persona.nhsmail
    if account is None:
        return None
    identity = persona.care_identity
    first_org = identity.organisations[0] if identity.organisations else None
    return {
        "email": account.email,
        "display_name": f"{identity.given_name} {identity.family_name}",
        "organisation": first_org.org_name if first_org else "",
        "org_code": first_org.org_code if first_org else "",
        "password_hash": hash_password(account.password),
        "mfa_secret": account.mfa_secret,
        "aup_accepted": account.aup_accepted,
        "status": account.status,
        "linked_uuid": identity.uuid if account.linked else None,
    }


def export_accounts(personas: Iterable[Persona], path: Path) -> Path:
    """Write the directory's seed file (mode 0600: it holds password hashes and MFA secrets)."""
    entries = [entry for entry in map(account_entry, personas) if entry is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps({"accounts": entries}, indent=2) + "\n").encode(), 0o600)
    return path


def directory_paths(data_dir: Path) -> tuple[Path, Path]:
    """(database, accounts file) under DATA_DIR/directory."""
    base = Path(data_dir).resolve() / "directory"
    return base / "directory.sqlite3", base / "accounts.json"


def prepare_portals(
    data_dir: Path,
    cis2: Settings,
    *,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    agent_url: str = AGENT_URL,
    personas_file: Path | None = None,
    close_on_card_removal: tuple[str, ...] = (),
) -> dict[str, tuple[PortalSettings, Path]]:
    """Write both portals' files; {portal: (settings, settings file)}.

    The client ids and secrets come from the provider's registry (the portals are found by
    name; their redirect URIs must be on `ports`)."""
    data_dir = Path(data_dir).resolve()
    ports = {**PORTAL_PORTS, **(ports or {})}
    pki = TestPKI.open(data_dir / "pki")
    database, accounts = directory_paths(data_dir)
    if not accounts.exists():
        export_accounts(load_personas(personas_file).values(), accounts)
    clients = {client.name: client for client in load_clients(cis2.clients).values()}
    hosts = list(dict.fromkeys([host, "127.0.0.1", "localhost"]))
    urls = {portal: f"https://{host}:{ports[portal]}" for portal in PORTALS}
    prepared = {}
    for portal in PORTALS:
        client = clients.get(PORTAL_NAMES[portal])
        if client is None or client.client_secret is None:
            raise ValueError(f"the provider's registry has no {PORTAL_NAMES[portal]} client")
        redirect = f"{urls[portal]}/oidc/callback"
        if redirect not in client.redirect_uris:
            raise ValueError(f"{PORTAL_NAMES[portal]} is registered for {client.redirect_uris}")
        certificate, key = pki.server_certificate(portal, hosts)
        settings = PortalSettings(
            portal=portal,
            base_url=urls[portal],
            database=database,
            accounts=accounts,
            issuer=cis2.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            ca_bundle=pki.ca_bundle_path,
            tls_certificate=certificate,
            tls_key=key,
            nhsmail_url=urls["nhsmail"],
            myidentity_url=urls["myidentity"],
            agent_url=agent_url,
            close_on_card_removal=close_on_card_removal,
        )
        path = database.parent / f"{portal}.toml"
        atomic_write_bytes(path, settings_toml(settings).encode(), 0o600)
        prepared[portal] = (settings, path)
    return prepared
