"""The HTML report: rendered from stored results only; hostile text shows as text."""

from __future__ import annotations

from repromatrix.report import render_html
from repromatrix.results import CellResult, RunResult, load_run, save_run

HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>']


def run_with(evidence: list[str]) -> RunResult:
    cells = [CellResult(id="bookworm-py3.11-venv-fresh", axes={"os": "bookworm", "install": "venv"},
                        outcome="upgraded", evidence=evidence, before=None, after="2.21.0",
                        expected=["upgraded"]),
             CellResult(id="bookworm-py3.11-system-fresh", axes={"os": "bookworm", "install": "system"},
                        outcome="externally-managed", evidence=["error: externally-managed-environment"],
                        expected=["upgraded"])]
    return RunResult(run_id="r1", matrix="matrix.yaml", target={"package": "tensorflow", "version": "",
                     "index": "default"}, started="s", cells=cells)


def test_hostile_text_is_escaped():
    html = render_html(run_with(HOSTILE))
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html


def test_page_is_self_contained_and_shows_outcomes():
    html = render_html(run_with(["Successfully installed tensorflow-2.21.0"]))
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "externally-managed" in html and "expected upgraded" in html  # the unexpected cell says so
    assert 'href="#bookworm-py3.11-system-fresh"' in html


def test_results_round_trip(tmp_path):
    run = run_with(["x"])
    save_run(run, tmp_path)
    again = load_run(tmp_path)
    assert again.to_json() == run.to_json()
    data = again.to_json()
    assert data["schema"] == 1 and data["counts"] == {"upgraded": 1, "externally-managed": 1}
    assert [c["matches_expectation"] for c in data["cells"]] == [True, False]
