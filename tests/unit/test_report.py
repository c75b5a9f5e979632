"""The run report: results.json checking, the CSV, the HTML page and the `latest` link."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.report.assets import CSP, SCRIPT, STATIC_FILES, STYLESHEET, static_bytes
from conformance.report.build import LatestLinkError, build_report, point_latest
from conformance.report.csv_report import COLUMNS, render_csv
from conformance.report.html_report import render_html
from conformance.report.journeys import load_journeys
from conformance.report.model import (
    ResultsFileError,
    RunResults,
    attach_detection,
    load_results,
    parse_results,
)
from conformance.report.suites import suite_lines, suite_of
from conformance.report.summary import RequirementResult, Verdict, summarise
from tests.report_samples import (
    LONG_PARAM,
    MIXED_FAILURE_MESSAGE,
    MIXED_FAILURE_REQUIREMENT,
    MIXED_TARGET,
    Document,
    all_passed,
    copy_sample,
    edit_results,
    mixed_document,
    sample_document,
    write_mixed_run,
)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def results_of(document: Document) -> RunResults:
    return parse_results(json.dumps(document))


@pytest.fixture
def sample() -> RunResults:
    return results_of(sample_document())


# --- results.json ------------------------------------------------------------------------------


def test_sample_results_file_loads(tmp_path: Path) -> None:
    run_dir = copy_sample(tmp_path)
    results = load_results(run_dir)
    assert results.run_id == "run-1"
    assert len(results.requirements) == 16
    assert {test.outcome for test in results.tests} == {
        "passed",
        "failed",
        "error",
        "waived",
        "skipped",
    }


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["tests"][3].update(outcome="ok"), "tests.3.outcome"),
        (lambda d: d["target"].pop("kind"), "target.kind"),
        (lambda d: d.pop("requirements"), "requirements"),
        (lambda d: d["tests"][0].update(duration="fast"), "tests.0.duration"),
        (lambda d: d.update(mode="careful"), "mode"),
        (lambda d: d["self_check"].update(ok="maybe"), "self_check.ok"),
        (lambda d: d["detection"]["faults"][0].pop("fault"), "detection.faults.0.fault"),
    ],
)
def test_malformed_results_name_the_field(tmp_path: Path, change: object, named: str) -> None:
    run_dir = copy_sample(tmp_path)
    edit_results(run_dir, change)  # type: ignore[arg-type]
    with pytest.raises(ResultsFileError) as caught:
        load_results(run_dir)
    message = str(caught.value)
    assert f"  {named}:" in message
    assert str(run_dir / "results.json") in message


def test_results_that_are_not_json_or_not_there(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="no results file"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFileError, match="not valid JSON"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": "careid-results/9"}', encoding="utf-8")
    with pytest.raises(ResultsFileError, match="careid-results/9"):
        load_results(tmp_path)


def test_unknown_extra_keys_are_ignored() -> None:
    document = sample_document()
    document["tests"][0]["retries"] = 2
    document["plugin_notes"] = ["from a newer plugin"]
    assert results_of(document).tests[0].name == "test_select_piv"


def test_detection_table_is_checked_then_attached(tmp_path: Path) -> None:
    run_dir = copy_sample(tmp_path)
    edit_results(run_dir, lambda d: d.update(detection=None))
    with pytest.raises(ResultsFileError, match=r"faults\.0\.caught_by"):
        attach_detection(run_dir, {"ok": True, "faults": [{"fault": "slow", "caught_by": 3}]})
    assert load_results(run_dir).detection is None
    table = {"ok": True, "faults": [{"fault": "slow", "caught_by": ["CARD-SIG-001"]}]}
    attach_detection(run_dir, table)
    detection = load_results(run_dir).detection
    assert detection is not None and detection.faults[0].caught


# --- summary -----------------------------------------------------------------------------------


def test_requirement_results_and_verdict(sample: RunResults) -> None:
    summary = summarise(sample)
    by_id = {row.requirement.id: row.result for row in summary.requirements}
    assert by_id["CARD-PIN-003"] is RequirementResult.FAILED  # one parameter failed
    assert by_id["CARD-SW-002"] is RequirementResult.FAILED  # an error counts as a failure
    assert by_id["CARD-DO-002"] is RequirementResult.WAIVED
    assert by_id["CARD-PIN-005"] is RequirementResult.SKIPPED
    assert by_id["CARD-SEL-001"] is RequirementResult.PASSED
    assert summary.counts == {"passed": 12, "failed": 1, "error": 1, "waived": 1, "skipped": 1}
    assert summary.verdict is Verdict.FAIL
    assert any("slow" in reason for reason in summary.reasons)


def test_clean_run_passes_and_empty_run_is_incomplete() -> None:
    document = sample_document()
    all_passed(document)
    assert summarise(results_of(document)).verdict is Verdict.PASS
    for test in document["tests"]:
        test["outcome"] = "skipped"
    summary = summarise(results_of(document))
    assert summary.verdict is Verdict.INCOMPLETE
    document["tests"] = []
    rows = summarise(results_of(document)).requirements
    assert {row.result for row in rows} == {RequirementResult.UNTESTED}


def test_self_check_problems_fail_the_run() -> None:
    document = sample_document()
    all_passed(document)
    document["self_check"] = {"ok": False, "problems": ["CARD-X-001 has no test"]}
    assert summarise(results_of(document)).verdict is Verdict.FAIL


# --- CSV ---------------------------------------------------------------------------------------


def csv_rows(results: RunResults) -> list[dict[str, str]]:
    text = render_csv(results)
    assert text.splitlines()[0] == "Date,Test Id,Description,Expected Result,Actual Result"
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_one_row_per_test_in_run_order(sample: RunResults) -> None:
    rows = csv_rows(sample)
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == len(sample.tests)
    first = rows[0]
    assert first["Date"] == "2025-03-14T09:30:00+00:00"
    assert first["Test Id"] == "CARD-SEL-001/test_select_piv"
    assert first["Description"] == "SELECT the PIV application."
    assert first["Expected Result"] == "90 00 with tag 61"
    assert first["Actual Result"] == "PASSED: 90 00, 61 with AID and PIV version"


def test_csv_test_ids_and_outcomes(sample: RunResults) -> None:
    rows = {row["Test Id"]: row for row in csv_rows(sample)}
    failed = rows["CARD-PIN-003+CARD-PIN-004/test_wrong_pin[series9]"]
    assert failed["Actual Result"].startswith("FAILED: 69 82")
    waived = rows["CARD-DO-002/test_discovery_object"]["Actual Result"]
    assert waived.startswith("WAIVED: ") and "(waived: Series 8 cards predate" in waived
    skipped = rows["CARD-PIN-005/test_pin_block_and_unblock"]["Actual Result"]
    assert skipped.startswith("SKIPPED: needs --careid-destructive with the card's PIN and PUK")


def test_csv_quotes_commas_newlines_and_defuses_formulas() -> None:
    document = sample_document()
    document["tests"][0].update(
        description='=HYPERLINK("http://x","y")', expected="a, b\nc", requirements=[]
    )
    row = csv_rows(results_of(document))[0]
    assert row["Description"] == '\'=HYPERLINK("http://x","y")'
    assert row["Expected Result"] == "a, b\nc"
    assert row["Test Id"] == "test_select_piv"


# --- HTML --------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what the tests look at: requirement rows, scripts, styles, links, headings."""

    def __init__(self) -> None:
        super().__init__()
        self.requirements: list[str] = []
        self.inline_scripts = 0  # <script> without src, or an on* handler
        self.inline_styles = 0  # <style> or a style attribute
        self.hrefs: list[str] = []
        self.external: list[str] = []  # everything the page loads by itself
        self.headings: list[str] = []
        self.csp: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-requirement"):
            self.requirements.append(found["data-requirement"] or "")
        if (tag == "script" and not found.get("src")) or any(n.startswith("on") for n in found):
            self.inline_scripts += 1
        if tag == "style" or "style" in found:
            self.inline_styles += 1
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(found.get("content") or "")
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"] or "")
        for name in ("src", "srcset"):
            if found.get(name):
                self.external.append(found[name] or "")
        if tag == "link":
            self.external.append(found.get("href") or "")
        self._in_heading = tag in ("h1", "h2")

    def handle_data(self, data: str) -> None:
        if self._in_heading and data.strip():
            self.headings.append(data.strip())
            self._in_heading = False


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_html_lists_every_requirement_in_scope(sample: RunResults) -> None:
    page = parse_page(render_html(sample))
    assert page.requirements == [req.id for req in sample.requirements]
    # The first screen: title and verdict, the suites, the failures; then the target.
    assert page.headings[:4] == ["careid card conformance report", "Suites", "Failures", "Target"]
    assert {"Versions", "Requirements", "Skipped and waived", "Tests", "Suite self-check"} <= set(
        page.headings
    )
    assert "Fault detection" in page.headings


def test_html_shows_target_verdict_waivers_and_transcripts(sample: RunResults) -> None:
    text = render_html(sample)
    for shown in (
        sample.target.atr,
        "0000123456",
        "4f2b1c0e9d8a47b6a1c3d5e7f9012345",
        "555000000042",
        "NHS Care Identity (series 9)",
        "cryptography",
        '<div class="word">FAIL</div>',
        "Series 8 cards predate the discovery object",
        "needs --careid-destructive",
        "wrong_sw_on_wrong_pin",
    ):
        assert shown is not None and shown in text
    hrefs = parse_page(text).hrefs
    assert "transcripts/008-test_wrong_pin.txt" in hrefs
    assert {"results.csv", "results.json", "junit.xml"} <= set(hrefs)


def test_html_escapes_hostile_strings_everywhere() -> None:
    document = sample_document()
    document["run_id"] = HOSTILE
    document["target"].update(label=HOSTILE, reader=HOSTILE, atr=HOSTILE)
    document["versions"][HOSTILE] = HOSTILE
    document["requirements"][0].update(statement=HOSTILE, source=HOSTILE, id=HOSTILE)
    document["tests"][0].update(
        name=HOSTILE, nodeid=HOSTILE, description=HOSTILE, actual=HOSTILE, requirements=[HOSTILE]
    )
    document["tests"][3].update(waiver=HOSTILE)
    document["self_check"] = {"ok": False, "problems": [HOSTILE]}
    document["detection"]["faults"][0].update(fault=HOSTILE, failed_tests=[HOSTILE])
    text = render_html(results_of(document))
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    page = parse_page(text)
    assert page.inline_scripts == 0 and page.inline_styles == 0
    assert page.external == [STYLESHEET, SCRIPT]  # the page's own files, nothing else
    assert HOSTILE in page.requirements  # escaped in the attribute, intact once parsed


@pytest.mark.parametrize(
    "transcript",
    ["javascript:alert(1)", "/etc/passwd", "../../secret.txt", "https://evil.example/x"],
)
def test_html_links_only_transcripts_inside_the_run(transcript: str) -> None:
    document = sample_document()
    document["tests"][0]["transcript"] = transcript
    page = parse_page(render_html(results_of(document)))
    assert not any(transcript in href for href in page.hrefs)


def test_html_without_detection_says_how_to_get_it() -> None:
    document = sample_document()
    document["detection"] = None
    assert "careid conform --self-check" in render_html(results_of(document))


def section(text: str, section_id: str) -> str:
    """The HTML of one `<section id=...>` of the page."""
    start = text.index(f'<section id="{section_id}"')
    return text[start : text.index("</section>", start)]


def test_first_screen_lists_each_failure_with_requirement_message_and_trace(
    sample: RunResults,
) -> None:
    text = render_html(sample)
    assert text.index('role="status"') < text.index('id="suites"') < text.index('id="failures"')
    assert text.index('id="failures"') < text.index('id="target"')
    failures = section(text, "failures")
    assert failures.count('<li class="failure') == 2  # the failed test and the errored one
    for shown in (
        'href="#req-CARD-PIN-003"',
        'href="#req-CARD-PIN-004"',
        "69 82 (security status not satisfied)",
        'href="transcripts/008-test_wrong_pin.txt">APDU trace',
        'href="#req-CARD-SW-002"',
        "ConnectionLost: reader went away during transmit",
        'href="transcripts/014-test_bad_p1p2.txt">APDU trace',
    ):
        assert shown in failures
    for not_shown in ("test_select_piv", "test_discovery_object", "test_pin_block_and_unblock"):
        assert not_shown not in failures  # passed, waived, skipped: not failures


def test_clean_run_says_no_failure() -> None:
    document = sample_document()
    all_passed(document)
    failures = section(render_html(results_of(document)), "failures")
    assert "No test failed" in failures and '<li class="failure' not in failures


def test_suite_lines_count_each_suite_of_a_mixed_run() -> None:
    lines = {line.suite: line for line in suite_lines(results_of(mixed_document()))}
    assert list(lines) == ["card", "agent", "oidc", "journeys"]  # cis2 is the oidc suite's
    assert lines["card"].counts["passed"] == 48 and lines["card"].verdict is Verdict.PASS
    assert lines["oidc"].counts["passed"] == 40  # its CIS2-* requirements included
    journeys = lines["journeys"]
    assert (journeys.counts["passed"], journeys.counts["failed"]) == (11, 1)
    assert journeys.verdict is Verdict.FAIL


def test_suites_table_has_a_line_per_suite_with_its_counts() -> None:
    suites = section(render_html(results_of(mixed_document())), "suites")
    rows = suites.split('<tr class="suite"')[1:]
    assert [row.split('data-suite="')[1].split('"')[0] for row in rows] == [
        "card",
        "agent",
        "oidc",
        "journeys",
    ]
    assert 'class="num failed" data-outcome="failed">1<' in rows[3]
    assert 'class="num zero" data-outcome="failed">0<' in rows[0]


@pytest.mark.parametrize(
    ("nodeid", "requirements", "suite"),
    [
        ("conformance/agent/test_pin.py::test_x", [], "agent"),
        ("../lib/python3.11/site-packages/conformance/oidc/test_claims.py::t", [], "oidc"),
        ("tests/test_elsewhere.py::test_y", ["CIS2-ACR-001"], "oidc"),
        ("tests/test_elsewhere.py::test_y", ["PORTAL-X-001"], "journeys"),
        ("tests/test_elsewhere.py::test_y", ["NOPE-001"], "other"),
    ],
)
def test_suite_of_a_test(nodeid: str, requirements: list[str], suite: str) -> None:
    test = sample_document()["tests"][0] | {"nodeid": nodeid, "requirements": requirements}
    assert suite_of(results_of(sample_document() | {"tests": [test]}).tests[0]) == suite


def target_block(text: str, suite: str) -> str:
    start = text.index(f'<div class="target" data-suite="{suite}">')
    return text[start : text.index("</table>", start)]


def test_target_block_per_suite_shows_what_that_suite_ran_against() -> None:
    document = mixed_document()
    text = render_html(results_of(document))
    card = target_block(text, "card")
    assert document["target"]["atr"] in card and "0000123456" in card
    assert MIXED_TARGET["issuer"] not in card
    oidc = target_block(text, "oidc")
    assert MIXED_TARGET["issuer"] in oidc and "cis2" in oidc
    assert document["target"]["atr"] not in oidc  # the card is not what oidc tested
    agent = target_block(text, "agent")
    assert MIXED_TARGET["agent"] in agent and MIXED_TARGET["origin"] in agent
    journeys = target_block(text, "journeys")
    for url in ("issuer", "nhsmail", "myidentity", "agent"):
        assert MIXED_TARGET[url] in journeys
    # One flat target per run: the page says which fields several suites share.
    assert "kind, persona, issuer, agent are written by more than one" in section(text, "target")


def test_card_run_has_only_the_card_target() -> None:
    text = render_html(results_of(sample_document()))
    assert text.count('<div class="target"') == 1 and "Issuer" not in section(text, "target")


def test_failed_journey_links_its_screenshot_and_strip(tmp_path: Path) -> None:
    run_dir = write_mixed_run(tmp_path)
    journeys, problems = load_journeys(run_dir)
    assert problems == []
    text = render_html(load_results(run_dir), (), journeys)
    failures = section(text, "failures")
    assert failures.count('<li class="failure') == 1
    assert f'href="#req-{MIXED_FAILURE_REQUIREMENT}"' in failures
    assert MIXED_FAILURE_MESSAGE in failures
    assert 'href="screenshots/journeys/manual-000-02.png">screenshot: PIN dialog' in failures
    assert 'href="#journey-manual-000"' in failures and 'id="journey-manual-000"' in text
    assert "APDU trace" not in failures  # journeys send no APDUs of their own


def test_unsafe_transcript_of_a_failure_is_named_not_linked() -> None:
    document = sample_document()
    document["tests"][8]["transcript"] = "../../etc/passwd"
    failures = section(render_html(results_of(document)), "failures")
    assert "unsafe path ../../etc/passwd" in failures and 'href="../../etc' not in failures


def test_rows_carry_what_the_filters_match_on() -> None:
    document = mixed_document()
    text = render_html(results_of(document))
    rows = section(text, "tests").split('<tr id="test-')[1:]
    assert len(rows) == len(document["tests"])
    failed = next(row for row in rows if MIXED_FAILURE_MESSAGE in row)
    assert 'data-status="failed"' in failed and 'data-suite="journeys"' in failed
    assert f'data-requirements="{MIXED_FAILURE_REQUIREMENT}"' in failed
    assert sum('data-status="passed"' in row for row in rows) == len(rows) - 1
    assert '<form id="filters"' in text and " hidden>" in text.split('<form id="filters"')[1][:200]


def test_long_node_ids_get_break_chances() -> None:
    text = render_html(results_of(mixed_document()))
    assert (
        "conformance/<wbr>card/<wbr>test_pin.py::<wbr>test_card_pin_001[<wbr>persona-<wbr>" in text
    )
    # The break chances go between the id's parts; the text itself is unchanged.
    assert LONG_PARAM.replace("-", "-<wbr>") in text


def test_page_names_its_csp_and_own_static_files(tmp_path: Path) -> None:
    page = parse_page(render_html(results_of(sample_document())))
    assert page.csp == [CSP]
    assert CSP == "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"
    assert page.inline_scripts == 0 and page.inline_styles == 0
    html = build_report(copy_sample(tmp_path))
    for name in STATIC_FILES:
        copied = html.parent / name
        assert copied.read_bytes() == static_bytes(name) and copied.stat().st_size > 500
    # No URL in our own files either (no @import, url(), fetch): nothing loads from elsewhere.
    for name in STATIC_FILES:
        shipped = static_bytes(name).decode("utf-8")
        assert "://" not in shipped and "url(" not in shipped and "fetch(" not in shipped


# --- build and the latest link -----------------------------------------------------------------


def test_build_writes_csv_and_html_and_points_latest(tmp_path: Path) -> None:
    run_dir = copy_sample(tmp_path)
    html = build_report(run_dir)
    assert html == run_dir / "index.html"
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (run_dir / "results.csv").read_text(encoding="utf-8").startswith("Date,Test Id,")
    latest = tmp_path / "latest"
    assert latest.is_symlink() and latest.readlink() == Path("run-1")  # relative: movable
    assert (latest / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "run-1"]


def test_latest_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = copy_sample(tmp_path, "run-1")
    second = copy_sample(tmp_path, "run-2")
    build_report(first)
    latest = tmp_path / "latest"
    seen: list[Path] = []
    original = Path.replace

    def watching_replace(self: Path, target: str | Path) -> Path:
        if Path(target) == latest:
            # At the moment of the swap the old link is still whole and the new one ready.
            seen.append(latest.readlink())
            assert self.is_symlink() and self.readlink() == Path("run-2")
        return original(self, target)

    monkeypatch.setattr(Path, "replace", watching_replace)
    build_report(second)
    assert seen == [Path("run-1")]
    assert latest.readlink() == Path("run-2")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rebuilding_through_latest_keeps_it_pointing_at_the_run(tmp_path: Path) -> None:
    build_report(copy_sample(tmp_path))
    build_report(tmp_path / "latest")
    assert (tmp_path / "latest").readlink() == Path("run-1")


def test_latest_that_is_a_real_folder_is_left_alone(tmp_path: Path) -> None:
    run_dir = copy_sample(tmp_path)
    (tmp_path / "latest").mkdir()
    with pytest.raises(LatestLinkError, match="not a symlink"):
        point_latest(run_dir)
    assert (tmp_path / "latest").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_malformed_results_build_no_report(tmp_path: Path) -> None:
    run_dir = copy_sample(tmp_path)
    edit_results(run_dir, lambda d: d["tests"][0].pop("outcome"))
    with pytest.raises(ResultsFileError, match=r"tests\.0\.outcome: Field required"):
        build_report(run_dir)
    assert not (run_dir / "index.html").exists()
    assert not (tmp_path / "latest").exists()


def test_screenshots_of_the_run_are_shown_and_nothing_outside_it(tmp_path: Path) -> None:
    run_dir = copy_sample(tmp_path / "reports")
    shots = run_dir / "screenshots"
    shots.mkdir()
    (shots / "pin-dialog.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert '<img src="screenshots/pin-dialog.png"' in html
    assert "img-src 'self' data:" in parse_page(html).csp[0]
    page = render_html(load_results(run_dir), ["../elsewhere.png", "/etc/passwd.png"])
    assert "elsewhere" not in page and "passwd" not in page and "<img" not in page
