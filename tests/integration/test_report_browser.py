"""The HTML report as a person sees it: rendered by headless Chromium through Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from conformance.report.build import build_report
from conformance.report.screenshot import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, screenshot_html
from tests.report_samples import copy_sample, sample_document

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


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(copy_sample(tmp_path_factory.mktemp("reports")))


# Per test, not per module: Playwright's sync API allows one running instance at a time, and
# screenshot_html starts its own.
@pytest.fixture
def report(html: Path) -> Iterator[OpenReport]:
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html.as_uri(), wait_until="load")
            yield OpenReport(html, page, requests)
        finally:
            browser.close()


def test_title_verdict_and_headings_are_visible(report: OpenReport) -> None:
    page = report.page
    assert page.title() == "careid card conformance: FAIL — run-1"
    expect(page.get_by_role("heading", level=1)).to_have_text("careid card conformance report")
    for heading in (
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
    links = report.page.get_by_role("link", name="transcript")
    expect(links).to_have_count(15)  # every test but the skipped one sent APDUs
    href = links.first.get_attribute("href")
    assert href is not None and (report.html.parent / href).is_file()


def test_page_loads_nothing_from_outside(report: OpenReport) -> None:
    assert report.requests
    assert all(url.startswith("file://") for url in report.requests), report.requests


def test_screenshot_is_a_full_page_png(html: Path, tmp_path: Path) -> None:
    png = tmp_path / "shots" / "report.png"
    screenshot_html(html, png)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == VIEWPORT["width"]
    assert height > VIEWPORT["height"]  # the whole page, not the first screen
