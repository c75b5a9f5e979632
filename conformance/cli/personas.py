"""`careid personas …`: the test users the simulator knows."""

from __future__ import annotations

from pathlib import Path

import click

from conformance.cli.options import personas_file_option
from simulator.personas import PersonaFileError, load_personas


@click.group()
def personas() -> None:
    """Personas: test users with a Care Identity, an NHSmail account and a card."""


@personas.command("list")
@personas_file_option
def list_personas(personas_file: Path | None) -> None:
    """List the personas by name, with what each one is for."""
    try:
        known = load_personas(personas_file)
    except PersonaFileError as exc:
        raise click.ClickException(str(exc)) from None
    width = max(len(name) for name in known)
    for name, persona in known.items():
        click.echo(f"{name:<{width}}  {persona.purpose}")
