"""`careid`: the command line of careid-harness. Each command group lives in its own module."""

from __future__ import annotations

import click

from conformance.cli.admin import admin
from conformance.cli.agent import agent
from conformance.cli.card import card
from conformance.cli.conform import conform
from conformance.cli.load import load
from conformance.cli.personas import personas
from conformance.cli.reader import card_insert, card_read, card_remove, reader
from conformance.cli.service import client, service


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="careid-harness")
def main() -> None:
    """careid-harness: virtual NHS Care Identity smartcards, readers and conformance suites."""


main.add_command(admin)
main.add_command(agent)
main.add_command(card)
main.add_command(conform)
main.add_command(load)
main.add_command(personas)
main.add_command(reader)
main.add_command(service)
main.add_command(client)
card.add_command(card_insert, "insert")
card.add_command(card_remove, "remove")
card.add_command(card_read, "read")
