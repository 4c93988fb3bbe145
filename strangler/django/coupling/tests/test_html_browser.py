"""The --html page of the monolith (with the coupled fixture app beside it) opened in headless
Chromium (Debian's, which .ci/run installs; missing, the test fails) with every network request refused: the graph, metrics and edges render from the page
alone. Leaves a screenshot in bench/results/coupling.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from .support import ROOT, run_command, write
from .test_fixture_app import APPS, FILES

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "bench" / "results" / "coupling.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def test_the_page_renders_offline(tmp_path: Path):
    write(tmp_path, FILES)
    page_file = tmp_path / "coupling.html"
    run_command(tmp_path, "coupled_settings", "--apps", APPS, "--shared", "kernel", "--html", str(page_file),
                "--partition", "payments,catalog")
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                       if not route.request.url.startswith("file:") else route.continue_())
            page.goto(page_file.as_uri())
            assert page.locator("svg circle").count() == 7
            assert page.locator("svg line").count() >= 6
            assert page.get_by_text("Partition (proposed): payments | catalog | rest").is_visible()
            assert page.locator("table.metrics td").count() == 5
            details = page.locator("details", has=page.locator("summary", has_text="coupled_fixture:"))
            details.locator("summary").click()
            assert details.get_by_text("Wishlist.product -> catalog.Product").is_visible()
            assert details.get_by_text("post_save(sender=catalog.Product) -> product_saved").is_visible()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(SCREENSHOT), full_page=False)
        finally:
            browser.close()
    assert requests == []
