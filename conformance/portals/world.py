"""The reference stack in this process over HTTPS: the cis2 provider and both portals, each on
its own free loopback port, plus a headless browser that walks the manuals' steps.

Used by the portal tests and by anything that needs the portals without `careid service up`.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from conformance.oidc.cards import CardSigner
from conformance.oidc.flow import FlowResult
from conformance.oidc.stack import AGENT_URL, export_users, portal_client
from conformance.portals.client import PortalClient
from conformance.portals.stack import PORTALS, prepare_portals
from reference_service.cis2.clients import write_clients
from reference_service.cis2.config import Settings
from reference_service.cis2.server import BackgroundServer
from reference_service.directory.server import BackgroundPortal
from reference_service.directory.settings import PortalSettings
from reference_service.directory.store import Directory
from simulator.personas import get_persona, load_personas
from simulator.pki import TestPKI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PortalWorld:
    """`with PortalWorld(tmp_path) as world:` starts cis2 + NHSmail portal + My Identity Portal."""

    data_dir: Path
    close_on_card_removal: tuple[str, ...] = ()
    agent_url: str = AGENT_URL  # where the provider's smartcard page and the portals find the agent
    cis2: Settings = field(init=False)
    portals: dict[str, PortalSettings] = field(init=False)
    _servers: list[BackgroundServer | BackgroundPortal] = field(default_factory=list)
    _cards: dict[str, CardSigner] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        pki = TestPKI.open(self.data_dir / "pki")
        service = self.data_dir / "cis2"
        ports = {portal: free_port() for portal in PORTALS}
        registry = service / "clients.toml"
        write_clients(registry, [portal_client(p, port=ports[p]) for p in PORTALS])
        certificate, key = pki.server_certificate("cis2", ["127.0.0.1", "localhost"])
        self.cis2 = Settings(
            base_url=f"https://127.0.0.1:{free_port()}",
            data_dir=service,
            ca_bundle=pki.ca_bundle_path,
            crl=pki.crl_path,
            users=export_users(load_personas().values(), service / "users.json"),
            clients=registry,
            tls_certificate=certificate,
            tls_key=key,
            agent_url=self.agent_url,
        )
        prepared = prepare_portals(
            self.data_dir,
            self.cis2,
            ports=ports,
            agent_url=self.agent_url,
            close_on_card_removal=self.close_on_card_removal,
        )
        self.portals = {portal: prepared[portal][0] for portal in PORTALS}
        self.pki = pki

    def __enter__(self) -> PortalWorld:
        try:
            self._servers.append(BackgroundServer(self.cis2).start())
            for portal in PORTALS:
                self._servers.append(BackgroundPortal(self.portals[portal]).start())
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()

    def url(self, portal: str, path: str = "/") -> str:
        return self.portals[portal].origin + path

    def directory(self) -> Directory:
        return Directory(self.portals["nhsmail"].database)

    def card(self, persona: str) -> CardSigner:
        if persona not in self._cards:
            self._cards[persona] = CardSigner.issue(persona, self.data_dir)
        return self._cards[persona]

    def browser(self) -> Browser:
        return Browser(self)


class Browser(PortalClient):
    """A headless browser at the world's portals, trusting the test CA; cards by persona."""

    def __init__(self, world: PortalWorld) -> None:
        context = ssl.create_default_context(cafile=str(world.cis2.ca_bundle))
        origins = {portal: settings.origin for portal, settings in world.portals.items()}
        super().__init__(httpx.Client(verify=context, timeout=20.0), origins)
        self.world = world

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def password_login(
        self, portal: str, persona: str, password: str | None = None
    ) -> httpx.Response:
        account = get_persona(persona).nhsmail
        if account is None:
            raise ValueError(f"{persona} has no NHSmail account")
        return self.post(
            portal,
            "/login",
            {
                "email": account.email,
                "password": password if password is not None else account.password,
            },
        )

    def care_identity(
        self,
        portal: str,
        start: httpx.Response,
        persona: str | None,
        *,
        mechanism: str = "smartcard",
    ) -> tuple[FlowResult, httpx.Response]:
        """From a redirect to the provider: sign in with the persona's card, come back."""
        signer = self.world.card(persona) if persona else None
        return self.through_provider(portal, start, signer, mechanism=mechanism)
