"""What a load run aims at, written once as `run.json` for every Locust process to read.

* `RunConfig`: the issuer, the relying party registered there, the CA bundle, the pool, and
  the run's own settings (iterations per user, worker count). Locust processes get its path
  with `--careid-run` (workers on other machines need the same file and pool: copy them).
* `start_reference(...)`: the reference stack, each service in its own process on a free
  port of 127.0.0.1 (so the load is not measured against the harness's own GIL): the
  provider (`reference_service.cis2`, the personas and the load pool as users, one load
  relying party with PKCE, and the two portals registered), then the NHSmail portal and My
  Identity Portal sharing one NHSmail directory seeded with the pool's accounts
  (`loadtests.accounts`). Everything lives in the run's work folder; `stop()` ends the
  processes by their PIDs, portals first.
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

from conformance.oidc.stack import portal_client, user_entry
from conformance.oidc.target import free_port
from conformance.portals.stack import PORTALS, directory_paths, prepare_portals
from loadtests.accounts import ensure_accounts
from loadtests.pool import Pool
from reference_service.cis2.clients import Client, write_clients
from reference_service.cis2.config import Settings
from reference_service.common.settings_file import settings_toml
from reference_service.directory.settings import PortalSettings
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
    nhsmail_url: str | None = None  # the portals (portal flows); None: a provider alone
    myidentity_url: str | None = None
    # The portals' SQLite directory when this machine can reach it (the reference stack):
    # linking users unlink a pair they linked before (audited) to link it again.
    directory: str | None = None
    weights: dict[str, int] = field(default_factory=dict)  # flow name -> Locust weight

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


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM this one child (by its PID), SIGKILL when it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class ReferenceStack:
    """The reference stack's services, each in its own child process."""

    settings: Settings
    client: Client
    portals: dict[str, PortalSettings]
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def database(self) -> Path:
        return self.portals["nhsmail"].database

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def run_config(self, pool: Pool | None, **settings: Any) -> RunConfig:
        return RunConfig(
            issuer=self.settings.issuer,
            client_id=self.client.client_id,
            client_secret=self.client.client_secret,
            redirect_uri=self.client.redirect_uris[0],
            ca_bundle=str(self.settings.ca_bundle),
            pool=str(pool.directory) if pool is not None else None,
            nhsmail_url=self.portals["nhsmail"].origin,
            myidentity_url=self.portals["myidentity"].origin,
            directory=str(self.database),
            **settings,
        )

    def start(self, name: str, module: str, config: Path, ready_url: str) -> None:
        """Start `python -m module --config config`; returns once `ready_url` answers 200."""
        log = self.workdir / f"{name}.log"
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module, "--config", str(config)],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.processes[name] = process
        context = ssl.create_default_context(cafile=str(self.settings.ca_bundle))
        wait_for(ready_url, context, process, log)

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            stop_process(process)


def load_client() -> Client:
    return Client(
        client_id=f"{secrets.randbelow(10**12):012d}.apps.national",
        name="careid load relying party",
        redirect_uris=(f"{LOAD_RP}/callback",),
        client_secret=secrets.token_urlsafe(32),
        require_pkce=True,
    )


def prepare_reference(
    data_dir: Path, workdir: Path, pool: Pool | None, ports: dict[str, int]
) -> tuple[Settings, Path, Client]:
    """The provider's files under workdir/cis2: users (personas + pool), the load client
    and the two portals (their redirect URIs on `ports`)."""
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
    write_clients(registry, [client, *(portal_client(p, port=ports[p]) for p in PORTALS)])
    settings = Settings(
        base_url=f"https://127.0.0.1:{free_port()}",
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


def prepare_directory(data_dir: Path, workdir: Path, pool: Pool | None) -> None:
    """The portals' directory under workdir/directory, seeded with the pool's accounts only
    (the personas' accounts would each cost a scrypt hash and no load flow uses them)."""
    pki = Path(workdir) / "pki"
    if not pki.exists():
        # prepare_portals reads the PKI from its data dir: the run's work folder stands in
        # for it, with the real PKI behind a link and its own directory files.
        pki.symlink_to(Path(data_dir).resolve() / "pki", target_is_directory=True)
    _, accounts = directory_paths(workdir)
    accounts.parent.mkdir(parents=True, exist_ok=True)
    entries = []
    if pool is not None:
        seed = ensure_accounts(pool).seed_file
        entries = json.loads(seed.read_text(encoding="utf-8"))["accounts"]
    atomic_write_bytes(accounts, json.dumps({"accounts": entries}).encode(), 0o600)


def start_reference(data_dir: Path, workdir: Path, pool: Pool | None) -> ReferenceStack:
    """Start the provider, then both portals, each `python -m …` on a free loopback port;
    returns once all three serve."""
    workdir = Path(workdir).resolve()
    ports = {portal: free_port() for portal in PORTALS}
    settings, config, client = prepare_reference(data_dir, workdir, pool, ports)
    prepare_directory(data_dir, workdir, pool)
    prepared = prepare_portals(workdir, settings, ports=ports)
    portals = {portal: prepared[portal][0] for portal in PORTALS}
    stack = ReferenceStack(settings, client, portals, workdir)
    try:
        discovery = f"{settings.issuer}/.well-known/openid-configuration"
        stack.start("cis2", "reference_service.cis2", config, discovery)
        for portal in PORTALS:
            path = prepared[portal][1]
            stack.start(portal, f"reference_service.{portal}", path, portals[portal].origin + "/")
    except BaseException:
        stack.stop()
        raise
    return stack
