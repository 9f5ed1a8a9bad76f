"""Shards on real containers: examples/causes.yaml split three ways by the plan CI would read, each
shard run on its own, merged, and compared with the single run of the same matrix."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.integration.conftest import RUN_TIMEOUT, repromatrix

MATRIX = "examples/causes.yaml"
# What a cell's result says about pip. Not compared: timings, the setup's provenance (the single run
# and the shards may each build or reuse a setup), history, remedies (the shards run without).
# In evidence, the address of a Python object pip names differs from process to process.
SAME = ("axes", "outcome", "evidence", "expected", "before", "after", "newest", "newest_for_python",
        "below_newest", "python", "pip", "upgrade_command", "pip_exit_code", "imports", "dockerfile", "log",
        "reproduce", "notes", "why_no_wheel", "unexpected")


# 104 s of `nox -s tests` on a fresh 2-core machine, over its 30 minutes: the nightly's slow lane runs
# it (`nox -s slow`); the shard plan, selection and merge are unit-tested (tests/unit/test_shards.py)
@pytest.mark.slow
def test_three_shards_merged_equal_the_single_run(causes_run, tmp_path):
    listed = repromatrix("list", "--matrix", MATRIX, "--shards", "3", "--json", "--out", str(tmp_path / "none"))
    assert listed.returncode == 0, listed.stderr
    plan = tmp_path / "plan.json"
    plan.write_text(listed.stdout)
    include = json.loads(listed.stdout)["include"]
    assert [e["shard"] for e in include] == ["1/3", "2/3", "3/3"] and all(e["cells"] >= 5 for e in include)

    # The shards run at once, as CI's shard jobs do (each its own run, network and services; the
    # setups come from the cache the single run filled): a third of the time of one after another.
    outs = [tmp_path / f"shard{entry['shard'][0]}" for entry in include]
    procs = [subprocess.Popen([sys.executable, "-m", "repromatrix", "run", "--matrix", MATRIX, "--out", str(out),
                               "--shard", entry["shard"], "--shard-plan", str(plan), "--remedies", "none"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for entry, out in zip(include, outs, strict=True)]
    try:
        errors = [proc.communicate(timeout=RUN_TIMEOUT)[1] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:  # a shard that hung: it is stopped as a cancelled CI job is
                proc.terminate()
    shard_dirs = []
    for entry, out, proc, error in zip(include, outs, procs, errors, strict=True):
        assert proc.returncode == 0, error[-3000:]
        shard_dirs.append((out / "latest").resolve())
        ran = json.loads((shard_dirs[-1] / "results.json").read_text())["cells"]
        assert [c["id"] for c in ran] == entry["ids"]  # the shard ran exactly its share, nothing else

    merged = repromatrix("merge", *map(str, shard_dirs), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr[-3000:]
    run_dir = (tmp_path / "merged" / "latest").resolve()
    cells = json.loads((run_dir / "results.json").read_text())["cells"]
    assert [c["id"] for c in cells] == list(causes_run.cells)  # every cell once, in the matrix's order
    for cell in cells:
        single = causes_run.cells[cell["id"]]
        assert same(cell) == same(single), cell["id"]
        assert (run_dir / cell["log"]).read_text().strip()  # its logs came along
        assert (run_dir / cell["dockerfile"]).is_file()
    assert "flaky" in (run_dir / "index.html").read_text()


def same(cell: dict[str, object]) -> dict[str, object]:
    said = {k: cell[k] for k in SAME}
    said["evidence"] = [re.sub(r" object at 0x[0-9a-f]+", " object at 0x...", line) for line in cell["evidence"]]
    return said
