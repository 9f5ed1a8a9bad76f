"""The run's journal and --resume's choices, without Docker."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import UsageError
from repromatrix.core.model import CacheMode
from repromatrix.core.result import CellResult
from repromatrix.infra.setupcache import parse_size
from repromatrix.pipeline.prepare import RunOptions, _prepare_resume, load_cells
from repromatrix.results.journal import LOCK, OWNER, Journal, RunHeader, load_any, matrix_hash, new_owner, owner_label

MATRIX = "target: {package: tensorflow}\naxes: {os: [bookworm], install: [venv, system], prior: [none, '2.15.0']}\n"


def started(tmp_path: Path) -> tuple[Journal, list[str]]:
    matrix_path = tmp_path / "m.yaml"
    matrix_path.write_text(MATRIX)
    _, cells = load_cells(matrix_path)
    journal = Journal(tmp_path / "reports" / "run-1")
    journal.start(RunHeader(run_id="run-1", matrix=str(matrix_path), matrix_sha256=matrix_hash(matrix_path),
                            cells=[c.id for c in cells], started="2026-11-24T00:00:00+00:00",
                            target={"package": "tensorflow", "version": "", "index": "default"}))
    return journal, [c.id for c in cells]


def cell(cell_id: str, outcome: str, rerun: bool = False) -> CellResult:
    return CellResult(id=cell_id, axes={"os": "bookworm"}, outcome=outcome, evidence=["..."], rerun=rerun)


def test_a_partial_run_reads_back_in_planned_order_and_says_it_is_incomplete(tmp_path):
    journal, ids = started(tmp_path)
    journal.record(cell(ids[2], "upgraded"))
    journal.record(cell(ids[0], "externally-managed"))
    with journal.cells_path.open("a") as fh:
        fh.write('{"id": "torn", "axes": {')  # the process died mid-line
    run = load_any(journal.run_dir)
    assert [c.id for c in run.cells] == [ids[0], ids[2]]
    assert run.incomplete.startswith("incomplete: 2 of 4 cells (still running, or stopped")


def test_a_later_line_replaces_an_earlier_one(tmp_path):
    journal, ids = started(tmp_path)
    journal.record(cell(ids[0], "interrupted", rerun=True))
    journal.record(cell(ids[0], "upgraded"))
    assert journal.finished()[ids[0]].outcome == "upgraded"


def test_an_attached_journal_is_validated_and_never_read_through_a_link(tmp_path):
    journal, ids = started(tmp_path)
    journal.cells_path.write_text(json.dumps({"id": ids[0], "axes": {}, "outcome": "pwned", "evidence": []}) + "\n")
    with pytest.raises(UsageError, match=r"cells\[0\]\.outcome"):
        journal.finished()
    journal.cells_path.unlink()
    journal.cells_path.symlink_to("/etc/hostname")
    with pytest.raises(UsageError, match="symbolic link"):
        journal.finished()


def test_resume_runs_only_what_has_no_result(tmp_path):
    journal, ids = started(tmp_path)
    journal.record(cell(ids[0], "upgraded"))
    journal.record(cell(ids[1], "interrupted", rerun=True))
    journal.record(cell(ids[2], "infra-error"))  # our failure taught nothing about pip: again
    prepared = _prepare_resume(RunOptions(Path("matrix.yaml"), out=tmp_path / "reports", resume="run-1"))
    assert [c.id for c in prepared.todo] == ids[1:]
    assert prepared.run_dir == journal.run_dir


def test_resume_refuses_a_changed_matrix_and_a_second_process(tmp_path):
    journal, _ = started(tmp_path)
    options = RunOptions(Path("matrix.yaml"), out=tmp_path / "reports", resume=str(journal.run_dir))
    run_id = journal.header().run_id
    with journal.lock(run_id), pytest.raises(UsageError, match="another repromatrix process"), \
            journal.lock(run_id):
        pass
    (tmp_path / "m.yaml").write_text(MATRIX + "# edited\n")
    with pytest.raises(UsageError, match="has changed since the run started"):
        _prepare_resume(options)
    with pytest.raises(UsageError, match="not a run directory"):
        _prepare_resume(RunOptions(Path("matrix.yaml"), out=tmp_path, resume="nope"))


@pytest.mark.parametrize("written,mode", [("off", CacheMode.OFF), ("false", CacheMode.OFF), ("'off'", CacheMode.OFF),
                                          ("refresh", CacheMode.REFRESH), ("yes", CacheMode.REUSE)])
def test_cache_settings_read_as_people_write_them(tmp_path, written, mode):
    path = tmp_path / "m.yaml"
    path.write_text(f"axes: {{os: [bookworm]}}\nsettings: {{cache: {written}, cache_budget: 1.5 GiB}}\n")
    settings = load_matrix(path).settings
    assert settings.cache is mode and settings.cache_budget == int(1.5 * 2**30)
    assert parse_size("20GB") == 20 * 10**9 and parse_size("20 furlongs") is None


def test_a_copy_of_a_live_runs_directory_cannot_act_while_it_runs(tmp_path):
    """The run id is a lock on this machine too: a copy (or an attached directory naming a live
    run's id) is refused while the run is live, and free once it ended."""
    journal, _ = started(tmp_path)
    run_id = journal.header().run_id
    copy = Journal(tmp_path / "copy")
    copy.start(journal.header())
    with journal.lock(run_id), pytest.raises(UsageError, match=f"run {run_id} is live in another"):
        with copy.lock(run_id):
            pass
    with copy.lock(run_id):  # the live run ended: its lock went with it
        pass


def test_the_owner_token_is_private_written_once_and_never_through_a_symlink(tmp_path):
    journal, _ = started(tmp_path)
    assert journal.owner() is None  # a run made before tokens
    token = new_owner()
    journal.claim(token)
    assert journal.owner() == token
    assert stat.S_IMODE((journal.run_dir / OWNER).stat().st_mode) == 0o600
    with pytest.raises(UsageError, match="already there"):
        journal.claim(new_owner())  # a planted .owner is refused, not overwritten
    assert owner_label(token) != owner_label(new_owner()) and token not in owner_label(token)

    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    planted = Journal(tmp_path / "planted")
    planted.run_dir.mkdir()
    (planted.run_dir / OWNER).symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"):
        planted.owner()
    with pytest.raises(UsageError):
        planted.claim(new_owner())
    (planted.run_dir / LOCK).symlink_to(tmp_path / "created-through-the-lock")
    with pytest.raises(UsageError, match="symbolic link"), planted.lock("20261202-000000-abcd"):
        pass
    assert victim.read_text() == "keep\n" and not (tmp_path / "created-through-the-lock").exists()
    (planted.run_dir / OWNER).unlink()
    (planted.run_dir / OWNER).write_text("not a token\n")
    with pytest.raises(UsageError, match="not a repromatrix owner token"):
        planted.owner()


@pytest.mark.parametrize("run_id", ["../../etc", "a b", "", "x" * 101, "-rf", "id;rm"])
def test_a_run_header_whose_run_id_is_not_one_is_refused(tmp_path, run_id):
    journal, _ = started(tmp_path)
    data = json.loads(journal.header_path.read_text())
    data["run_id"] = run_id
    journal.header_path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="run_id: .* is not a run id"):
        journal.header()


def test_report_of_an_unfinished_run_writes_no_results_json_that_later_reads_would_trust(tmp_path, capsys):
    from repromatrix.cli import main

    journal, ids = started(tmp_path)
    journal.record(cell(ids[0], "upgraded"))
    assert main(["report", str(journal.run_dir)]) == 0
    err = capsys.readouterr().err
    assert "not writing results.json" in err and not (journal.run_dir / "results.json").exists()
    assert "incomplete: 1 of 4 cells" in (journal.run_dir / "index.html").read_text()
    journal.record(cell(ids[1], "upgraded"))  # the run goes on; the next report sees it
    assert main(["report", str(journal.run_dir), "--format", "html"]) == 0
    assert "incomplete: 2 of 4 cells" in (journal.run_dir / "index.html").read_text()
    assert main(["report", str(journal.run_dir), "--format", "json"]) == 2
    assert main(["report", str(journal.run_dir), "--format", "json", "-o", str(tmp_path / "copy.json")]) == 0
