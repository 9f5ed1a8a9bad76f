"""Trends against earlier runs, and which runs count as history."""

from __future__ import annotations

import pytest

from repromatrix.core.result import CellResult, RunResult
from repromatrix.results.history import earlier_runs, mark_history, resolve_baseline, trend
from repromatrix.results.results import save_run


@pytest.mark.parametrize("current, previous, expected", [
    (True, [], "no-history"),
    (True, [None], "no-history"),
    (True, [False], "new-failure"),
    (False, [True], "fixed"),
    (True, [True], "still-failing"),
    (False, [False], "passing"),
    (True, [False, True, False], "flaky"),
    (False, [False, True], "flaky"),
    (False, [True, False], "passing"),
    (True, [True, False, False, False, False, False], "new-failure"),  # old flips fell out of the window
    (True, [False, None, True], "still-failing"),
])
def test_trend(current, previous, expected):
    assert trend(current, previous) == expected


def make_run(run_id: str, outcomes: dict[str, str], matrix: str = "matrix.yaml") -> RunResult:
    cells = [CellResult(id=i, axes={"os": "bookworm"}, outcome=o, evidence=[], expected=["upgraded"])
             for i, o in outcomes.items()]
    return RunResult(run_id=run_id, matrix=matrix, target={"package": "tensorflow"}, started="s", cells=cells)


def test_history_of_the_same_matrix(tmp_path):
    save_run(make_run("20260101-000000-aaaa", {"a": "upgraded", "b": "upgraded"}), tmp_path / "20260101-000000-aaaa")
    save_run(make_run("20260102-000000-bbbb", {"a": "import-error"}, matrix="other.yaml"),
             tmp_path / "20260102-000000-bbbb")
    save_run(make_run("20260103-000000-cccc", {"a": "upgraded", "b": "import-error"}),
             tmp_path / "20260103-000000-cccc")
    (tmp_path / "latest").symlink_to("20260103-000000-cccc")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{")
    now = make_run("20260104-000000-dddd", {"a": "import-error", "b": "upgraded", "c": "upgraded"})
    history = earlier_runs(tmp_path, now)
    assert [r.run_id for r in history] == ["20260101-000000-aaaa", "20260103-000000-cccc"]
    mark_history(now, history)
    assert now.baseline == "20260103-000000-cccc"
    assert [(c.id, c.trend, c.previous_outcome) for c in now.cells] == [
        ("a", "new-failure", "upgraded"), ("b", "flaky", "import-error"), ("c", "no-history", None)]


def test_baseline_by_id_or_directory(tmp_path):
    save_run(make_run("20260101-000000-aaaa", {"a": "upgraded"}), tmp_path / "20260101-000000-aaaa")
    assert resolve_baseline(tmp_path, "20260101-000000-aaaa").run_id == "20260101-000000-aaaa"
    assert resolve_baseline(tmp_path, str(tmp_path / "20260101-000000-aaaa")).run_id == "20260101-000000-aaaa"


def test_a_cell_an_earlier_run_never_finished_is_no_history():
    from repromatrix.core.result import CellResult, RunResult
    from repromatrix.results.history import mark_history

    def run(run_id: str, outcome: str, rerun: bool = False) -> RunResult:
        cell = CellResult(id="c", axes={}, outcome=outcome, evidence=[], rerun=rerun)
        return RunResult(run_id=run_id, matrix="m.yaml", target={}, started="", cells=[cell])

    now = run("3", "upgraded")
    mark_history(now, [run("1", "interrupted", rerun=True), run("2", "infra-error", rerun=True)])
    assert now.cells[0].trend == "no-history" and now.cells[0].previous_outcome is None
