"""`careid card …`: issue a virtual card for a persona and show what a card file holds."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from conformance.cli.options import data_dir_option, personas_file_option
from simulator.card.cardfile import CardFileError
from simulator.card.issue import issue_card
from simulator.card.report import card_report
from simulator.card.store import load_card_state
from simulator.personas import PersonaFileError, UnknownPersonaError


@click.group()
def card() -> None:
    """Virtual NHS Care Identity cards: issue, show, insert, remove."""


@card.command("issue")
@click.option(
    "--persona", required=True, help="Persona to issue the card for (careid personas list)."
)
@click.option("--pin", help="PIN to set instead of the persona's (6-8 digits).")
@click.option("--puk", help="PUK to set instead of the persona's (8 characters).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Card file to write.")
@data_dir_option
@personas_file_option
def issue(
    persona: str,
    pin: str | None,
    puk: str | None,
    out: Path | None,
    data_dir: Path,
    personas_file: Path | None,
) -> None:
    """Issue a card for PERSONA: keys, certificates from the test PKI, data objects.

    Prints the path of the new card file.
    """
    try:
        path = issue_card(
            persona, data_dir=data_dir, pin=pin, puk=puk, out=out, personas_file=personas_file
        )
    except (UnknownPersonaError, PersonaFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(path))


@card.command("show")
@click.argument("card_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def show(card_file: Path, as_json: bool) -> None:
    """Show CARD_FILE: ATR, serial, GUID, UUID, certificates, PIN and PUK tries left.

    The PIN and PUK themselves are never shown: the card file does not hold them.
    """
    try:
        report = card_report(load_card_state(card_file))
    except CardFileError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
    else:
        click.echo("\n".join(report.lines()))
