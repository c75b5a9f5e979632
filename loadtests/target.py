"""What a load run aims at, written once as `run.json` for every Locust process to read.

* `RunConfig`: the issuer, the relying party registered there, the CA bundle, the pool, and
  the run's own settings (iterations per user, worker count). Locust processes get its path
  with `--careid-run` (workers on other machines need the same file and pool: copy them).
* `start_reference(...)`: the reference provider (`reference_service.cis2`) in its own
  process on a free port of 127.0.0.1, with the personas and the load pool as users and one
  load relying party (PKCE required, client_secret_post). `stop()` ends it by its PID.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conformance.oidc.stack import user_entry
from conformance.oidc.target import free_port
from loadtests.pool import Pool
from reference_service.cis2.clients import Client, write_clients
from reference_service.cis2.config import Settings
from reference_service.common.settings_file import settings_toml
from simulator.atomic import atomic_write_bytes
from simulator.personas import load_personas
from simulator.pki import TestPKI

RUN_FILE = "run.json"
LOAD_RP = "https://127.0.0.1:9/load-rp"  # never requested: the flow stops at the redirect


@dataclass(frozen=True)
class RunConfig:
    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    pool: str | None = None  # the pool directory (smartcard and TOTP users)
    iterations: int = 0  # per user; 0: until the run time ends
    workers: int = 1  # the pool is split this many ways (one slice per worker)
    smartcard_acr: str = "AAL3_ANY"
    totp_acr: str = "AAL2_OR_AAL3_ANY"
    scope: str = "openid profile"
    vpcd_readers: tuple[str, ...] = ()  # real vpcd slots for the VpcdSignIn users

    @property
    def origin(self) -> str:
        scheme, _, rest = self.issuer.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    def verify(self) -> ssl.SSLContext | bool:
        if self.ca_bundle is None:
            return True
        return ssl.create_default_context(cafile=self.ca_bundle)

    def save(self, path: Path) -> Path:
        atomic_write_bytes(Path(path), json.dumps(asdict(self), indent=2).encode(), 0o600)
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        document: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        document["vpcd_readers"] = tuple(document.get("vpcd_readers") or ())
        return cls(**document)


@dataclass
class ReferenceProcess:
    """The reference provider running in a child process."""

    process: subprocess.Popen[bytes]
    settings: Settings
    client: Client
    log: Path

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def run_config(self, pool: Pool | None, **settings: Any) -> RunConfig:
        return RunConfig(
            issuer=self.settings.issuer,
            client_id=self.client.client_id,
            client_secret=self.client.client_secret,
            redirect_uri=self.client.redirect_uris[0],
            ca_bundle=str(self.settings.ca_bundle),
            pool=str(pool.directory) if pool is not None else None,
            **settings,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load_client() -> Client:
    return Client(
        client_id=f"{secrets.randbelow(10**12):012d}.apps.national",
        name="careid load relying party",
        redirect_uris=(f"{LOAD_RP}/callback",),
        client_secret=secrets.token_urlsafe(32),
        require_pkce=True,
    )


def prepare_reference(
    data_dir: Path, workdir: Path, pool: Pool | None, *, port: int | None = None
) -> tuple[Settings, Path, Client]:
    """The provider's files under workdir/cis2: users (personas + pool), one load client."""
    pki = TestPKI.open(Path(data_dir) / "pki")
    certificate, key = pki.server_certificate("careid-load", ["127.0.0.1", "localhost"])
    service = Path(workdir) / "cis2"
    service.mkdir(parents=True, exist_ok=True)
    users = [user_entry(p) for p in load_personas().values()]
    if pool is not None:
        users.extend(p.user_entry() for p in pool.personas)
    users_file = service / "users.json"
    atomic_write_bytes(users_file, json.dumps({"users": users}).encode(), 0o644)
    client = load_client()
    registry = service / "clients.toml"
    write_clients(registry, [client])
    settings = Settings(
        base_url=f"https://127.0.0.1:{port or free_port()}",
        data_dir=service,
        ca_bundle=pki.ca_bundle_path,
        crl=pki.crl_path,
        users=users_file,
        clients=registry,
        tls_certificate=certificate,
        tls_key=key,
    )
    path = service / "cis2.toml"
    atomic_write_bytes(path, settings_toml(settings).encode(), 0o644)
    return settings, path, client


def wait_for(
    url: str,
    verify: ssl.SSLContext | bool,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, verify=verify, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def start_reference(data_dir: Path, workdir: Path, pool: Pool | None) -> ReferenceProcess:
    """Start `python -m reference_service.cis2` on a free loopback port; returns once it
    serves its discovery document."""
    settings, config, client = prepare_reference(data_dir, workdir, pool)
    log = Path(workdir) / "cis2.log"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "reference_service.cis2", "--config", str(config)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    running = ReferenceProcess(process, settings, client, log)
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_bundle))
        wait_for(f"{settings.issuer}/.well-known/openid-configuration", context, process, log)
    except BaseException:
        running.stop()
        raise
    return running
