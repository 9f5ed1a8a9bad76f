"""`repromatrix diff` and a run against its baseline: which cells ended otherwise, and every
distribution the two upgrades left at different versions, with when the index got each."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from repromatrix.core.files import write_atomic
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import CellResult, RunResult
from repromatrix.judge.index import UploadTimes
from repromatrix.pipeline.hosts import date_changes
from repromatrix.results.diff import diff_runs, render_diff
from repromatrix.results.formats import render_markdown
from repromatrix.results.history import mark_history
from repromatrix.results.results import load_run
from tests.unit.test_cli import NO_DOCKER, cli


def cell(cid: str, outcome: Outcome, after: str, *changed: tuple[str, str | None, str | None, str]) -> CellResult:
    return CellResult(cid, {"os": "bookworm"}, outcome, ["said"], after=after,
                      changed=[{"name": n, "change": "upgraded", "before": b, "after": a, "installer": "pip"}
                               | ({"uploaded": t} if t else {}) for n, b, a, t in changed])


def run(run_id: str, *cells: CellResult, as_of: str = "") -> RunResult:
    target = {"package": "tensorflow", "index": "local"} | ({"as_of": as_of} if as_of else {})
    return RunResult(run_id=run_id, matrix="m.yaml", target=target, started="2026-12-04T00:00:00+00:00",
                     cells=list(cells))


NIGHT_1 = run(
    "night-1",
    cell("a", Outcome.UPGRADED, "2.17.0", ("tensorflow", "2.15.0", "2.17.0", "2024-07-11T12:00:00Z"),
         ("keras", "2.15.0", "3.15.1", "")),
    cell("same", Outcome.UPGRADED, "2.17.0", ("tensorflow", "2.15.0", "2.17.0", "")),
    cell("gone", Outcome.UPGRADED, "2.17.0"),
    as_of="2024-09-01T00:00:00Z",
)
NIGHT_2 = run(
    "night-2",
    # protobuf moved only in the second night: the first left it where both started (4.25.8)
    cell("a", Outcome.UPGRADED_INCONSISTENT, "2.20.0",
         ("tensorflow", "2.15.0", "2.20.0", "2025-08-13T12:00:00Z"), ("keras", "2.15.0", "3.15.1", ""),
         ("protobuf", "4.25.8", "6.33.1", "2022-01-03T00:00:00Z")),
    cell("same", Outcome.UPGRADED, "2.17.0", ("tensorflow", "2.15.0", "2.17.0", "")),
    cell("new", Outcome.UPGRADED, "2.21.0"),
)


def test_the_diff_names_each_cell_that_changed_and_what_resolved_otherwise():
    diff = diff_runs(NIGHT_1, NIGHT_2)
    (changed,) = diff.differing()
    assert changed.cell == "a" and changed.outcome == ("upgraded", "upgraded-inconsistent")
    assert changed.versions == {"protobuf": ("4.25.8", "6.33.1"), "tensorflow": ("2.17.0", "2.20.0")}
    assert changed.uploaded == {"protobuf": ("", "2022-01-03T00:00:00Z"),
                                "tensorflow": ("2024-07-11T12:00:00Z", "2025-08-13T12:00:00Z")}
    assert (diff.only_in_a, diff.only_in_b) == (["gone"], ["new"])
    assert diff.as_of == ("2024-09-01T00:00:00Z", "")


def test_the_diff_in_markdown_json_and_html():
    diff = diff_runs(NIGHT_1, NIGHT_2)
    md = render_diff(diff, "md")
    assert "1 of 2 cells in both runs differ" in md
    plain = md.replace("\\", "")  # Markdown's escapes aside
    assert ("| `a` | `upgraded` → `upgraded-inconsistent` | 2.17.0 → 2.20.0 | protobuf 4.25.8 → 6.33.1 (uploaded "
            "2022-01-03T00:00:00Z), tensorflow 2.17.0 (uploaded 2024-07-11T12:00:00Z) → 2.20.0 (uploaded "
            "2025-08-13T12:00:00Z) |") in plain
    assert "only in night-1: `gone`" in plain and "only in night-2: `new`" in plain and "(as of 2024-09-01" in plain
    data = json.loads(render_diff(diff, "json"))
    assert data["differing"] == 1 and data["cells"][0]["versions"]["protobuf"] == ["4.25.8", "6.33.1"]
    page = render_diff(diff, "html")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "protobuf 4.25.8 → 6.33.1" in page


def test_a_hostile_cell_id_is_text_in_every_form():
    evil = run("x", cell("<img src=x onerror=alert(1)>|`", Outcome.UPGRADED, "2.17.0"))
    other = run("y", cell("<img src=x onerror=alert(1)>|`", Outcome.NOT_UPGRADED, "2.15.0"))
    diff = diff_runs(evil, other)
    assert "<img" not in render_diff(diff, "html")
    (row,) = [line for line in render_diff(diff, "md").splitlines() if "onerror" in line]
    assert len(re.findall(r"(?<!\\)\|", row)) == 5, row  # one row of four columns, whatever the id holds


def test_the_command_reads_two_run_directories(tmp_path):
    for result in (NIGHT_1, NIGHT_2):
        folder = tmp_path / result.run_id
        folder.mkdir()
        write_atomic(folder / "results.json", json.dumps(result.to_json()))
        assert load_run(folder).cells  # what the command reads back is what was written
    proc = cli("diff", str(tmp_path / "night-1"), str(tmp_path / "night-2"), env=NO_DOCKER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## repromatrix diff: night-1")
    out = tmp_path / "diff.html"
    proc = cli("diff", str(tmp_path / "night-1"), str(tmp_path / "night-2"), "--format", "html", "-o", str(out),
               env=NO_DOCKER)
    assert proc.returncode == 0 and "protobuf" in out.read_text()
    missing = cli("diff", str(tmp_path / "night-1"), str(tmp_path / "nowhere"), env=NO_DOCKER)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr


def test_a_run_against_its_baseline_says_what_resolved_otherwise_where_the_outcome_changed():
    tonight = run("night-2", *(CellResult(**c.__dict__) for c in NIGHT_2.cells))
    mark_history(tonight, [NIGHT_1])
    by_id = {c.id: c for c in tonight.cells}
    assert by_id["a"].since_baseline == {"protobuf": ["4.25.8", "6.33.1"], "tensorflow": ["2.17.0", "2.20.0"]}
    assert by_id["same"].since_baseline == {}
    summary = render_markdown(tonight, Path("."))
    assert "### What changed since run night-1 (1)" in summary
    assert "- `a`: `upgraded` → `upgraded-inconsistent`: protobuf 4.25.8 → 6.33.1, tensorflow 2.17.0 → 2.20.0" \
        in summary


class FakePages:
    """fetch_releases as the index answers it, counting the reads."""

    def __init__(self, monkeypatch):
        from repromatrix.judge import index

        self.reads: list[str] = []

        def fetch(url, name, context=None, timeout=60, authorization=None):
            self.reads.append(name)
            if name == "broken":
                raise OSError("connection refused")
            files = [index.IndexFile(f"{name}-{v}-py3-none-any.whl", "", None, index._upload_time(t))
                     for v, t in (("1.0", "2024-01-01T00:00:00Z"), ("2.0", None))]
            return index.Releases.from_files(name, files)

        monkeypatch.setattr(index, "fetch_releases", fetch)


def test_each_version_taken_is_dated_once_a_distribution_and_unknowns_stay_unknown(monkeypatch):
    pages = FakePages(monkeypatch)
    times = UploadTimes("https://127.0.0.1:9/simple/")
    result = cell("c", Outcome.UPGRADED, "1.0", ("lib", "0.9", "1.0", ""), ("lib2", "1.0", "2.0", ""),
                  ("broken", "1", "2", ""))
    result.changed.append({"name": "gone", "change": "removed", "before": "1.0", "after": None, "installer": "pip"})
    threads = [threading.Thread(target=date_changes, args=(result, times)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dated = {c["name"]: c.get("uploaded") for c in result.changed}
    assert dated == {"lib": "2024-01-01T00:00:00Z", "lib2": None, "broken": None, "gone": None}
    assert sorted(pages.reads) == ["broken", "lib", "lib2"]  # each page read once, however many cells
