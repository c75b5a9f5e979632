"""`index.html`: the one page a person opens first after a run.

Self-contained (inline CSS, no scripts, no external resources) so it opens from a CI artifact
or a mail attachment. Every value from the results file is escaped: card data, test messages
and waiver texts come from outside the harness.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import PurePosixPath
from urllib.parse import quote

from conformance.report.journeys import JourneyRecord
from conformance.report.model import Outcome, RunResults, TestResult
from conformance.report.summary import Summary, summarise

HTML_FILE = "index.html"
# Other files of a run the page links to; they sit beside it in reports/<run-id>/.
RUN_FILES = ("results.csv", "results.json", "junit.xml")

_CSS = """
.shots{display:flex;flex-wrap:wrap;gap:16px}
.shots figure{margin:0;max-width:420px}
.shots img{max-width:100%;border:1px solid #d0d7de;border-radius:6px}
.shots figcaption{font-size:13px;color:#57606a;margin-top:4px}
.journey{border-top:1px solid var(--line);margin-top:14px;padding-top:12px}
.journey h3{text-transform:none;letter-spacing:0;color:var(--ink);font-size:16px;margin:0 0 4px}
.step{display:grid;grid-template-columns:minmax(200px,2fr) minmax(0,5fr);gap:18px;
  padding:10px 0;border-bottom:1px dashed var(--line)}
.step .label{font-weight:700;margin-right:6px}
.strip{display:flex;gap:12px;overflow-x:auto;align-items:flex-start}
.strip figure{margin:0;flex:0 0 300px}
.strip img{width:100%;border:1px solid #d0d7de;border-radius:6px}
.strip figcaption{font-size:12px;color:#57606a;margin-top:3px}
:root { --ink:#1d2330; --muted:#5b6475; --line:#d9dee7; --bg:#f5f7fa; --card:#fff;
  --passed:#17733a; --passed-bg:#e3f4e8; --failed:#b3261e; --failed-bg:#fbe4e2;
  --error:#7a1d17; --error-bg:#f6d6d3; --waived:#8a5a00; --waived-bg:#fdf0d5;
  --skipped:#4d5565; --skipped-bg:#eceff3; --untested:#6b3fa0; --untested-bg:#efe6fa; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.45;
  font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width:1240px; margin:0 auto; padding:24px 28px 48px; }
header.top { display:flex; gap:24px; align-items:flex-start; justify-content:space-between;
  flex-wrap:wrap; margin-bottom:8px; }
h1 { font-size:26px; margin:0 0 4px; }
h2 { font-size:19px; margin:0 0 12px; }
h3 { font-size:15px; margin:16px 0 8px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
.sub { color:var(--muted); margin:0; }
.sub a { color:inherit; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:18px 22px; margin-top:18px; overflow-x:auto; }
.verdict { border-radius:10px; padding:12px 20px; text-align:center; min-width:220px; }
.verdict .word { font-size:28px; font-weight:700; letter-spacing:.06em; }
.verdict ul { margin:4px 0 0; padding:0; list-style:none; font-size:13px; }
.verdict.PASS { background:var(--passed-bg); color:var(--passed); border:2px solid var(--passed); }
.verdict.FAIL { background:var(--failed-bg); color:var(--failed); border:2px solid var(--failed); }
.verdict.INCOMPLETE { background:var(--waived-bg); color:var(--waived);
  border:2px solid var(--waived); }
.counts { display:flex; flex-wrap:wrap; gap:8px; margin:14px 0 0; padding:0; list-style:none; }
.counts li { padding:4px 12px; border-radius:999px; font-weight:600; font-size:14px; }
.counts li.zero { color:var(--muted); background:#eceff3; font-weight:400; }
.grid { display:grid; grid-template-columns:minmax(0,3fr) minmax(0,2fr); gap:28px; }
@media (max-width: 900px) { .grid { grid-template-columns:1fr; } }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:left; vertical-align:top; padding:7px 10px;
  border-bottom:1px solid var(--line); }
thead th { background:#eef1f6; font-weight:600; position:sticky; top:0; }
tbody tr:nth-child(even) { background:#fafbfc; }
table.kv th { width:34%; color:var(--muted); font-weight:500; background:none; }
table.kv td, table.kv th { padding:5px 8px; }
.id, .nowrap { white-space:nowrap; }
code, .mono { font-family:ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size:13px; overflow-wrap:break-word; }
.text { white-space:pre-wrap; overflow-wrap:break-word; }
.nodeid { display:block; color:var(--muted); font-size:12px;
  overflow-wrap:break-word; }
td.result-text { min-width:150px; overflow-wrap:anywhere; }
td.test-cell { min-width:280px; }
.none { color:var(--muted); }
.badge { display:inline-block; padding:1px 9px; border-radius:999px; font-size:12px;
  font-weight:700; text-transform:uppercase; letter-spacing:.03em; white-space:nowrap; }
.passed { color:var(--passed); background:var(--passed-bg); }
.failed { color:var(--failed); background:var(--failed-bg); }
.error { color:var(--error); background:var(--error-bg); }
.waived { color:var(--waived); background:var(--waived-bg); }
.skipped { color:var(--skipped); background:var(--skipped-bg); }
.untested { color:var(--untested); background:var(--untested-bg); }
tr.row-failed td:first-child, tr.row-error td:first-child { box-shadow:inset 4px 0 var(--failed); }
a { color:#1f5fbf; }
ul.tests { margin:0; padding:0; list-style:none; }
ul.tests li { margin:0 0 3px; display:flex; gap:6px; align-items:baseline; }
ul.tests li a { overflow-wrap:break-word; }
ul.problems li { margin:4px 0; }
footer { color:var(--muted); font-size:12px; margin-top:24px; text-align:center; }
"""

# Nothing runs and nothing loads: the page is inert even if escaping were ever missed.
# Images only from the run folder (screenshots); nothing else is loaded.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _name(test_name: str) -> str:
    """A test name, escaped, that may wrap after its underscores rather than mid-word."""
    return _e(test_name).replace("_", "_<wbr>")


def _nodeid(nodeid: str) -> str:
    """A node id, escaped, that may wrap after its path and `::` separators."""
    return _e(nodeid).replace("/", "/<wbr>").replace("::", "::<wbr>")


def _or_none(value: str | None, *, mono: bool = False) -> str:
    if value is None or value == "":
        return '<span class="none">—</span>'
    return f'<span class="mono">{_e(value)}</span>' if mono else _e(value)


def _badge(result: str, text: str | None = None) -> str:
    return f'<span class="badge {_e(result)}">{_e(text or result)}</span>'


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def _safe_href(path: str) -> str | None:
    """A link to a file inside the run folder, or None for anything that could point elsewhere."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or ":" in path or "\\" in path:
        return None
    return quote(path)


def _test_anchor(index: int) -> str:
    return f"test-{index}"


def _header(results: RunResults, summary: Summary) -> str:
    verdict = summary.verdict
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in summary.reasons)
    files = " · ".join(f'<a href="{_e(name)}">{_e(name)}</a>' for name in RUN_FILES)
    took = _duration(max((results.finished - results.started).total_seconds(), 0.0))
    counts = "".join(
        f'<li class="{_e(outcome) if summary.counts[outcome] else "zero"}">'
        f"{summary.counts[outcome]} {_e(outcome)}</li>"
        for outcome in summary.counts
    )
    req_counts = summary.requirement_counts()
    req_line = ", ".join(f"{count} {result.value}" for result, count in req_counts.items() if count)
    return f"""
<header class="top">
  <div>
    <h1>careid {_e(results.suite)} conformance report</h1>
    <p class="sub">Run <span class="mono">{_e(results.run_id)}</span> ·
      {_e(_when(results.started))} · took {_e(took)} · {_e(results.mode)}</p>
    <p class="sub">Requirements: {_e(len(summary.requirements))} in scope ({_e(req_line or "none")})
      · Files: {files}</p>
    <ul class="counts" aria-label="tests per outcome">{counts}</ul>
  </div>
  <div class="verdict {_e(verdict.value)}" role="status">
    <div class="word">{_e(verdict.value)}</div>
    <ul>{reasons or "<li>every test passed or was waived</li>"}</ul>
  </div>
</header>"""


def _target(results: RunResults) -> str:
    target = results.target
    rows = [
        ("Kind", _e(target.kind)),
        ("Reader", _or_none(target.reader)),
        ("ATR", _or_none(target.atr, mono=True)),
        ("Card serial", _or_none(target.card_serial, mono=True)),
        ("CHUID GUID", _or_none(target.guid, mono=True)),
        ("Care Identity UUID", _or_none(target.uuid, mono=True)),
        ("Label", _or_none(target.label)),
        ("Persona", _or_none(target.persona)),
        ("Fault mode", _or_none(target.fault)),
        ("Mode", _e(results.mode)),
        ("Started", _e(_when(results.started))),
        ("Finished", _e(_when(results.finished))),
    ]
    target_rows = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    version_rows = "".join(
        f"<tr><th>{_e(name)}</th><td>{_or_none(version, mono=True)}</td></tr>"
        for name, version in results.versions.items()
    )
    return f"""
<section id="target">
  <div class="grid">
    <div><h2>Target</h2><table class="kv">{target_rows}</table></div>
    <div><h2>Versions</h2><table class="kv">{version_rows}</table></div>
  </div>
</section>"""


def _test_links(tests: Iterable[tuple[int, TestResult]]) -> str:
    items = "".join(
        f'<li><span class="badge {_e(test.outcome)}">{_e(test.outcome[0].upper())}</span> '
        f'<a href="#{_test_anchor(index)}">{_name(test.name)}</a></li>'
        for index, test in tests
    )
    return f'<ul class="tests">{items}</ul>' if items else '<span class="none">no test</span>'


def _requirements(results: RunResults, summary: Summary) -> str:
    index_of = {id(test): index for index, test in enumerate(results.tests)}
    rows = []
    for row in summary.requirements:
        req = row.requirement
        links = _test_links((index_of[id(test)], test) for test in row.tests)
        rows.append(
            f'<tr class="req row-{_e(row.result.value)}" data-requirement="{_e(req.id)}">'
            f'<td class="mono id">{_e(req.id)}</td><td>{_badge(row.result.value)}</td>'
            f'<td class="text">{_e(req.statement)}</td><td class="text">{_e(req.source)}</td>'
            f"<td>{links}</td></tr>"
        )
    unknown = ""
    if summary.unknown_requirements:
        ids = ", ".join(f"<code>{_e(req_id)}</code>" for req_id in summary.unknown_requirements)
        unknown = f'<p class="failed">Tests name requirements not in the catalog: {ids}</p>'
    body = "".join(rows) or '<tr><td colspan="5" class="none">no requirements in scope</td></tr>'
    return f"""
<section id="requirements">
  <h2>Requirements</h2>
  {unknown}
  <table>
    <colgroup><col style="width:11%"><col style="width:8%"><col style="width:36%">
      <col style="width:22%"><col style="width:23%"></colgroup>
    <thead><tr><th>ID</th><th>Result</th><th>Statement</th><th>Source</th><th>Tests</th></tr>
    </thead>
    <tbody>{body}</tbody>
  </table>
</section>"""


def _not_run(results: RunResults) -> str:
    rows = []
    for index, test in enumerate(results.tests):
        if test.outcome not in ("skipped", "waived"):
            continue
        why = test.waiver if test.outcome == "waived" else test.actual
        rows.append(
            f'<tr><td><a href="#{_test_anchor(index)}">{_name(test.name)}</a>'
            f'<span class="nodeid">{_nodeid(test.nodeid)}</span></td>'
            f"<td>{_badge(test.outcome)}</td>"
            f'<td class="text">{_or_none(why)}</td></tr>'
        )
    if not rows:
        body = '<p class="none">Every test ran; nothing was skipped or waived.</p>'
    else:
        body = (
            "<table><thead><tr><th>Test</th><th>Outcome</th><th>Why</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    return f"""
<section id="not-run">
  <h2>Skipped and waived</h2>
  {body}
</section>"""


def _transcript_cell(test: TestResult) -> str:
    if test.transcript is None:
        return '<span class="none">—</span>'
    href = _safe_href(test.transcript)
    if href is None:
        return f'<span class="failed">unsafe path {_e(test.transcript)}</span>'
    return f'<a href="{_e(href)}">transcript</a>'


def _tests(results: RunResults) -> str:
    rows = []
    for index, test in enumerate(results.tests):
        reqs = "<br>".join(f'<code class="id">{_e(req_id)}</code>' for req_id in test.requirements)
        outcome: Outcome = test.outcome
        rows.append(
            f'<tr id="{_test_anchor(index)}" class="test row-{_e(outcome)}">'
            f"<td>{_badge(outcome)}</td>"
            f'<td class="test-cell"><strong>{_name(test.name)}</strong>'
            f'<span class="nodeid">{_nodeid(test.nodeid)}</span>'
            f'<div class="text">{_e(test.description)}</div></td>'
            f"<td>{reqs or '<span class=none>—</span>'}</td>"
            f'<td class="text result-text">{_e(test.expected)}</td>'
            f'<td class="text result-text">{_e(test.actual)}</td>'
            f'<td class="mono nowrap">{_e(_duration(test.duration))}</td>'
            f"<td>{_transcript_cell(test)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="7" class="none">no tests ran</td></tr>'
    return f"""
<section id="tests">
  <h2>Tests</h2>
  <table>
    <thead><tr><th>Outcome</th><th>Test</th><th>Requirements</th><th>Expected</th>
      <th>Actual</th><th>Time</th><th>APDUs</th></tr></thead>
    <tbody>{body}</tbody>
  </table>
</section>"""


def _self_check(results: RunResults) -> str:
    check = results.self_check
    if check.ok:
        body = (
            f"<p>{_badge('passed')} Every requirement in scope has a test and every test names "
            "known requirements.</p>"
        )
    else:
        problems = "".join(f'<li class="text">{_e(p)}</li>' for p in check.problems)
        body = f'<p>{_badge("failed")}</p><ul class="problems">{problems}</ul>'
    return f"""
<section id="self-check">
  <h2>Suite self-check</h2>
  {body}
</section>"""


def _detection(results: RunResults) -> str:
    detection = results.detection
    if detection is None:
        body = (
            '<p class="none">Not run this time: <code>careid conform --self-check</code> runs '
            "the suite against the virtual card in each fault mode.</p>"
        )
    else:
        rows = []
        for fault in detection.faults:
            caught = _badge("passed", "caught") if fault.caught else _badge("failed", "missed")
            by = " ".join(f'<code class="id">{_e(req_id)}</code>' for req_id in fault.caught_by)
            failing = "".join(f'<li class="mono">{_e(node)}</li>' for node in fault.failed_tests)
            rows.append(
                f'<tr class="fault"><td class="mono">{_e(fault.fault)}</td><td>{caught}</td>'
                f"<td>{by or 'not caught'}</td>"
                f'<td><ul class="tests">{failing}</ul></td></tr>'
            )
        verdict = _badge("passed" if detection.ok else "failed")
        summary = "every fault mode caught" if detection.ok else "some fault modes went unnoticed"
        body = (
            f"<p>{verdict} {_e(summary)}.</p>"
            "<table><thead><tr><th>Fault mode</th><th>Caught</th><th>Caught by requirement</th>"
            "<th>Failing tests</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    return f"""
<section id="detection">
  <h2>Fault detection</h2>
  {body}
</section>"""


def _screenshots(screenshots: Sequence[str]) -> str:
    figures = []
    for path in screenshots:
        href = _safe_href(path)
        if href is None:
            continue
        name = PurePosixPath(path).stem.replace("-", " ")
        figures.append(
            f'<figure><a href="{href}"><img src="{href}" alt="{_e(name)}"></a>'
            f"<figcaption>{_e(name)}</figcaption></figure>"
        )
    if not figures:
        return ""
    return f"""
<section id="screenshots">
  <h2>Screenshots</h2>
  <div class="shots">{"".join(figures)}</div>
</section>"""


def _strip(step_shots: Sequence[tuple[str, str]]) -> str:
    figures = []
    for path, caption in step_shots:
        href = _safe_href(path)
        if href is None:
            figures.append(f'<span class="failed">unsafe path {_e(path)}</span>')
            continue
        figures.append(
            f'<figure><a href="{href}"><img src="{href}" alt="{_e(caption)}"></a>'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "".join(figures) or '<span class="none">not reached</span>'


def _journey(record: JourneyRecord) -> str:
    outcome = {"passed": "passed", "failed": "failed", "skipped": "skipped"}.get(
        record.outcome, "error"
    )
    facts = []
    if record.manual is not None:
        facts.append(f"manual <code>{_e(record.manual.source)}</code>")
    if record.requirement:
        facts.append(f'<code class="id">{_e(record.requirement)}</code>')
    if record.test:
        facts.append(f'<span class="mono">{_nodeid(record.test)}</span>')
    rows = []
    for step in record.steps:
        label = f"Step {step.label}." if record.manual is not None else f"{step.label}:"
        shots = [(shot.file, shot.caption) for shot in step.shots]
        rows.append(
            f'<div class="step"><div><span class="label">{_e(label)}</span>'
            f"{_e(step.wording)}</div>"
            f'<div class="strip">{_strip(shots)}</div></div>'
        )
    message = f'<p class="text">{_e(record.message)}</p>' if record.message else ""
    return (
        f'<div class="journey" id="journey-{_e(record.key)}"><h3>{_e(record.title)} '
        f"{_badge(outcome, record.outcome)}</h3>"
        f'<p class="sub">{" · ".join(facts)}</p>{message}{"".join(rows)}</div>'
    )


def _journeys(journeys: Sequence[JourneyRecord], problems: Sequence[str]) -> str:
    if not journeys and not problems:
        return ""
    manuals = [record for record in journeys if record.manual is not None]
    scenarios = [record for record in journeys if record.manual is None]
    parts = []
    if manuals:
        parts.append("<h3>The manuals, step by step</h3>")
        parts.extend(_journey(record) for record in manuals)
    if scenarios:
        parts.append("<h3>Other journeys</h3>")
        parts.extend(_journey(record) for record in scenarios)
    if problems:
        items = "".join(f"<li>{_e(problem)}</li>" for problem in problems)
        parts.append(
            f'<p>{_badge("error")} journeys left out:</p><ul class="problems">{items}</ul>'
        )
    return f"""
<section id="journeys">
  <h2>Journeys</h2>
  <p class="sub">Each step in the manual's own words, beside what the browser showed at that
  step; the element the step names is outlined.</p>
  {"".join(parts)}
</section>"""


def render_html(
    results: RunResults,
    screenshots: Sequence[str] = (),
    journeys: Sequence[JourneyRecord] = (),
    journey_problems: Sequence[str] = (),
) -> str:
    """The whole page as one string; `screenshots` are PNG paths inside the run folder,
    `journeys` the recorded journeys (picture strips beside the manuals' wording)."""
    summary = summarise(results)
    harness = results.versions.get("careid-harness") or "?"
    title = f"careid {results.suite} conformance: {summary.verdict.value} — {results.run_id}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
{_header(results, summary)}
{_target(results)}
{_requirements(results, summary)}
{_not_run(results)}
{_tests(results)}
{_self_check(results)}
{_detection(results)}
{_journeys(journeys, journey_problems)}
{_screenshots(screenshots)}
<footer>careid-harness {_e(harness)} · results schema {_e(results.schema_)}</footer>
</main>
</body>
</html>
"""
