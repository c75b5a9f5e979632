"""Build a run's reports from its results.json and point `reports/latest` at the run."""

from __future__ import annotations

import secrets
from pathlib import Path

from conformance.report.assets import copy_static
from conformance.report.csv_report import CSV_FILE, render_csv
from conformance.report.html_report import HTML_FILE, render_html
from conformance.report.journeys import load_journeys
from conformance.report.model import RunResults, load_results

LATEST = "latest"
SCREENSHOTS = "screenshots/*.png"  # what suites that drive a browser leave in the run folder


class LatestLinkError(Exception):
    """`reports/latest` exists and is not a symlink, so it is not ours to replace."""


def _write_atomically(path: Path, text: str) -> None:
    # A reader (a browser tab, a CI upload) never sees a half-written report.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temp.write_text(text, encoding="utf-8", newline="")
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def point_latest(run_dir: Path) -> Path:
    """Make `<run_dir's parent>/latest` a relative symlink to run_dir, replaced atomically.

    The link is made under a temporary name and renamed over the old one, so `latest` always
    names some complete run, never nothing. Relative, so the reports folder can be moved.
    """
    run_dir = run_dir.resolve()  # `latest` itself as run_dir must not become a self-link
    latest = run_dir.parent / LATEST
    if not latest.is_symlink() and latest.exists():
        raise LatestLinkError(f"{latest} exists and is not a symlink; move it out of the way")
    temp = run_dir.parent / f".{LATEST}.{secrets.token_hex(4)}"
    temp.symlink_to(run_dir.name)
    try:
        temp.replace(latest)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    return latest


def write_reports(results: RunResults, run_dir: Path) -> Path:
    """Write results.csv, index.html and the page's static files into run_dir; returns the
    HTML page's path."""
    _write_atomically(run_dir / CSV_FILE, render_csv(results))
    copy_static(run_dir)  # before the page: a page that names them always finds them
    html = run_dir / HTML_FILE
    shots = sorted(path.relative_to(run_dir).as_posix() for path in run_dir.glob(SCREENSHOTS))
    journeys, problems = load_journeys(run_dir)
    _write_atomically(html, render_html(results, shots, journeys, problems))
    return html


def build_report(run_dir: Path) -> Path:
    """Read run_dir/results.json, write its CSV and HTML reports, point `latest` at it.

    Returns the path of index.html. Raises ResultsFileError for a missing or malformed
    results.json (the message names the bad fields) and LatestLinkError as above.
    """
    html = write_reports(load_results(run_dir), run_dir)
    point_latest(run_dir)
    return html
