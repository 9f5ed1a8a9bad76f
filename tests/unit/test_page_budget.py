"""index.html within its size budget (--size-budget, default 25 MB) whatever the run's size: every
cell stays on the page, cells give up detail in stages, the expected ones first, and the page and
each trimmed cell's panel say so."""

from __future__ import annotations

import json
import re

from repromatrix.core.outcomes import OUTCOME_INFO, Outcome
from repromatrix.results import page_budget
from repromatrix.results.report import _script_json, render_html, report_data
from tests.support import real_size_run

FAILED = frozenset(o.value for o in Outcome if OUTCOME_INFO[o].failed)


def page_cells(page: str) -> list[dict]:
    data = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S)
    assert data, "the page's data block"
    return json.loads(data.group(1))["cells"]


def test_ten_thousand_real_size_cells_fit_25_mb_with_every_cell_and_the_unexpected_trimmed_last(tmp_path):
    run = real_size_run(10_000, tmp_path)
    records = _script_json(report_data(run, tmp_path)["cells"])
    assert len(records.encode()) > 30 * 10**6  # the records alone are over GitHub's 25 MB
    page = render_html(run, tmp_path)
    assert len(page.encode()) <= 25 * 10**6
    cells = page_cells(page)
    assert [c["id"] for c in cells] == [c.id for c in run.cells]  # the pivot and list are whole
    pairs = zip(cells, run.cells, strict=True)
    assert all(c["outcome"] == r.outcome and c["evidence"][0] == r.evidence[0] for c, r in pairs)
    trimmed = [c for c in cells if c.get("trimmed")]
    rank = {None: 0, "lean": 1, "minimal": 2}
    # the unexpected cells keep the most: none is trimmed further than any expected cell
    assert max(rank[c.get("trimmed")] for c in cells if c["unexpected"]) <= min(
        rank[c.get("trimmed")] for c in cells if not c["unexpected"])
    assert f"less than the full record for {len(trimmed)} cells" in page and "25 MB budget" in page


def test_a_small_budget_trims_the_expected_cells_before_any_unexpected_one(tmp_path):
    run = real_size_run(2_000, tmp_path)
    page = render_html(run, tmp_path, budget_mb=3)
    assert len(page.encode()) <= 3 * 10**6
    cells = page_cells(page)
    rank = {None: 0, "lean": 1, "minimal": 2}
    expected = [rank[c.get("trimmed")] for c in cells if not c["unexpected"]]
    unexpected = [rank[c.get("trimmed")] for c in cells if c["unexpected"]]
    assert max(unexpected) <= min(expected)  # an unexpected cell loses detail only after every expected one
    minimal = next(c for c in cells if c.get("trimmed") == "minimal" and c["attempts"])
    # what the list and the panel count stays true: the remedies' verdicts, the fix
    assert [a["fix"] for a in minimal["attempts"]] == ["works", "fails", "fails"] and minimal["fix"] == "venv"
    assert all(a["evidence"] == [] for a in minimal["attempts"]) and len(minimal["evidence"]) == 1


def test_a_page_within_its_budget_is_untouched(tmp_path):
    run = real_size_run(50, tmp_path)
    page = render_html(run, tmp_path)
    assert not any(c.get("trimmed") for c in page_cells(page)) and "less than the full record" not in page
    assert all("output" in c for c in page_cells(page))  # small runs inline their logs' ends


def test_a_budget_nothing_fits_still_writes_every_cell_and_says_it_is_over(tmp_path):
    run = real_size_run(300, tmp_path)
    page = render_html(run, tmp_path, budget_mb=0.05)
    assert len(page_cells(page)) == 300
    assert "Even so the page is over its budget: attach report.zip or summary.png." in page


def test_the_stages_each_leave_less_and_keep_what_the_list_shows():
    cell = {"id": "c", "values": ["bookworm"], "outcome": "permission-denied", "unexpected": False,
            "evidence": [f"line {i}" for i in range(9)], "fix": "venv", "notes": ["n"], "output": "x" * 500,
            "dockerfileText": "FROM x", "changed": [{"name": "keras"}], "checks": [{"output": "y"}],
            "attempts": [{"remedy": r, "fix": f, "outcome": "upgraded", "title": "t", "commands": ["c" * 80],
                          "evidence": ["e" * 80] * 9, "warning": "w" * 80} for r, f in (("venv", "works"),
                                                                                        ("user", "fails"))],
            "pipCheck": {"exitCode": 1, "output": "z" * 99}, "issueFields": "f" * 300, "whyNoWheel": {"x": 1}}
    sizes = [len(json.dumps(stage(cell))) for stage in page_budget.STAGES]
    assert len(json.dumps(cell)) > sizes[0] > sizes[1] > sizes[2]
    for stage in page_budget.STAGES:
        smaller = stage(cell)
        assert (smaller["id"], smaller["values"], smaller["outcome"], smaller["evidence"][0]) == (
            "c", ["bookworm"], "permission-denied", "line 0")
        assert smaller["attempts"][0]["fix"] == "works"
