"""Shards, merge and the size guards, without Docker: the split, the plan CI reads, the merge's
checks, max_cells and the engine's capacity."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from repromatrix.cli import main
from repromatrix.config.cost import cells_at_once, estimate
from repromatrix.config.shard import ShardSpec, from_plan, parse_shard, split
from repromatrix.core.errors import UsageError
from repromatrix.core.model import Cell
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import AttemptResult, CellResult, Fix, RunResult
from repromatrix.infra.engine import Capacity
from repromatrix.pipeline.hosts import at_once
from repromatrix.pipeline.prepare import RunOptions, load_cells, prepare
from repromatrix.results.history import past_seconds
from repromatrix.results.journal import Journal
from repromatrix.results.merge import merge
from repromatrix.results.results import load_run, save_run

MATRIX = """
target: {package: tensorflow}
axes:
  os: [bookworm, bullseye]
  install: [venv, system-user]
  prior: [none, "2.15.0"]
  network: [direct, proxy-down]
"""
# 3 × 8 × 5 × 8 × 2 × 5 × 5 × 2 × 4 = 384,000 cells
HUGE = """
target: {package: tensorflow}
axes:
  os: [bullseye, bookworm, trixie]
  python: ["3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.8", "3.7"]
  install: [venv, system-user, user-flag, user-venv, root-venv-user]
  prior: [none, "2.15.0", "2.16.1", "2.17.0", "2.18.0", "2.12.0", "2.13.0", "2.14.0"]
  ca: [host, none]
  network: [direct, proxy, proxy-auth, proxy-down, no-route]
  pip: [os, "19.2.3", "20.2.4", "23.0", "24.0"]
  cache: [clean, corrupted]
  conflicts: [none, protobuf-cap, numpy-cap, constraints]
"""


def cells_of(n: int) -> list[Cell]:
    return [Cell(id=f"cell-{i:03d}", values=(("os", "bookworm"),)) for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1, max_value=5000), min_size=1, max_size=60), st.integers(1, 12))
def test_shards_cover_every_cell_once_and_are_balanced(costs, count):
    cells = cells_of(len(costs))
    seconds = {c.id: s for c, s in zip(cells, costs, strict=True)}
    shards = split(cells, seconds, count)
    ids = [c.id for s in shards for c in s.cells]
    assert sorted(ids) == sorted(seconds) and len(ids) == len(set(ids))
    assert [s.index for s in shards] == list(range(1, count + 1))
    # Longest-processing-time: no shard exceeds the average by more than the largest cell.
    assert max(s.seconds for s in shards) <= sum(costs) / count + max(costs) + 1e-6
    for shard in shards:  # each shard keeps the matrix's order (the report's order)
        assert [c.id for c in shard.cells] == sorted(c.id for c in shard.cells)
    assert split(cells, seconds, count) == shards  # deterministic


def test_shards_balance_on_the_cells_costs(write_matrix):
    matrix, cells = load_cells(write_matrix(MATRIX))
    seconds = {c.id: estimate(c, local_index=False, remedies_on=False) for c in cells}
    # A prior version and a dead-end proxy cost more than a fresh direct upgrade.
    assert seconds["bookworm-py3.11-venv-tf2.15.0-proxy-down"] > seconds["bookworm-py3.11-venv-fresh"]
    shards = split(cells, seconds, 4)
    loads = sorted(s.seconds for s in shards)
    assert loads[-1] - loads[0] <= max(seconds.values())
    assert len({len(s.cells) for s in shards}) > 1 or loads[0] == loads[-1]


def test_durations_of_an_earlier_run_rebalance_the_shards(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    _, cells = load_cells(path)
    plain = split(cells, {c.id: 10.0 for c in cells}, 2)
    slow = cells[0].id
    history = RunResult(run_id="1", matrix=str(path), target={}, started="", cells=[
        CellResult(id=slow, axes={}, outcome="upgraded", evidence=[], durations={"build": 900.0, "run": 100.0}),
        CellResult(id=cells[1].id, axes={}, outcome="interrupted", evidence=[], durations={"run": 5000.0})])
    history.cells[0].attempts = [AttemptResult(remedy="venv", outcome=Outcome.UPGRADED, fix=Fix.WORKS, seconds=500.0)]
    assert past_seconds([history], remedies_on=False) == {slow: 1000.0}
    assert past_seconds([history]) == {slow: 1500.0}  # with its remedy attempts
    past = past_seconds([history], remedies_on=False)  # an interrupted cell says nothing about its cost
    shards = split(cells, {c.id: past.get(c.id, 10.0) for c in cells}, 2)
    alone = next(s for s in shards if slow in {c.id for c in s.cells})
    assert len(alone.cells) < len(plain[0].cells)  # the slow cell's shard takes fewer others


@pytest.mark.parametrize(("text", "said"), [
    ("3", "write I/N"), ("0/3", "I must be 1 to 3"), ("4/3", "I must be 1 to 3"), ("1/0", "N must be 1 to 256"),
    ("1/257", "at most 256 jobs"), ("a/b", "write I/N"), ("1/3; rm -rf /", "write I/N")])
def test_a_bad_shard_is_refused_with_the_rule(text, said):
    with pytest.raises(UsageError, match=said):
        parse_shard(text)


def test_list_shards_json_is_one_github_matrix_line(write_matrix, capsys, tmp_path):
    path = write_matrix(MATRIX)
    assert main(["list", "--matrix", str(path), "--shards", "3", "--json", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # $GITHUB_OUTPUT takes it as one `matrix=...` line
    plan = json.loads(out)
    assert list(plan) == ["include"]  # any other key would become a matrix axis and multiply the jobs
    assert [e["shard"] for e in plan["include"]] == ["1/3", "2/3", "3/3"]
    assert all(set(e) == {"shard", "cells", "seconds", "ids"} for e in plan["include"])
    ids = [i for e in plan["include"] for i in e["ids"]]
    assert sorted(ids) == sorted(c.id for c in load_cells(path)[1])
    assert sum(e["cells"] for e in plan["include"]) == 16


def test_too_many_shards_for_github_are_refused(write_matrix, capsys):
    assert main(["list", "--matrix", str(write_matrix(MATRIX)), "--shards", "300", "--json"]) == 2
    assert "at most 256 jobs" in capsys.readouterr().err


def test_a_shard_runs_its_share_and_the_plan_fixes_it(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    runs = [prepare(RunOptions(path, out=tmp_path / "r", shard=ShardSpec(i, 3))) for i in (1, 2, 3)]
    ids = [c.id for p in runs for c in p.todo]
    assert sorted(ids) == sorted(c.id for c in load_cells(path)[1]) and len(set(ids)) == 16
    assert runs[1].header.shard == "2/3" and len(runs[1].header.selection) == 16
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"include": [{"shard": "1/2", "ids": [ids[0], ids[5]]}]}))
    fixed = prepare(RunOptions(path, out=tmp_path / "r", shard=ShardSpec(1, 2), shard_plan=plan))
    assert sorted(c.id for c in fixed.todo) == sorted([ids[0], ids[5]])
    plan.write_text(json.dumps({"include": [{"shard": "1/2", "ids": ["not-a-cell"]}]}))
    with pytest.raises(UsageError, match="names cells the matrix's selection does not have: not-a-cell"):
        from_plan(plan, ShardSpec(1, 2), load_cells(path)[1])
    with pytest.raises(UsageError, match="no shard 2/2 in the plan"):
        from_plan(plan, ShardSpec(2, 2), load_cells(path)[1])


def test_a_huge_matrix_is_refused_at_once_with_its_size_and_cost(write_matrix, capsys, tmp_path):
    path = write_matrix(HUGE)
    began = time.monotonic()
    code = main(["run", "--matrix", str(path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "settings.max_cells: the selection has 384,000 cells, more than 500" in err
    assert "machine-hours" in err and "--yes" in err and "--shard" in err
    assert time.monotonic() - began < 60  # counted as it streams, never held: no 4.7 GB, no minutes
    assert not (tmp_path / "r").exists()  # nothing was started


def test_max_cells_counts_per_shard_and_the_selection(write_matrix, tmp_path):
    path = write_matrix(MATRIX + "settings: {max_cells: 5}\n")
    with pytest.raises(UsageError, match="has 16 cells, more than 5"):
        prepare(RunOptions(path, out=tmp_path))
    with pytest.raises(UsageError, match=r"has 16 cells \(8 per shard\), more than 5"):
        prepare(RunOptions(path, out=tmp_path, shard=ShardSpec(1, 2)))
    assert len(prepare(RunOptions(path, out=tmp_path, shard=ShardSpec(1, 4))).todo) == 4
    assert len(prepare(RunOptions(path, out=tmp_path, keyword="os=bookworm and install=venv")).todo) == 4
    assert len(prepare(RunOptions(path, out=tmp_path, yes=True)).todo) == 16


def test_max_parallel_is_bounded_by_the_engines_machine(capsys):
    console = Console(stderr=True, soft_wrap=True)
    small = Capacity(cpus=2, memory=24 * 2**30)
    assert cells_at_once(small, local_index=False) == 4
    assert cells_at_once(Capacity(cpus=64, memory=8 * 2**30), local_index=False) == 5  # memory binds
    assert at_once(100000, small, False, console) == 4
    assert "max_parallel 100000 lowered to 4: the engine's machine has 2 CPUs and 24.0 GiB" in capsys.readouterr().err
    assert at_once(3, small, False, console) == 3 and at_once(7, None, False, console) == 7


def test_the_command_line_refuses_an_absurd_max_parallel(write_matrix, capsys):
    assert main(["run", "--matrix", str(write_matrix(MATRIX)), "--max-parallel", "100000"]) == 2
    assert "100000 is more than 256" in capsys.readouterr().err


# -- merge -------------------------------------------------------------------------------
def outcome_of(cell_id: str) -> str:
    return Outcome.PROXY_ERROR.value if "proxy-down" in cell_id else Outcome.UPGRADED.value


def fake_run(path: Path, out: Path, shard: ShardSpec | None, seconds: float) -> Path:
    """A run as the pipeline prepares and journals it, its cells 'run' with fixed outcomes."""
    prepared = prepare(RunOptions(path, out=out, shard=shard))
    prepared.journal.start(prepared.header)
    for cell in prepared.todo:
        context = prepared.run_dir / "cells" / cell.id
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(f"FROM scratch\n# {cell.id}\n")
        (context / "log.txt").write_text(f"log of {cell.id}\n")
        prepared.journal.record(CellResult(
            id=cell.id, axes=cell.axes, outcome=outcome_of(cell.id), evidence=[f"evidence of {cell.id}"],
            expected=[o.value for o in cell.expected], durations={"run": seconds},
            dockerfile=f"cells/{cell.id}/Dockerfile", log=f"cells/{cell.id}/log.txt"))
        time.sleep(0.001)
    return prepared.run_dir


def comparable(run: RunResult) -> list[dict[str, object]]:
    timing = {"durations", "trend", "previous_outcome"}
    return [{k: v for k, v in c.to_json().items() if k not in timing} for c in run.cells]


def test_a_merge_of_shards_equals_the_single_run_but_for_timings(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    single = load_run_dir(fake_run(path, tmp_path / "single", None, 1.0))
    shards = [fake_run(path, tmp_path / f"shard{i}", ShardSpec(i, 3), 2.0 * i) for i in (1, 2, 3)]
    merged, run_dir = merge(list(reversed(shards)), tmp_path / "merged")
    assert comparable(merged) == comparable(single)
    assert [c.id for c in merged.cells] == [c.id for c in single.cells]  # the matrix's order
    stored = load_run(run_dir)
    assert len(stored.merged_from) == 3 and stored.planned == 16
    for name in ("results.json", "index.html", "summary.md", "junit.xml", "run.json", "cells.jsonl"):
        assert (run_dir / name).is_file(), name
    some = merged.cells[3]
    assert (run_dir / some.log).read_text() == f"log of {some.id}\n"
    assert "merged from 3 shard runs" in (run_dir / "summary.md").read_text()
    assert "merged from 3 shard runs" in (run_dir / "index.html").read_text()
    assert (tmp_path / "merged" / "latest").resolve() == run_dir.resolve()
    # History: a second merge compares with the first (run ids sort by the second they start in).
    time.sleep(1.1)
    again, _ = merge(shards, tmp_path / "merged")
    assert again.baseline == merged.run_id and {c.trend for c in again.cells} <= {"passing", "still-failing"}


def load_run_dir(run_dir: Path) -> RunResult:
    return Journal(run_dir).result()


def test_merge_names_a_missing_or_duplicated_cell(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    shards = [fake_run(path, tmp_path / f"s{i}", ShardSpec(i, 3), 1.0) for i in (1, 2, 3)]
    with pytest.raises(UsageError, match=r"selected cells are in none of the runs: .*shard 3/3 is not among"):
        merge(shards[:2], tmp_path / "m")
    Journal(shards[2]).cells_path.write_text("")  # shard 3 ran none of its cells
    with pytest.raises(UsageError, match=r"in none of the runs: \S+ \(should be in .*shard 3/3\)"):
        merge(shards, tmp_path / "m")
    again = fake_run(path, tmp_path / "again", ShardSpec(2, 3), 1.0)
    with pytest.raises(UsageError, match=r"cell \S+ is in both .*shard 2/3.*shard 2/3"):
        merge([*shards, again], tmp_path / "m")
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())  # nothing half-merged


def test_merge_refuses_shards_of_another_matrix(write_matrix, tmp_path):
    one = fake_run(write_matrix(MATRIX), tmp_path / "a", ShardSpec(1, 2), 1.0)
    other = fake_run(write_matrix(MATRIX + "# edited\n", name="other.yaml"), tmp_path / "b", ShardSpec(2, 2), 1.0)
    with pytest.raises(UsageError, match="ran another matrix"):
        merge([one, other], tmp_path / "m")


def test_merge_copies_no_symlink_out_of_an_attached_shard(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    shards = [fake_run(path, tmp_path / f"s{i}", ShardSpec(i, 2), 1.0) for i in (1, 2)]
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the report")
    victim = next((shards[0] / "cells").iterdir())
    (victim / "log.txt").unlink()
    (victim / "log.txt").symlink_to(secret)
    (victim / "more").symlink_to(tmp_path, target_is_directory=True)
    merged, run_dir = merge(shards, tmp_path / "m")
    copied = run_dir / "cells" / victim.name
    assert (copied / "Dockerfile").is_file()
    assert "did not copy" in (copied / "log.txt").read_text() and not (copied / "more").exists()
    assert "a symbolic link" in (copied / "log.txt").read_text()
    assert "not for the report" not in (run_dir / "index.html").read_text()
    assert "not for the report" not in (copied / "log.txt").read_text()


def test_merge_copies_no_hard_link_and_no_sparse_giant_out_of_an_attached_shard(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    shards = [fake_run(path, tmp_path / f"s{i}", ShardSpec(i, 2), 1.0) for i in (1, 2)]
    secret = tmp_path / "token"
    secret.write_text("ghp_not-for-the-report")
    secret.chmod(0o600)
    linked, sparse = sorted((shards[0] / "cells").iterdir())[:2]
    (linked / "log.txt").unlink()
    os.link(secret, linked / "log.txt")  # the same file as the 0600 one outside the shard
    with (sparse / "log.txt").open("wb") as fh:
        fh.truncate(2 * 2**30)  # 2 GiB that take no disk
    began = time.monotonic()
    merged, run_dir = merge(shards, tmp_path / "m")
    assert time.monotonic() - began < 30
    said = (run_dir / "cells" / linked.name / "log.txt").read_text()
    assert "a hard link" in said and "ghp_" not in said
    assert "ghp_" not in (run_dir / "index.html").read_text()
    giant = run_dir / "cells" / sparse.name / "log.txt"
    assert giant.stat().st_size < 1000 and "more than" in giant.read_text()


def test_merge_refuses_a_cell_id_that_is_a_path(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    shards = [fake_run(path, tmp_path / f"s{i}", ShardSpec(i, 2), 1.0) for i in (1, 2)]
    run = Journal(shards[0]).result()
    run.cells.append(CellResult(id="../../etc", axes={}, outcome="upgraded", evidence=[]))
    save_run(run, shards[0])  # an attached results.json holds what its sender wrote
    with pytest.raises(UsageError, match=r"cells\[8\]\.id: \"../../etc\" is not a valid value \(expected a cell id"):
        merge(shards, tmp_path / "m")


def test_merge_on_the_command_line(write_matrix, tmp_path, capsys):
    path = write_matrix(MATRIX)
    shards = [str(fake_run(path, tmp_path / f"s{i}", ShardSpec(i, 2), 1.0)) for i in (1, 2)]
    latest = tmp_path / "s2" / "latest"  # what a user names: the reports directory's link to its run
    latest.symlink_to(Path(shards[1]).name)
    code = main(["merge", shards[0], str(latest), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1, err  # the proxy-down cells are unexpected (no expectation, not upgraded)
    assert "merged 2 runs into run" in err and "16 cells" in err and "proxy-error 8" in err
    assert main(["merge", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]) == 2


def test_a_shard_resumes_only_its_own_unfinished_cells(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    prepared = prepare(RunOptions(path, out=tmp_path / "r", shard=ShardSpec(2, 3)))
    prepared.journal.start(prepared.header)
    done = prepared.todo[0]
    prepared.journal.record(CellResult(id=done.id, axes=done.axes, outcome="upgraded", evidence=[]))
    resumed = prepare(RunOptions(path, out=tmp_path / "r", resume=str(prepared.run_dir)))
    assert [c.id for c in resumed.todo] == [c.id for c in prepared.todo[1:]]
    assert [c.id for c in resumed.cells] == [c.id for c in prepared.todo]


def test_a_plan_has_no_empty_shard(write_matrix, capsys, tmp_path):
    path = write_matrix(MATRIX)
    assert main(["list", "--matrix", str(path), "--shards", "40", "--json", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr()
    plan = json.loads(out.out)["include"]
    assert len(plan) == 16 and all(e["cells"] == 1 for e in plan) and plan[-1]["shard"] == "16/16"
    assert "16 cells: 16 shards, not 40" in out.err
    (tmp_path / "plan.json").write_text(json.dumps({"include": [{"shard": "1/2", "ids": []}]}))
    with pytest.raises(UsageError, match="shard 1/2 has no cells"):
        from_plan(tmp_path / "plan.json", ShardSpec(1, 2), load_cells(path)[1])


def test_a_merge_of_a_shard_someone_interrupted_is_exit_3_not_130(write_matrix, tmp_path, capsys):
    """130 says *this* process was interrupted; a merge that was not, of a shard that was, is a
    run that did not finish (as when an engine went): 3, and --resume of that shard finishes it."""
    path = write_matrix(MATRIX)
    shards = [fake_run(path, tmp_path / f"s{i}", ShardSpec(i, 2), 1.0) for i in (1, 2)]
    journal = Journal(shards[1])
    last = journal.result().cells[-1]
    journal.record(replace(last, outcome="interrupted", rerun=True))
    results = journal.result(stopped="interrupted")
    save_run(results, shards[1])
    code = main(["merge", str(shards[0]), str(shards[1]), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err
