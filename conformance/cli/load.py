"""`careid load`: Locust load runs against the reference stack (or another target).

Locust runs in child processes (`loadtests.run`); this process prepares the card pool and
its NHSmail accounts, starts the reference stack (provider + both portals, each its own
process) when no target is named, checks the SLO file against Locust's final statistics,
writes the load report, and exits 0 only when Locust saw no failure and every objective held.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from conformance.cli.conform import new_run_id
from conformance.cli.options import data_dir_option

FLOWS = ("smartcard", "totp", "nhsmail", "linking", "password", "vpcd")


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    text = value.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a duration like 30s, 5m or 90") from None


@click.command()
@data_dir_option
@click.option("--users", "-u", default=10, show_default=True, help="Concurrent users.")
@click.option(
    "--spawn-rate", "-r", default=5.0, show_default=True, help="Users started per second."
)
@click.option(
    "--time",
    "-t",
    "run_time",
    default="30s",
    show_default=True,
    help="Run time (30s, 5m): the bound of the run.",
)
@click.option(
    "--target",
    default="reference",
    show_default=True,
    help="`reference`: the reference stack (provider + both portals, started here), or a "
    "run.json naming another provider.",
)
@click.option(
    "--flow",
    "flows",
    multiple=True,
    metavar="NAME[:WEIGHT]",
    help=f"Flow to run: {', '.join(FLOWS)}; repeat for a mix, `:N` sets its weight "
    "(nhsmail:3). Default: smartcard.",
)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    help="0: one Locust process; N: a master and N workers on loopback.",
)
@click.option("--shape", help="ramp:users=…,rate=…,hold=… | step:… | soak:… (docs/load.md).")
@click.option(
    "--iterations",
    default=0,
    show_default=True,
    help="Sign-ins per user, then the user stops (0: until the time ends).",
)
@click.option(
    "--pool",
    "pool_size",
    default=2000,
    show_default=True,
    help="Distinct pre-issued cards / personas (issued once, cached).",
)
@click.option(
    "--vpcd",
    "vpcd_slots",
    multiple=True,
    metavar="PERSONA@READER",
    help="A card in a real vpcd slot (`careid card insert --persona alice` first) for one "
    "`vpcd` user; repeat for more. Adds the vpcd flow.",
)
@click.option(
    "--slo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SLO file (TOML): p95 latency and error rate per request name.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
)
def load(
    data_dir: Path,
    users: int,
    spawn_rate: float,
    run_time: str,
    target: str,
    flows: tuple[str, ...],
    workers: int,
    shape: str | None,
    iterations: int,
    pool_size: int,
    vpcd_slots: tuple[str, ...],
    slo: Path | None,
    report_dir: Path,
) -> None:
    """Run a Locust load run and leave its report in reports/<run-id>/ (index.html)."""
    from conformance.report.build import point_latest  # noqa: PLC0415
    from conformance.report.load_report import write_load_report  # noqa: PLC0415
    from loadtests.accounts import ensure_accounts  # noqa: PLC0415
    from loadtests.pool import ensure_pool  # noqa: PLC0415
    from loadtests.run import PORTAL_FLOWS, LocustRun, parse_flows, run_locust  # noqa: PLC0415
    from loadtests.shape_math import ShapeSpecError, parse_shape  # noqa: PLC0415
    from loadtests.slo import SloFileError, check, load_locust_json, load_slo  # noqa: PLC0415
    from loadtests.target import RunConfig, start_reference  # noqa: PLC0415

    seconds = _seconds(run_time)
    objectives = None
    if vpcd_slots and "vpcd" not in (spec.partition(":")[0] for spec in flows):
        flows = (*(flows or ("smartcard",)), "vpcd")
    try:
        names, weights = parse_flows(flows or ("smartcard",))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--flow") from None
    bad = [slot for slot in vpcd_slots if not all(slot.partition("@")[::2])]
    if bad or ("vpcd" in names and not vpcd_slots):
        raise click.BadParameter(
            f"{bad[0]!r}: PERSONA@READER" if bad else "the vpcd flow needs --vpcd PERSONA@READER",
            param_hint="--vpcd",
        )
    if vpcd_slots and workers:
        raise click.UsageError("the vpcd users run in one process (no --workers): PC/SC is local")
    if len(vpcd_slots) > users:
        raise click.BadParameter(f"{len(vpcd_slots)} vpcd slots need --users {len(vpcd_slots)}+")
    try:
        objectives = load_slo(slo) if slo else None
        if shape:
            seconds = max(seconds, parse_shape(shape).duration)
    except (SloFileError, ShapeSpecError) as exc:
        raise click.UsageError(str(exc)) from None
    run_dir = report_dir / new_run_id("load")
    run_dir.mkdir(parents=True)
    data_dir = data_dir.resolve()
    click.echo(f"careid load: run folder {run_dir}/")
    pool = ensure_pool(data_dir, pool_size)
    click.echo(f"careid load: {len(pool.personas)} pre-issued cards in {pool.directory}")
    ensure_accounts(pool)  # the pool's NHSmail accounts (one shared password hash)
    settings = {
        "iterations": iterations,
        "workers": max(1, workers),
        "weights": weights,
        "vpcd_readers": vpcd_slots,
    }
    reference = None
    workdir = Path(tempfile.mkdtemp(prefix="careid-load-"))
    try:
        if target == "reference":
            reference = start_reference(data_dir, workdir, pool)
            config = reference.run_config(pool, **settings)
            pids = ", ".join(f"{name} {pid}" for name, pid in reference.pids().items())
            click.echo(
                f"careid load: reference stack {config.issuer}, NHSmail portal "
                f"{config.nhsmail_url}, My Identity Portal {config.myidentity_url} (pids {pids})"
            )
        else:
            base = RunConfig.load(Path(target))
            document = {**base.__dict__, **settings, "pool": base.pool or str(pool.directory)}
            config = RunConfig(**document)
            if set(names) & set(PORTAL_FLOWS) and not config.nhsmail_url:
                raise click.UsageError(
                    f"{target} names no portals (nhsmail_url, myidentity_url): the flows "
                    f"{', '.join(PORTAL_FLOWS)} need them"
                )
        run_file = config.save(run_dir / "run.json")
        run = LocustRun(
            run_file,
            run_dir,
            users=users,
            spawn_rate=spawn_rate,
            run_time=seconds,
            flows=names,
            workers=workers,
            shape=shape,
            quit_when_done=iterations > 0,
        )
        click.echo(
            f"careid load: {users} users, {spawn_rate:g}/s, {seconds:g} s, flows "
            f"{', '.join(f'{n}:{weights[n]}' if n in weights else n for n in run.flows)}, "
            f"{'one process' if not workers else f'{workers} workers'}"
        )
        status = run_locust(run)
    finally:
        if reference is not None:
            reference.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    stats_file = run_dir / "locust.json"
    if not stats_file.exists():
        raise click.ClickException(
            f"Locust wrote no statistics (status {status}); see {run_dir}/locust.log"
        )
    entries = load_locust_json(stats_file)
    verdict = check(objectives, entries) if objectives else None
    if verdict is not None:
        (run_dir / "slo.json").write_text(json.dumps(verdict.to_json(), indent=2))
    html = write_load_report(run_dir, entries, verdict, locust_status=status)
    point_latest(run_dir)
    from loadtests.slo import total  # noqa: PLC0415

    everything = total(entries)
    click.echo(
        f"careid load: {everything.num_requests} requests, {everything.num_failures} failures, "
        f"Locust status {status}"
    )
    for entry in entries:
        if entry.request_type == "flow":
            click.echo(
                f"  {entry.name}: {entry.num_requests} ({entry.num_failures} failed), "
                f"{entry.rps:.1f}/s, p50 {entry.percentile(0.5):g} ms, "
                f"p95 {entry.percentile(0.95):g} ms"
            )
    if verdict is not None:
        for line in (c.line() for c in verdict.checks):
            click.echo(f"  {line}")
        click.secho(
            f"SLOs {'held' if verdict.ok else 'NOT held'}", fg="green" if verdict.ok else "red"
        )
    click.echo(f"report: {html}")
    if status != 0 or (verdict is not None and not verdict.ok):
        click.get_current_context().exit(1)
