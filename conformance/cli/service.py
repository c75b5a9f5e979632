"""`careid service …` runs the reference sign-in service; `careid client …` registers relying
parties with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from conformance.cli.options import data_dir_option, personas_file_option
from conformance.oidc.stack import AGENT_URL, DEFAULT_PORT, ensure_registry, prepare
from reference_service.cis2.clients import (
    AUTH_METHODS,
    ID_TOKEN_ALGS,
    Client,
    RegistryError,
    add_client,
    new_client_id,
    new_client_secret,
)

if TYPE_CHECKING:
    from reference_service.cis2.config import Settings
    from reference_service.directory.server import BackgroundPortal


def _registry(data_dir: Path) -> Path:
    return data_dir.resolve() / "cis2" / "clients.toml"


@click.group()
def service() -> None:
    """The reference sign-in service (CIS2-style OpenID Connect provider)."""


@service.command("up")
@data_dir_option
@personas_file_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--agent-url", default=AGENT_URL, show_default=True, help="The Identity Agent.")
@click.option(
    "--close-on-card-removal",
    "close_on_removal",
    multiple=True,
    help="Organisation code whose policy closes NHSmail sessions on card removal (repeatable).",
)
def service_up(
    data_dir: Path,
    personas_file: Path | None,
    host: str,
    port: int,
    agent_url: str,
    close_on_removal: tuple[str, ...],
) -> None:
    """Start the cis2 provider and both portals over HTTPS in the foreground (Ctrl-C stops).

    Writes its files first: the server certificate from the test PKI, the user directory
    from the personas, the client registry (with the NHSmail portal and My Identity Portal
    pre-registered) and its settings, all under DATA_DIR/cis2; then the portals' directory
    seed (from the personas) and settings under DATA_DIR/directory. The NHSmail portal
    listens on port 9444 and My Identity Portal on 9445.
    """
    from reference_service.cis2.server import build_app, uvicorn_config  # noqa: PLC0415

    settings, path = prepare(
        data_dir, host=host, port=port, agent_url=agent_url, personas_file=personas_file
    )
    import uvicorn  # noqa: PLC0415

    click.echo(f"cis2 issuer:   {settings.issuer}")
    click.echo(f"discovery:     {settings.issuer}/.well-known/openid-configuration")
    click.echo(f"settings:      {path}")
    click.echo(f"clients:       {settings.clients}")
    click.echo(f"trusted CAs:   {settings.ca_bundle}")
    portals = _start_portals(data_dir, settings, host, agent_url, personas_file, close_on_removal)
    try:
        uvicorn.Server(uvicorn_config(settings, build_app(settings))).run()
    finally:
        for portal in portals:
            portal.stop()


def _start_portals(
    data_dir: Path,
    settings: Settings,
    host: str,
    agent_url: str,
    personas_file: Path | None,
    close_on_removal: tuple[str, ...],
) -> list[BackgroundPortal]:
    """The NHSmail portal and My Identity Portal, each on its own port, in threads."""
    from conformance.portals.stack import prepare_portals  # noqa: PLC0415
    from reference_service.directory.server import BackgroundPortal  # noqa: PLC0415

    try:
        prepared = prepare_portals(
            data_dir,
            settings,
            host=host,
            agent_url=agent_url,
            personas_file=personas_file,
            close_on_card_removal=close_on_removal,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    started = []
    for name, (portal, path) in prepared.items():
        started.append(BackgroundPortal(portal).start())
        click.echo(f"{name + ':':<14} {portal.base_url}  (settings {path})")
    return started


@service.command("rotate-keys")
@data_dir_option
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True)
def rotate_keys(data_dir: Path, alg: str) -> None:
    """Make a new signing key active; the old one stays in the JWKS for verification."""
    import time  # noqa: PLC0415

    from reference_service.cis2.keys import KeyManager  # noqa: PLC0415
    from reference_service.cis2.store import Store  # noqa: PLC0415

    store = Store(data_dir.resolve() / "cis2" / "cis2.sqlite3")
    kid = KeyManager(store, time.time).rotate(alg)
    click.echo(f"new {alg} signing key: {kid}")


@click.group()
def client() -> None:
    """Relying parties registered with the reference sign-in service."""


@client.command("add")
@data_dir_option
@click.option("--name", required=True, help="The relying party's name (shown to users).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option(
    "--auth",
    type=click.Choice(AUTH_METHODS),
    default="client_secret_post",
    show_default=True,
    help="Client authentication at the token endpoint.",
)
@click.option("--jwks-uri", help="private_key_jwt: where the client's public keys are.")
@click.option("--require-pkce", is_flag=True, help="Refuse authorization without PKCE S256.")
@click.option(
    "--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), default="RS256", show_default=True
)
@click.option("--backchannel-logout-uri", help="Where logout tokens are POSTed.")
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--client-id", help="Default: 12 random digits + .apps.national")
@click.option("--json", "as_json", is_flag=True, help="Print the registration as JSON.")
def client_add(
    data_dir: Path,
    name: str,
    redirect_uris: tuple[str, ...],
    auth: str,
    jwks_uri: str | None,
    require_pkce: bool,
    id_token_alg: str,
    backchannel_logout_uri: str | None,
    post_logout: tuple[str, ...],
    client_id: str | None,
    as_json: bool,
) -> None:
    """Register a relying party; prints its client_id (and client_secret)."""
    from reference_service.cis2.clients import parse_client  # noqa: PLC0415

    registry = _registry(data_dir)
    ensure_registry(registry)
    table: dict[str, object] = {
        "client_id": client_id or new_client_id(),
        "name": name,
        "redirect_uris": list(redirect_uris),
        "token_endpoint_auth_method": auth,
        "require_pkce": require_pkce,
        "id_token_signed_response_alg": id_token_alg,
        "post_logout_redirect_uris": list(post_logout),
    }
    if auth == "client_secret_post":
        table["client_secret"] = new_client_secret()
    if jwks_uri:
        table["jwks_uri"] = jwks_uri
    if backchannel_logout_uri:
        table["backchannel_logout_uri"] = backchannel_logout_uri
    try:
        registered: Client = parse_client(table)
        add_client(registry, registered)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "client_id": registered.client_id,
                    "client_secret": registered.client_secret,
                    "registry": str(registry),
                }
            )
        )
        return
    click.echo(f"client_id:     {registered.client_id}")
    if registered.client_secret:
        click.echo(f"client_secret: {registered.client_secret}")
    click.echo(f"registry:      {registry}")


@client.command("list")
@data_dir_option
def client_list(data_dir: Path) -> None:
    """The registered relying parties (secrets not shown)."""
    for registered in ensure_registry(_registry(data_dir)):
        click.echo(
            f"{registered.client_id}  {registered.name}  {registered.token_endpoint_auth_method}"
            f"  {' '.join(registered.redirect_uris)}"
        )
