"""`careid reader up|down|status` and `careid card insert|remove`: the virtual reader stack."""

from __future__ import annotations

from pathlib import Path

import click

from conformance.cli.options import data_dir_option, personas_file_option
from simulator.iso7816.sw import StatusError
from simulator.reader import pcscd
from simulator.reader.control import ReaderControl
from simulator.reader.errors import ReaderError
from simulator.reader.pcsc import list_readers


def _fail(exc: ReaderError) -> click.ClickException:
    return click.ClickException(f"[{exc.code}] {exc}")


@click.group()
def reader() -> None:
    """The virtual reader: pcscd with vpcd slots that virtual cards are inserted into."""


@reader.command("up")
@click.option(
    "--slots",
    type=click.IntRange(1, 10),
    default=pcscd.DEFAULT_SLOTS,
    show_default=True,
    help="Number of vpcd slots (vpcd makes them in pairs, so odd numbers round up).",
)
@click.option(
    "--base-port",
    type=click.IntRange(1024, 65000),
    default=pcscd.DEFAULT_BASE_PORT,
    show_default=True,
    help="TCP port of slot 0; slot N listens on base-port + N.",
)
@data_dir_option
def up(slots: int, base_port: int, data_dir: Path) -> None:
    """Start pcscd with vpcd slots, or use a running pcscd that already has vpcd readers.

    Only one pcscd can run per machine: a running pcscd without vpcd readers is reported,
    not replaced.
    """
    try:
        layout = pcscd.start_pcscd(data_dir, slots=slots, base_port=base_port)
    except ReaderError as exc:
        raise _fail(exc) from None
    how = "started by careid" if layout.owned else "already running"
    click.echo(f"pcscd pid {layout.pid} ({how}), config {layout.conf_dir}")
    for slot in layout.slots:
        click.echo(f"  slot {slot.index}  port {slot.port}  {slot.reader}")


@reader.command("down")
@data_dir_option
def down(data_dir: Path) -> None:
    """Remove every card this data directory inserted and stop the pcscd it started.

    A pcscd that careid did not start is left running.
    """
    ReaderControl(data_dir).remove_all()
    if pcscd.stop_pcscd(data_dir):
        click.echo("pcscd stopped")
    else:
        click.echo("no pcscd started from this data directory; nothing to stop")


@reader.command("status")
@data_dir_option
def status(data_dir: Path) -> None:
    """List the readers pcscd knows, the vpcd slots with their ports, and which card is where."""
    try:
        layout = pcscd.find_layout(data_dir)
        if layout is None:
            click.echo("pcscd is not running (start it with `careid reader up`)")
            return
        control = ReaderControl(data_dir, layout)
        entries = control.status()
        readers = list_readers()
    except ReaderError as exc:
        raise _fail(exc) from None
    how = "started by careid" if layout.owned else "not started from this data directory"
    click.echo(f"pcscd pid {layout.pid} ({how}), config {layout.conf_dir}")
    click.echo("slot  port   reader                           card")
    for entry in entries:
        if entry.record is not None:
            card = f"{entry.record.card} (runner pid {entry.record.pid})"
        elif entry.present:
            card = f"a card careid did not insert (ATR {entry.atr.hex().upper()})"
        else:
            card = "-"
        click.echo(f"{entry.slot.index:<5} {entry.slot.port:<6} {entry.slot.reader:<32} {card}")
    others = [name for name in readers if name not in {s.reader for s in layout.slots}]
    for name in others:
        click.echo(f"other reader: {name}")


@click.command()
@click.argument("card_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--persona", help="Issue a fresh card for this persona and insert it.")
@click.option("--slot", type=int, help="Slot to insert into (default: the first free one).")
@data_dir_option
@personas_file_option
def card_insert(
    card_file: Path | None,
    persona: str | None,
    slot: int | None,
    data_dir: Path,
    personas_file: Path | None,
) -> None:
    """Insert CARD_FILE (from `careid card issue`), or a new card for --persona, into a slot.

    Starts pcscd with vpcd slots when none is running. Returns once pcscd sees the card; the
    card runner stays in the background until `careid card remove`.
    """
    if (card_file is None) == (persona is None):
        raise click.UsageError("give either CARD_FILE or --persona NAME")
    try:
        if persona is not None:
            from simulator.card.issue import issue_card  # noqa: PLC0415 - only with --persona

            try:
                card_file = issue_card(persona, data_dir=data_dir, personas_file=personas_file)
            except (LookupError, ValueError) as exc:
                raise click.ClickException(str(exc)) from None
        if card_file is None:  # unreachable: checked above; keeps the type narrow
            raise click.UsageError("no card file")
        layout = pcscd.start_pcscd(data_dir)
        placed = ReaderControl(data_dir, layout).insert(card_file, slot)
    except ReaderError as exc:
        raise _fail(exc) from None
    click.echo(
        f"inserted {card_file} into slot {placed.index} ({placed.reader}, port {placed.port})"
    )


@click.command()
@click.option("--slot", type=int, required=True, help="Slot to remove the card from.")
@data_dir_option
def card_remove(slot: int, data_dir: Path) -> None:
    """Remove the card from --slot N (stops its runner; pcscd sees the slot empty)."""
    try:
        ReaderControl(data_dir).remove(slot)
    except ReaderError as exc:
        raise _fail(exc) from None
    click.echo(f"removed the card from slot {slot}")


@click.command()
@click.option("--reader", "reader_name", help="PC/SC reader name (physical readers too).")
@click.option("--slot", type=int, help="Virtual slot N of the running pcscd.")
@data_dir_option
def card_read(reader_name: str | None, slot: int | None, data_dir: Path) -> None:
    """Read the card in a reader without changing it: label, GUID, UUID, PIN tries, certificates.

    Sends only SELECT, GET DATA and the VERIFY status query (which spends no try), so it is
    safe on a physical card.
    """
    from simulator.piv.client import PivClient  # noqa: PLC0415
    from simulator.reader.connection import PcscConnection  # noqa: PLC0415

    if (reader_name is None) == (slot is None):
        raise click.UsageError("give either --reader NAME or --slot N")
    try:
        if reader_name is None:
            layout = pcscd.find_layout(data_dir)
            if layout is None:
                raise click.ClickException(
                    "pcscd is not running (start it with `careid reader up`)"
                )
            reader_name = layout.slot(slot or 0).reader
        with PcscConnection(reader_name, allow_state_changes=False) as connection:
            atr = connection.atr
            identity = PivClient(connection).identity()
    except ReaderError as exc:
        raise _fail(exc) from None
    except StatusError as exc:
        raise click.ClickException(f"{reader_name}: not a PIV card ({exc})") from None
    tries = "verified" if identity.pin_tries_left is None else str(identity.pin_tries_left)
    rows = [
        ("Reader", reader_name),
        ("ATR", atr.hex(" ").upper()),
        ("Label", identity.label),
        ("CHUID GUID", identity.guid or "-"),
        ("Care Identity UUID", identity.uuid or "-"),
        ("Cardholder", identity.name or "-"),
        ("PIN tries left", tries),
    ]
    for label, value in rows:
        click.echo(f"{label:<20}{value}")
    for key, certificate in identity.certificates.items():
        click.echo(f"Certificate {key.value:02X}      {certificate.subject.rfc4514_string()}")
        click.echo(f"  valid until      {certificate.not_valid_after_utc.isoformat()}")
