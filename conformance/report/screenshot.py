"""Render an HTML report in headless Chromium and save a full-page PNG.

Playwright drives Debian's `chromium` package: the machines this runs on cannot download
Playwright's own browser builds.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import ViewportSize, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no sandbox (containers, root), no GPU, and no network chatter of its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = ViewportSize(width=1366, height=900)


class BrowserMissingError(Exception):
    """Debian's chromium is not installed (scripts/bootstrap installs it)."""


def screenshot_html(html: Path, png: Path, *, chromium: Path = CHROMIUM) -> None:
    """Open `html` from disk in headless Chromium and write a full-page screenshot to `png`."""
    if not chromium.exists():
        raise BrowserMissingError(f"{chromium} not found: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=list(CHROMIUM_ARGS)
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(html.resolve().as_uri(), wait_until="load")
            png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
