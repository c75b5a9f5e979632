"""`careid agent up|status`: the Identity Agent on 127.0.0.1 (docs/agent.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import click
import httpx

from conformance.cli.options import data_dir_option
from simulator.agent import Agent, AgentConfig, PcscReaders, Policy
from simulator.agent.headless import HeadlessPinsError, load_headless_pins
from simulator.agent.protocol import DEFAULT_PORT, normalize_origin
from simulator.reader.transcript import ExchangeObserver, Transcript

STATE_FILE = "agent.json"


def _state_path(data_dir: Path) -> Path:
    return data_dir / "agent" / STATE_FILE


def _transcripts(directory: Path) -> Any:
    directory.mkdir(parents=True, exist_ok=True)

    def observers(reader: str) -> list[ExchangeObserver]:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", reader).strip("_")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = directory / f"{stamp}-{name}-{time.monotonic_ns() % 100000:05d}.txt"
        return [Transcript(path, title=f"agent, card in {reader}")]

    return observers


@click.group()
def agent() -> None:
    """The Identity Agent: card status, sign requests and the PIN dialog on 127.0.0.1."""


@agent.command("up")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port on 127.0.0.1 (0: any free port, printed at start).",
)
@click.option(
    "--policy",
    type=click.Choice([p.value for p in Policy]),
    default=Policy.LEGACY.value,
    show_default=True,
    help="legacy: PIN once per insertion, removal ends the session; connect: PIN per origin.",
)
@click.option(
    "--allow-origin",
    "origins",
    multiple=True,
    required=True,
    metavar="URL",
    help="A sign-in origin the agent serves, e.g. https://127.0.0.1:9443 (repeatable).",
)
@click.option(
    "--headless-pins",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Automation only: TOML [pins] table of card UUID = PIN; no dialog for those cards.",
)
@click.option(
    "--reader",
    "readers",
    multiple=True,
    metavar="NAME",
    help="Watch only this PC/SC reader (repeatable; default: every reader).",
)
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CAs trusted for session-end calls (default: the data directory's test PKI bundle "
    "when there is one, else the system's).",
)
@click.option(
    "--transcripts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the APDUs of each card insertion to a file in this directory (PIN masked).",
)
@data_dir_option
def up(
    port: int,
    policy: str,
    origins: tuple[str, ...],
    headless_pins: Path | None,
    readers: tuple[str, ...],
    ca_bundle: Path | None,
    transcripts: Path | None,
    data_dir: Path,
) -> None:
    """Run the agent in the foreground until Ctrl-C or SIGTERM.

    To keep it running in the background: `careid agent up ... > agent.log 2>&1 &`, then
    `careid agent status`, and stop it with `kill <pid>` (the pid is in the first line).
    """
    from simulator.agent.server import AgentServer  # noqa: PLC0415

    for origin in origins:
        if normalize_origin(origin) is None:
            raise click.BadParameter(f"not an origin: {origin!r}", param_hint="--allow-origin")
    pins = None
    if headless_pins is not None:
        try:
            pins = load_headless_pins(headless_pins)
        except HeadlessPinsError as exc:
            raise click.ClickException(str(exc)) from None
    if ca_bundle is None:
        default = data_dir / "pki" / "ca-bundle.pem"
        ca_bundle = default if default.is_file() else None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = AgentConfig(
        allowed_origins=origins,
        policy=Policy(policy),
        headless_pins=pins,
        ca_bundle=ca_bundle,
        state_dir=data_dir / "agent",  # pending session ends survive a restart
    )
    observers = _transcripts(transcripts) if transcripts else None
    core = Agent(config, PcscReaders(readers), observers=observers)
    try:
        server = AgentServer(core, port=port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    state = _state_path(data_dir)
    state.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": os.getpid(),
        "url": server.url,
        "policy": config.policy.value,
        "allowed_origins": list(config.allowed_origins),
        "headless": config.headless,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    state.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(
        f"careid agent pid {os.getpid()} on {server.url} (policy {config.policy.value}, "
        f"headless PINs {'on' if config.headless else 'off'}); API at {server.url}/openapi.json",
        err=True,
    )
    try:
        server.serve_forever()
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()


@agent.command("status")
@click.option("--url", help="The agent's URL (default: the one `careid agent up` recorded).")
@click.option(
    "--origin",
    help="An allowed origin to ask with (default: the first one the agent was started with).",
)
@data_dir_option
def status(url: str | None, origin: str | None, data_dir: Path) -> None:
    """Show the agent's policy, readers and cards."""
    record: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(_state_path(data_dir).read_text())
    url = url or record.get("url") or f"http://127.0.0.1:{DEFAULT_PORT}"
    origins = record.get("allowed_origins") or []
    origin = origin or (origins[0] if origins else None)
    if origin is None:
        raise click.UsageError("give --origin: an origin the agent allows")
    try:
        answer = httpx.get(f"{url}/v1/status", headers={"Origin": origin}, timeout=5)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"no agent answers at {url}: {exc}") from None
    if answer.status_code != 200:
        raise click.ClickException(f"{url} answered {answer.status_code}: {answer.text}")
    body = answer.json()
    pid = f", pid {record['pid']}" if record.get("url") == url and record.get("pid") else ""
    click.echo(
        f"{body.get('agent')} {body.get('version')} on {url}{pid}: policy {body.get('policy')}, "
        f"headless PINs {'on' if body.get('headless') else 'off'}"
    )
    readers = body.get("readers") or []
    if not readers:
        click.echo("  no readers")
    for reader in readers:
        card = reader.get("card")
        what = (
            "empty"
            if card is None
            else f"{card.get('name')} (UUID {card.get('uuid')}, card {card.get('serial')})"
        )
        click.echo(f"  {reader.get('name')}: {what}")
