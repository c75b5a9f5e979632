"""`careid admin …`: NHSmail helpdesk actions on the directory, each audited."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import click

from conformance.cli.options import data_dir_option
from conformance.portals.stack import directory_paths
from reference_service.directory.store import Directory


def _directory(data_dir: Path) -> Directory:
    database, _ = directory_paths(data_dir)
    if not database.exists():
        raise click.ClickException(f"no directory at {database}: run `careid service up` first")
    return Directory(database)


@click.group()
def admin() -> None:
    """NHSmail helpdesk actions: registrations (links) and account status, audited."""


@admin.command("unlink")
@data_dir_option
@click.option("--uuid", help="The Care Identity (UUID) whose registration is removed.")
@click.option("--email", help="Or the NHSmail address whose registration is removed.")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--actor", default=None, help="Who does it (default: helpdesk:<login name>).")
def unlink(
    data_dir: Path, uuid: str | None, email: str | None, reason: str, actor: str | None
) -> None:
    """Remove an NHS Smartcard registration from NHSmail (closes the sessions it opened)."""
    from reference_service.directory.errors import DirectoryError  # noqa: PLC0415

    if (uuid is None) == (email is None):
        raise click.UsageError("give --uuid or --email")
    who = actor or f"helpdesk:{getpass.getuser()}"
    directory = _directory(data_dir)
    try:
        link = directory.unlink(time.time(), who, uuid=uuid, email=email, reason=reason)
    except DirectoryError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    finally:
        directory.close()
    click.echo(f"unlinked {link.uuid} from {link.email} (audited as {who})")


@admin.command("links")
@data_dir_option
def links(data_dir: Path) -> None:
    """The registrations: Care Identity UUID, NHSmail address, when and by whom."""
    directory = _directory(data_dir)
    for link in directory.links():
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(link.linked_at))
        click.echo(f"{link.uuid}  {link.email}  {stamp}Z  {link.linked_by}")
    directory.close()


@admin.command("account")
@data_dir_option
@click.argument("email")
@click.option(
    "--status",
    type=click.Choice(["active", "locked", "disabled"]),
    required=True,
    help="active unlocks (and resets the failure count).",
)
@click.option("--actor", default=None)
def account(data_dir: Path, email: str, status: str, actor: str | None) -> None:
    """Unlock, lock or disable an NHSmail account."""
    from reference_service.directory.errors import DirectoryError  # noqa: PLC0415

    who = actor or f"helpdesk:{getpass.getuser()}"
    directory = _directory(data_dir)
    try:
        directory.set_status(email, status, time.time(), who)
    except DirectoryError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    finally:
        directory.close()
    click.echo(f"{email}: {status} (audited as {who})")
