"""A real browser on the page: Debian's chromium driven by Playwright against a uvicorn server.

The server runs in a subprocess on 127.0.0.1 (a free port); the test loads the page, submits a
comparison, checks the table and the charts render, downloads the report and saves screenshots
under ``tmp_path`` (and ``$INFERPLAN_TEST_ARTIFACTS`` if set). ``INFERPLAN_UPDATE_SCREENSHOT=1``
also refreshes ``benchmarks/results/web-screenshot.png`` (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian chromium is not installed (/usr/bin/chromium); "
                                       ".ci/run installs it: apt-get install chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("uvicorn")
    from inferplan.web.local import running_server

    env = os.environ | {"INFERPLAN_HOME": str(tmp_path_factory.mktemp("home"))}
    with running_server(env) as url:
        yield url


def _save(path: Path, name: str) -> None:
    art = os.environ.get("INFERPLAN_TEST_ARTIFACTS")
    if art:
        Path(art).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(art) / name)


def test_page_compares_hardware_and_draws_charts(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            # the page compares its default selection on load; then ask for something else
            page.wait_for_selector("table.compare", timeout=20_000)
            page.select_option("#model", "qwen3-30b-a3b")
            page.select_option("#mode", "batch")
            page.fill("#batch", "8")
            page.fill("#input_len", "2048")
            page.click("#go")
            page.wait_for_function(
                "document.querySelector('#title').textContent.startsWith('qwen3-30b-a3b: 2048')",
                timeout=20_000)
            rows = page.locator("table.compare tbody tr")
            assert rows.count() >= 5
            assert "h100-sxm" in page.locator("table.compare").inner_text()
            for chart in ("pareto", "throughput", "roofline", "memory"):
                page.wait_for_selector(f"#chart-{chart} .main-svg", timeout=10_000)
            assert page.locator("#chart-roofline .scatterlayer .point").count() >= 5
            assert page.locator("#error").is_hidden()
            shot = tmp_path / "web.png"
            page.screenshot(path=str(shot), full_page=True)
            _save(shot, "web-screenshot.png")
            if os.environ.get("INFERPLAN_UPDATE_SCREENSHOT") == "1":
                page.set_viewport_size({"width": 1400, "height": 1400})
                page.screenshot(path=str(REPO / "benchmarks/results/web-screenshot.png"))

            # the report download: one self-contained HTML file
            with page.expect_download(timeout=30_000) as dl:
                page.click("#download")
            report = tmp_path / dl.value.suggested_filename
            dl.value.save_as(report)
            text = report.read_text()
            assert report.name == "inferplan-report-qwen3-30b-a3b.html"
            assert "Plotly.newPlot" in text and 'src="http' not in text

            # a bad input is explained on the page, not a blank screen
            page.fill("#input_len", "0")
            page.fill("#output_len", "0")
            page.click("#go")
            page.wait_for_selector("#error:not([hidden])", timeout=10_000)
            assert "must be > 0" in page.locator("#error").inner_text()
            assert not errors, errors
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    # no request left this machine: no CDN, fonts or analytics
    assert requests and all(u.startswith((server, "blob:", "data:")) for u in requests), [
        u for u in requests if not u.startswith(server)]
