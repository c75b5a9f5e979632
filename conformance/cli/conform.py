"""`careid conform`: run a conformance suite against a target and leave a report.

pytest runs the suite in a subprocess (its output streams as progress); the optional
self-check then runs the suite against each fault mode of the virtual card. The run's folder
`reports/<run-id>/` gets the results, the CSV and the HTML page, and `reports/latest` points
at it. The command ends with a one-screen summary and exits non-zero unless the run passed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import click

from conformance.report.build import LatestLinkError, build_report
from conformance.report.model import ResultsFileError, RunResults, attach_detection, load_results
from conformance.report.summary import RequirementResult, Summary, Verdict, summarise
from conformance.runner import ALL, SUITES, run_suite
from conformance.selfcheck import run_detection

# The pytest plugin's option for a waivers file.
WAIVERS_OPTION = "--careid-waivers"
# The summary fits one screen: long lists are cut, the report has them whole.
_FAILURES_SHOWN = 8
_IDS_SHOWN = 6
_LINE_WIDTH = 120


def _clip(line: str, width: int = _LINE_WIDTH) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def _counted(count: int, outcome: str) -> str:
    return f"{count} {outcome}s" if outcome == "error" and count != 1 else f"{count} {outcome}"


def new_run_id(suite: str, now: datetime | None = None) -> str:
    """`YYYYMMDD-HHMMSS-<suite>-<4 hex>` in UTC: sorts by time, unique on one machine."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{suite}-{secrets.token_hex(2)}"


def _target_line(results: RunResults) -> str:
    target = results.target
    if target.kind == "physical":
        what = f"physical card in {target.reader or '?'}"
    elif target.kind == "in-process":
        what = "in-process virtual card"
    else:
        what = f"virtual card in {target.reader or 'a vpcd reader'}"
    what += f", {results.mode}"
    if target.persona:
        what += f", persona {target.persona}"
    if target.fault:
        what += f", fault mode {target.fault}"
    return what


def _card_line(results: RunResults) -> str:
    target = results.target
    parts = [
        f"{label} {value}"
        for label, value in (
            ("serial", target.card_serial),
            ("UUID", target.uuid),
            ("ATR", target.atr),
        )
        if value
    ]
    return ", ".join(parts) or "not identified"


def summary_lines(
    results: RunResults, summary: Summary, html: Path, *, pytest_status: int = 0
) -> list[str]:
    """The one-screen end of `careid conform`: what ran, what failed, where the report is.

    The last two lines are always the verdict and the report's path.
    """
    took = (results.finished - results.started).total_seconds()
    tests = ", ".join(
        _counted(count, outcome) for outcome, count in summary.counts.items() if count
    )
    req_counts = summary.requirement_counts()
    reqs = ", ".join(f"{count} {result.value}" for result, count in req_counts.items() if count)
    lines = [
        f"careid conform: {results.suite} suite, run {results.run_id}",
        f"  Target        {_target_line(results)}",
        f"  Card          {_card_line(results)}",
        f"  Tests         {tests or 'none'} ({len(results.tests)} in {took:.1f} s)",
        f"  Requirements  {reqs or 'none'} (of {len(summary.requirements)} in scope)",
    ]
    failed_reqs = [
        row.requirement.id for row in summary.requirements if row.result is RequirementResult.FAILED
    ]
    if failed_reqs:
        shown = ", ".join(failed_reqs[:_IDS_SHOWN])
        more = len(failed_reqs) - _IDS_SHOWN
        lines.append(f"    failed      {shown}" + (f" and {more} more" if more > 0 else ""))
    failures = [t for t in results.tests if t.outcome in ("failed", "error")]
    for test in failures[:_FAILURES_SHOWN]:
        actual = f": {test.actual}" if test.actual else ""
        lines.append(_clip(f"    {test.outcome:<11} {test.nodeid}{actual}"))
    if len(failures) > _FAILURES_SHOWN:
        lines.append(f"    … and {len(failures) - _FAILURES_SHOWN} more failing tests")

    check = results.self_check
    if check.ok:
        lines.append("  Self-check    ok: every requirement has a test, every test a requirement")
    else:
        lines.append(f"  Self-check    {len(check.problems)} problem(s)")
        lines.extend(_clip(f"    {problem}") for problem in check.problems[:_FAILURES_SHOWN])
        if len(check.problems) > _FAILURES_SHOWN:
            lines.append(f"    … and {len(check.problems) - _FAILURES_SHOWN} more")
    detection = results.detection
    if detection is None:
        if "card" in results.suite.split(","):  # the fault modes are the virtual card's
            lines.append("  Detection     not run (add --self-check)")
    else:
        caught = sum(fault.caught for fault in detection.faults)
        missed = [fault.fault for fault in detection.faults if not fault.caught]
        line = f"  Detection     {caught} of {len(detection.faults)} fault modes caught"
        lines.append(line + (f"; missed: {', '.join(missed)}" if missed else ""))
    if pytest_status != 0 and summary.verdict is Verdict.PASS:
        lines.append(f"  Note          pytest exited with status {pytest_status}")
    reasons = f" ({'; '.join(summary.reasons)})" if summary.reasons else ""
    lines.append(f"  Verdict       {summary.verdict.value}{reasons}")
    lines.append(f"  Report        {html}")
    return lines


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--suite",
    type=click.Choice([*SUITES, ALL]),
    default="card",
    show_default=True,
    help=f"Suite to run; {ALL}: every suite in one run and one report.",
)
@click.option("--reader", "reader_name", metavar="NAME", help="A PC/SC reader (physical cards).")
@click.option("--in-process", is_flag=True, help="The virtual card in this process, no PC/SC.")
@click.option("--persona", help="Persona of the virtual card (default: the plugin's, alice).")
@click.option(
    "--issuer",
    metavar="URL",
    help="oidc suite: the provider under test (default: the reference provider, started by "
    "the suite); its client and login driver follow after `--`.",
)
@click.option(
    "--self-check/--no-self-check",
    default=False,
    show_default=True,
    help="Also run the suite against each fault mode of the virtual card (detection table).",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where run folders and the `latest` link go.",
)
@click.option(
    "--waivers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file of expected failures, each with its justification.",
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- PYTEST_ARGS]")
def conform(
    suite: str,
    reader_name: str | None,
    in_process: bool,
    persona: str | None,
    issuer: str | None,
    self_check: bool,
    report_dir: Path,
    waivers: Path | None,
    pytest_args: tuple[str, ...],
) -> None:
    """Run the conformance suite and write reports/<run-id>/ (index.html first).

    With no target option the suite runs on fresh virtual cards in the virtual reader
    (pcscd + vpcd, brought up when needed). --reader NAME runs it on the card in that
    reader: read-only unless `-- --careid-destructive --careid-pin … --careid-puk …` follow.
    Arguments after `--` go to pytest unchanged.
    """
    if reader_name is not None and in_process:
        raise click.UsageError("give --reader NAME or --in-process, not both")
    if reader_name is not None and persona is not None:
        raise click.UsageError("--persona chooses a virtual card; a physical card has its own")
    if self_check and suite not in ("card", ALL):
        raise click.UsageError("--self-check runs the card suite against the card's fault modes")
    run_dir = report_dir / new_run_id(suite)
    run_dir.mkdir(parents=True)
    extra = [*([WAIVERS_OPTION, str(waivers)] if waivers else []), *pytest_args]
    if issuer is not None:
        extra.insert(0, f"--careid-issuer={issuer}")
    click.echo(f"careid conform: {suite} suite, results in {run_dir}/")
    status = run_suite(
        suite,
        run_dir=run_dir,
        reader=reader_name,
        in_process=in_process,
        persona=persona,
        extra_args=extra,
    )
    try:
        if self_check:
            click.echo("careid conform: self-check, the suite against each fault mode")
            # run_detection fills in results.json itself; attaching again checks the table.
            attach_detection(run_dir, run_detection(run_dir))
        html = build_report(run_dir)
        results = load_results(run_dir)
    except ResultsFileError as exc:
        raise click.ClickException(f"{exc}\n(pytest exited with status {status})") from None
    except LatestLinkError as exc:
        raise click.ClickException(str(exc)) from None

    summary = summarise(results)
    lines = summary_lines(results, summary, html, pytest_status=status)
    passed = summary.verdict is Verdict.PASS and status == 0
    click.echo()
    click.echo("\n".join(lines[:-2]))
    click.secho(lines[-2], fg="green" if passed else "red", bold=True)
    click.echo(lines[-1])
    if not passed:
        click.get_current_context().exit(1)
