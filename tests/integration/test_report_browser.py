"""The HTML report as a person sees it: rendered by headless Chromium through Playwright.

Every page is opened from disk (file://), as a person opens a run folder, with the page's own
Content-Security-Policy in force: the filters only work if Chromium let report.js run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from conformance.report.build import build_report
from conformance.report.screenshot import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, screenshot_html
from tests.report_samples import (
    MIXED_FAILURE_MESSAGE,
    MIXED_FAILURE_REQUIREMENT,
    MIXED_TARGET,
    copy_sample,
    mixed_document,
    sample_document,
    write_mixed_run,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: scripts/bootstrap installs Debian's chromium",
)


@dataclass
class OpenReport:
    html: Path
    page: Page
    requests: list[str]  # every URL the page asked for
    console: list[str]  # console messages and page errors (a CSP refusal lands here)


Opener = Callable[[Path], OpenReport]


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(copy_sample(tmp_path_factory.mktemp("reports")))


@pytest.fixture(scope="module")
def mixed_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every suite in one run: 131 passes and one failed journey, far down the test table."""
    return build_report(write_mixed_run(tmp_path_factory.mktemp("reports")))


# Per test, not per module: Playwright's sync API allows one running instance at a time, and
# screenshot_html starts its own.
@pytest.fixture
def open_report() -> Iterator[Opener]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )

        def opener(html: Path) -> OpenReport:
            requests: list[str] = []
            console: list[str] = []
            page = browser.new_page(viewport=VIEWPORT)
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: console.append(message.text))
            page.on("pageerror", lambda error: console.append(str(error)))
            page.goto(html.as_uri(), wait_until="load")
            return OpenReport(html, page, requests, console)

        try:
            yield opener
        finally:
            browser.close()


@pytest.fixture
def report(open_report: Opener, html: Path) -> OpenReport:
    return open_report(html)


@pytest.fixture
def mixed(open_report: Opener, mixed_html: Path) -> OpenReport:
    return open_report(mixed_html)


def visible_rows(page: Page, section: str) -> int:
    return page.locator(f"#{section} tbody tr[data-status]:visible").count()


# --- the card sample ---------------------------------------------------------------------------


def test_title_verdict_and_headings_are_visible(report: OpenReport) -> None:
    page = report.page
    assert page.title() == "careid card conformance: FAIL — run-1"
    expect(page.get_by_role("heading", level=1)).to_have_text("careid card conformance report")
    for heading in (
        "Suites",
        "Failures",
        "Target",
        "Versions",
        "Requirements",
        "Skipped and waived",
        "Tests",
        "Suite self-check",
        "Fault detection",
    ):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("FAIL")


def test_every_requirement_row_is_visible(report: OpenReport) -> None:
    page = report.page
    requirements = [req["id"] for req in sample_document()["requirements"]]
    expect(page.locator("tr[data-requirement]")).to_have_count(len(requirements))
    for req_id in requirements:
        expect(page.locator(f'tr[data-requirement="{req_id}"]')).to_be_visible()
    failed = page.locator('tr[data-requirement="CARD-PIN-003"]')
    expect(failed.locator(".badge").first).to_have_text("failed")
    expect(failed).to_contain_text("A wrong PIN answers 63 CX")


def test_transcript_links_open_inside_the_run(report: OpenReport) -> None:
    links = report.page.locator("#tests").get_by_role("link", name="APDU trace")
    expect(links).to_have_count(15)  # every test but the skipped one sent APDUs
    href = links.first.get_attribute("href")
    assert href is not None and (report.html.parent / href).is_file()
    failure_links = report.page.locator("#failures").get_by_role("link", name="APDU trace")
    expect(failure_links).to_have_count(2)  # the failed test and the errored one


def test_page_loads_nothing_from_outside(report: OpenReport) -> None:
    assert report.requests
    assert all(url.startswith("file://") for url in report.requests), report.requests
    loaded = {url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1] for url in report.requests}
    assert {"static/report.css", "static/report.js"} <= loaded


def test_script_and_styles_run_under_the_csp_from_disk(report: OpenReport) -> None:
    page = report.page
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert csp == "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"
    # report.js un-hides the filters; report.css gives the verdict its colour.
    expect(page.locator("#filters")).to_be_visible()
    expect(page.locator("#filters .shown")).to_have_text(
        "16 of 16 requirements, 16 of 16 tests shown"
    )
    colour = page.locator(".verdict").evaluate("e => getComputedStyle(e).borderTopColor")
    assert colour == "rgb(179, 38, 30)"  # --failed
    assert not [line for line in report.console if "Content Security Policy" in line]
    assert report.console == []


def test_screenshot_is_a_full_page_png(html: Path, tmp_path: Path) -> None:
    png = tmp_path / "shots" / "report.png"
    screenshot_html(html, png)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == VIEWPORT["width"]
    assert height > VIEWPORT["height"]  # the whole page, not the first screen


# --- every suite, one failure among many passes -------------------------------------------------


def test_first_failure_is_on_the_first_screen(mixed: OpenReport, tmp_path: Path) -> None:
    page = mixed.page
    height = VIEWPORT["height"]
    page_height = page.evaluate("document.documentElement.scrollHeight")
    assert page_height > 5 * height  # a long page: the check below means something
    failure = page.locator("#failures li.failure")
    expect(failure).to_have_count(1)
    box = failure.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, box  # wholly in view
    expect(failure).to_contain_text(MIXED_FAILURE_REQUIREMENT)
    expect(failure).to_contain_text(MIXED_FAILURE_MESSAGE)
    shot = failure.get_by_role("link", name="screenshot: PIN dialog")
    href = shot.get_attribute("href")
    assert href is not None and (mixed.html.parent / href).is_file()
    # The same failure in the tests table is far below: that is what the list above saves.
    row = page.locator("#tests tr.row-failed")
    row_box = row.bounding_box()
    assert row_box is not None and row_box["y"] > 5 * height
    # One line per suite, each visible without scrolling.
    for suite in ("card", "agent", "oidc", "journeys"):
        line = page.locator(f'tr.suite[data-suite="{suite}"]')
        line_box = line.bounding_box()
        assert line_box is not None and line_box["y"] + line_box["height"] <= height
    png = tmp_path / "first-screen.png"
    page.screenshot(path=str(png))
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_status_filter_hides_passes(mixed: OpenReport) -> None:
    page = mixed.page
    total = len(mixed_document()["tests"])
    assert visible_rows(page, "tests") == total
    page.locator('#filters input[name="status"][value="passed"]').uncheck()
    assert visible_rows(page, "tests") == 1
    expect(page.locator("#tests tbody tr[data-status]:visible")).to_contain_text(
        MIXED_FAILURE_MESSAGE
    )
    assert visible_rows(page, "requirements") == 1  # only the failed requirement
    expect(page.locator("#filters .shown")).to_have_text(
        f"1 of 34 requirements, 1 of {total} tests shown"
    )
    page.get_by_role("button", name="Show all").click()
    expect(page.locator("#tests tbody tr[data-status]:visible")).to_have_count(total)
    page.get_by_role("button", name="Failures only").click()
    expect(page.locator("#tests tbody tr[data-status]:visible")).to_have_count(1)


def test_search_narrows_to_a_requirement_id(mixed: OpenReport) -> None:
    page = mixed.page
    page.get_by_role("searchbox").fill("CARD-PIN-007")
    rows = page.locator("#tests tbody tr[data-status]:visible")
    expect(rows).to_have_count(4)  # the four cases of that requirement
    for index in range(4):
        expect(rows.nth(index)).to_contain_text("CARD-PIN-007")
    expect(page.locator("#requirements tbody tr[data-status]:visible")).to_have_count(1)
    page.get_by_role("searchbox").fill("no test says this")
    expect(rows).to_have_count(0)
    expect(page.locator("#tests .nothing")).to_be_visible()


def test_suite_and_requirement_filters(mixed: OpenReport) -> None:
    page = mixed.page
    page.locator('#filters select[name="suite"]').select_option("agent")
    assert visible_rows(page, "tests") == 32
    assert visible_rows(page, "requirements") == 8
    page.locator('#filters select[name="requirement"]').select_option("AGENT-SIGN-002")
    assert visible_rows(page, "tests") == 4
    # A suite's name in the Suites table shows that suite's tests.
    page.get_by_role("button", name="Show all").click()
    page.locator('tr.suite[data-suite="oidc"] a').click()
    expect(page.locator('#filters select[name="suite"]')).to_have_value("oidc")
    expect(page.locator("#tests tbody tr[data-status]:visible")).to_have_count(40)


def test_target_block_per_suite(mixed: OpenReport) -> None:
    page = mixed.page
    expect(page.locator('.target[data-suite="oidc"]')).to_contain_text(MIXED_TARGET["issuer"])
    expect(page.locator('.target[data-suite="agent"]')).to_contain_text(MIXED_TARGET["agent"])
    journeys = page.locator('.target[data-suite="journeys"]')
    expect(journeys).to_contain_text(MIXED_TARGET["nhsmail"])
    expect(journeys).to_contain_text(MIXED_TARGET["myidentity"])
    expect(page.locator('.target[data-suite="card"]')).to_contain_text("0000123456")


def test_no_column_is_clipped(mixed: OpenReport) -> None:
    page = mixed.page
    clipped = page.evaluate(
        """() => [...document.querySelectorAll(
              '#requirements td, #requirements th, #tests td, #tests th, #failures li')]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => e.textContent.trim().slice(0, 60))"""
    )
    assert clipped == []
    for section in ("requirements", "tests"):
        widths = page.locator(f"#{section}").evaluate(
            "s => [s.querySelector('table').scrollWidth, s.clientWidth]"
        )
        assert widths[0] <= widths[1], (section, widths)
    # The long parametrised id wraps inside its cell instead of widening the table.
    cell = page.locator("#tests td.test-cell").first
    box = cell.bounding_box()
    assert box is not None and box["height"] > 60


def test_journey_strips_still_render(mixed: OpenReport) -> None:
    page = mixed.page
    images = page.locator("#journeys .strip img")
    expect(images).to_have_count(2)
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [320, 320]  # loaded under img-src 'self' from file://
    assert mixed.console == []
