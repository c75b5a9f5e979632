"""`index.html` of a load run: throughput and latency charts, the SLO verdict, Locust's files.

A load run has no results.json (no requirements are tested): its page is built from Locust's
final statistics (`locust.json`) and history (`locust_stats_history.csv`). Self-contained like
the conformance page: inline CSS and SVG, no scripts; every name from the run is escaped.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from html import escape
from pathlib import Path

from loadtests.slo import EntryStats, Verdict, total

HTML_FILE = "index.html"
LOCUST_FILES = (
    "locust.html",
    "locust.json",
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "slo.json",
    "run.json",
    "locust.log",
)
_CSS = """
body{margin:0;background:#f5f7fa;color:#1d2330;font:15px/1.45 system-ui,"DejaVu Sans",sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:24px 0 10px}
.card{background:#fff;border:1px solid #d9dee7;border-radius:8px;padding:16px 20px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #d9dee7}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#17733a;font-weight:600}.fail{color:#b3261e;font-weight:600}
.verdict{font-size:20px;font-weight:700;padding:8px 14px;border-radius:6px;display:inline-block}
.verdict.pass{background:#e3f4e8}.verdict.fail{background:#fbe4e2}
svg text{font:11px system-ui,sans-serif;fill:#5b6475}
"""
Series = tuple[str, str, Sequence[tuple[float, float]]]  # (label, colour, points)


def _chart(
    title: str, unit: str, series: Sequence[Series], width: int = 960, height: int = 220
) -> str:
    points = [p for _, _, data in series for p in data]
    if not points:
        return f"<p>{escape(title)}: no data.</p>"
    x0 = min(x for x, _ in points)
    x1 = max(*(x for x, _ in points), x0 + 1)
    y1 = max(*(y for _, y in points), 1.0) * 1.1
    left, bottom, top = 50, 24, 20

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - 10)

    def sy(y: float) -> float:
        return top + (1 - y / y1) * (height - top - bottom)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}">'
    ]
    for i in range(5):
        value = y1 * i / 4
        y = sy(value)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ef"/>'
        )
        parts.append(f'<text x="4" y="{y + 4:.1f}">{value:.0f}</text>')
    parts.append(f'<text x="{left}" y="{height - 6}">0 s</text>')
    parts.append(f'<text x="{width - 60}" y="{height - 6}">{x1 - x0:.0f} s</text>')
    parts.append(f'<text x="{left + 4}" y="12">{escape(unit)}</text>')
    for index, (label, colour, data) in enumerate(series):
        if not data:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(data))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{width - 230 + 110 * (index % 2)}" y="{12 + 12 * (index // 2)}" '
            f'style="fill:{colour}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return f"<h3>{escape(title)}</h3>" + "".join(parts)


def _history(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "locust_stats_history.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row.get("Name") == "Aggregated"]


def _per_second(entry: EntryStats, start: float) -> list[tuple[float, float]]:
    return [(second - start, float(count)) for second, count in sorted(entry.per_second.items())]


def render_load_report(
    run_dir: Path, entries: Sequence[EntryStats], verdict: Verdict | None, *, locust_status: int
) -> str:
    everything = total(entries)
    start = float(min((min(e.per_second) for e in entries if e.per_second), default=0))
    flows = [e for e in entries if e.request_type == "flow"]
    colours = ("#1f6feb", "#8250df", "#bf3989", "#1a7f37")
    throughput: list[Series] = [
        (f"{e.name} /s", colours[i % len(colours)], _per_second(e, start))
        for i, e in enumerate(flows)
    ]
    throughput.append(("all requests /s", "#9aa3b2", _per_second(everything, start)))
    history = _history(run_dir)
    latency: list[Series] = []
    if history:
        t0 = float(history[0]["Timestamp"])
        for column, colour in (("50%", "#1a7f37"), ("95%", "#cf222e")):
            data = [
                (float(r["Timestamp"]) - t0, float(r[column]))
                for r in history
                if r.get(column) not in (None, "", "N/A")
            ]
            latency.append((f"p{column[:-1]} (all requests)", colour, data))
    ok = locust_status == 0 and (verdict is None or verdict.ok)
    rows = []
    for e in sorted(entries, key=lambda e: (e.request_type != "flow", e.request_type, e.name)):
        rows.append(
            f"<tr><td>{escape(e.request_type)}</td><td>{escape(e.name)}</td>"
            f'<td class="n">{e.num_requests}</td><td class="n">{e.num_failures}</td>'
            f'<td class="n">{e.rps:.1f}</td><td class="n">{e.percentile(0.5):g}</td>'
            f'<td class="n">{e.percentile(0.95):g}</td>'
            f'<td class="n">{e.percentile(0.99):g}</td></tr>'
        )
    slo_html = "<p>No SLO file was given (<code>--slo</code>).</p>"
    if verdict is not None:
        slo_rows = "".join(
            f'<tr><td class="{"pass" if c.ok else "fail"}">{"PASS" if c.ok else "FAIL"}</td>'
            f"<td>{escape(c.target)}</td><td>{escape(c.metric)}</td>"
            f'<td class="n">{"absent" if c.actual is None else f"{c.actual:g}"}</td>'
            f'<td class="n">{c.limit:g}</td></tr>'
            for c in verdict.checks
        )
        slo_html = (
            "<table><tr><th></th><th>request</th><th>metric</th><th>actual</th>"
            f"<th>limit</th></tr>{slo_rows}</table>"
        )
    links = " · ".join(
        f'<a href="{escape(name)}">{escape(name)}</a>'
        for name in LOCUST_FILES
        if (run_dir / name).exists()
    )
    status = "held" if ok else "NOT held"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load run {escape(run_dir.name)}</title>
<style>{_CSS}</style></head><body><main>
<h1>Load run {escape(run_dir.name)}</h1>
<p><span class="verdict {"pass" if ok else "fail"}">SLOs {status}</span>
&nbsp; {everything.num_requests} requests, {everything.num_failures} failures, Locust exit
status {locust_status}.</p>
<div class="card">{_chart("Throughput", "per second", throughput)}
{_chart("Latency", "ms", latency)}</div>
<h2>SLO verdict</h2><div class="card">{slo_html}</div>
<h2>Requests</h2><div class="card"><table><tr><th>type</th><th>name</th><th>requests</th>
<th>failures</th><th>per s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>
{"".join(rows)}</table></div>
<h2>Files</h2><p>{links}</p>
</main></body></html>
"""


def write_load_report(
    run_dir: Path, entries: Sequence[EntryStats], verdict: Verdict | None, *, locust_status: int
) -> Path:
    from conformance.report.build import _write_atomically  # noqa: PLC0415

    path = run_dir / HTML_FILE
    _write_atomically(
        path, render_load_report(run_dir, entries, verdict, locust_status=locust_status)
    )
    return path
