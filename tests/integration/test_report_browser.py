"""The HTML report in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from repromatrix.core.result import CellResult, RunResult
from repromatrix.results.formats import write_all
from tests.conftest import REPO
from tests.support import real_size_run

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("the browser tests need Debian's chromium: run `bash scripts/provision-host --tests`")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page that records console errors, page errors and dialogs (none may happen)."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", lambda d: (self.problems.append("dialog: " + d.message), d.dismiss()))
        self.page.on("request", lambda r: r.url.startswith("file:") or self.problems.append("request " + r.url))
        started = time.monotonic()
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        self.seconds_to_ready = time.monotonic() - started

    def list_head(self) -> str:
        return self.page.text_content("#list-head")


def test_real_run_report(browser, offline_run):
    cells = offline_run.cells
    view = Page(browser, offline_run.dir / "index.html")
    page = view.page
    # Default pivot: the first two varying axes (os × install).
    assert page.locator("#pivot tr th").first.text_content() == "os \\ install"
    assert page.locator("#pivot tr > th:first-child").all_text_contents()[1:] == ["bullseye", "bookworm", "trixie"]
    assert view.list_head() == f"{len(cells)} of {len(cells)} cells"
    # Switch the columns to `prior`; the other axes stay as filters.
    page.select_option("#col-axis", label="prior")
    assert page.locator("#pivot tr").first.locator("th").all_text_contents()[1:] == ["none", "2.15.0", "2.20.0"]
    # Filter by outcome: hide `upgraded`.
    page.locator("input[data-group=outcome][value=upgraded]").uncheck()
    others = sum(c["outcome"] != "upgraded" for c in cells.values())
    assert view.list_head() == f"{others} of {len(cells)} cells"
    # Text search over evidence, then open a cell.
    page.click("#reset")
    page.fill("#search", "externally-managed-environment")
    assert view.list_head() == f"3 of {len(cells)} cells"
    page.click("tr.row[data-id='bookworm-py3.11-system-fresh']")
    detail = page.locator("#detail")
    assert detail.is_visible()
    assert "error: externally-managed-environment" in detail.locator("pre.evidence").text_content()
    assert "error: externally-managed-environment" in detail.locator("pre.output mark").all_text_contents()
    assert "python3 -m pip install --upgrade tensorflow" in detail.text_content()
    assert "FROM debian:bookworm" in detail.text_content()  # the Dockerfile, inlined
    # What fixes it: the fix to type, then every remedy tried, each with its verdict.
    assert detail.locator("p.fix-verdict").text_content() == "Fix: use a virtual environment (venv)"
    assert detail.locator("pre.fix-commands").text_content().startswith("python3 -m venv /root/fix-venv")
    tried = cells["bookworm-py3.11-system-fresh"]["attempts"]
    assert detail.locator("details.attempt").count() == len(tried) >= 2
    assert detail.locator("details.attempt[data-remedy=user] .badge.f-fails").text_content() == "fails"
    # Colour the pivot by the fix each cell's remedies found.
    page.keyboard.press("Escape")
    page.click("#reset")
    page.select_option("#colour-by", "fix")
    assert any(t.startswith("venv ") for t in page.locator("#pivot .chip.fixable").all_text_contents())
    page.select_option("#colour-by", "outcome")
    # A pivot cell narrows the list to its cells.
    page.keyboard.press("Escape")
    page.click("#reset")
    page.click("#pivot td[data-row=trixie][data-col='2.15.0']")
    assert view.list_head() == f"1 of {len(cells)} cells in os=trixie, prior=2.15.0"
    ARTIFACTS.mkdir(exist_ok=True)
    page.click("tr.row[data-id='trixie-py3.13-venv-tf2.15.0']")
    page.screenshot(path=str(ARTIFACTS / "report-offline-run.png"), full_page=True)
    assert view.problems == []


def test_hostile_content_shows_as_text(browser, tmp_path):
    hostile = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "</script><script>alert(3)</script>"]
    run = RunResult(run_id="hostile", matrix="m.yaml", target={"package": "tensorflow", "version": "",
                    "index": "default"}, started="s",
                    cells=[CellResult(id="c<b>1</b>", axes={"os": "<i>x</i>"}, outcome="unknown-failure",
                                      evidence=hostile, notes=["<svg onload=alert(4)>"])])
    write_all(run, tmp_path)
    view = Page(browser, tmp_path / "index.html")
    view.page.click("tr.row")
    assert view.page.locator("#detail pre.evidence").text_content() == "\n".join(hostile)
    assert view.page.locator("img, svg, i, main b, #detail b, #detail script").count() == 0
    assert view.problems == []


def test_ten_thousand_cells(browser, tmp_path):
    # real-size records and logs: the full records alone are about 60 MB, over the 25 MB budget
    run = real_size_run(10_000, tmp_path)
    write_all(run, tmp_path)
    assert (tmp_path / "index.html").stat().st_size <= 25 * 10**6
    view = Page(browser, tmp_path / "index.html")
    chips = view.page.locator("#pivot .chip").all_text_contents()
    assert sum(int(c) for c in chips) == 10_000  # every cell is on the page, trimmed or not
    assert "it shows less than the full record for " in view.page.text_content("#inline-budget")
    assert view.list_head() == "10000 of 10000 cells; showing the first 300, unexpected first"
    view.page.fill("#search", "externally-managed")
    assert view.list_head().startswith(f"{sum(c.outcome == 'externally-managed' for c in run.cells)} of 10000")
    # a cell that gave up detail says so in its panel, and still names its fix
    page_data = (tmp_path / "index.html").read_text().split('<script id="report-data" type="application/json">')[1]
    trimmed = json.loads(page_data.split("</script>")[0])
    lean = next(c for c in trimmed["cells"] if c.get("trimmed") == "lean" and c["fix"])
    view.page.fill("#search", lean["id"])
    view.page.locator("tr.row").first.click()
    detail = view.page.text_content("#detail")
    assert "Trimmed to keep the page within its size budget: the remedies' evidence" in detail
    assert "Fix: use a virtual environment (venv)" in detail
    assert view.problems == []
    print(f"10,000 cells: interactive after {view.seconds_to_ready:.2f}s (figures: scripts/bench-report)")


def test_with_two_installers_the_pivot_puts_them_side_by_side_per_environment(browser, tmp_path):
    def cell(id_: str, env: str, installer: str, outcome: str) -> CellResult:
        return CellResult(id=id_, axes={"os": "bookworm", "conflicts": env, "installer": installer},
                          outcome=outcome, evidence=[outcome])
    run = RunResult(run_id="sides", matrix="m.yaml", target={"package": "tensorflow", "version": "",
                    "index": "local"}, started="s",
                    cells=[cell("h5py", "h5py", "pip", "upgraded"),
                           cell("h5py-uv", "h5py", "uv", "upgraded-inconsistent"),
                           cell("none", "none", "pip", "upgraded"), cell("none-uv", "none", "uv", "upgraded")])
    write_all(run, tmp_path)
    view = Page(browser, tmp_path / "index.html")
    page = view.page
    assert page.locator("#pivot tr th").first.text_content() == "environment \\ installer"
    assert page.locator("#pivot tr").first.locator("th").all_text_contents()[1:] == ["pip", "uv"]
    assert page.locator("#pivot tr > th:first-child").all_text_contents()[1:] == ["h5py", "none"]
    page.click("#pivot td[data-row=h5py][data-col=uv]")
    assert view.list_head().startswith("1 of 4 cells in environment=h5py, installer=uv")
    page.click("tr.row")
    assert "environment" not in page.locator("#detail dl").first.text_content()  # a pivot's, not the cell's
    assert view.problems == []
