"""`run --triage` on real containers: every cell of examples/causes.yaml resolved by its
installer's dry run in its own container, compared cell by cell with the full run of the same
matrix (causes_run); then `--resume` installs what the triage left."""

from __future__ import annotations

import json

from tests.integration.conftest import ExampleRun, repromatrix

# What pip meets before it installs anything: resolving reads the index's pages and the files
# it needs the metadata of, so a dry run fails there as the upgrade does
BEFORE_INSTALL = {
    "externally-managed",
    "resolution-impossible",
    "proxy-auth-required",
    "proxy-error",
    "ssl-error",
    "network-error",
    "read-timeout",
    "no-matching-distribution",
}


def test_triage_decides_what_the_full_run_decides_and_installs_nothing(causes_run, tmp_path):
    triage = ExampleRun("examples/causes.yaml", tmp_path, "--triage", "--max-parallel", "6")
    assert triage.proc.returncode == 0, triage.proc.stderr[-3000:]
    assert set(triage.cells) == set(causes_run.cells)
    decided = {}
    for cid, cell in triage.cells.items():
        full = causes_run.cells[cid]
        assert cell["platform"]["run"] == "triaged" and cell["after"] is None, cid
        assert cell["attempts"] == [], cid  # no remedy is tried on a dry run
        if cell["outcome"] == "needs-install":
            no_dry_run = "has no --dry-run" in cell["evidence"][0]
            assert no_dry_run or full["outcome"] not in BEFORE_INSTALL, (cid, full["outcome"])
            continue
        decided[cid] = cell["outcome"]
        assert cell["outcome"] == full["outcome"], (cid, cell["evidence"], full["evidence"])
    # every cell whose pip has a dry run and whose full run failed before installing is decided
    for cid, full in causes_run.cells.items():
        has_dry_run = "has no --dry-run" not in triage.cells[cid]["evidence"][0]
        if has_dry_run and full["outcome"] in BEFORE_INSTALL:
            assert cid in decided, (cid, triage.cells[cid]["evidence"])
    left = len(triage.cells) - len(decided)
    said = triage.proc.stdout + triage.proc.stderr
    assert f"triage: {len(decided)} of {len(triage.cells)} cells decided" in said
    assert f"{left} need the install: `repromatrix run --resume {triage.results['run_id']}`" in said


def test_resume_installs_what_the_triage_left_and_keeps_what_it_decided(tmp_path):
    only = ["--only", "bookworm-py3.11-venv-tf2.15.0-numpy-cap", "--only", "bookworm-py3.11-venv-fresh-ca-none"]
    triage = ExampleRun("examples/causes.yaml", tmp_path, "--triage", *only)
    assert triage.proc.returncode == 0, triage.proc.stderr[-3000:]
    outcomes = {cid: c["outcome"] for cid, c in triage.cells.items()}
    assert outcomes == {"bookworm-py3.11-venv-tf2.15.0-numpy-cap": "needs-install",
                        "bookworm-py3.11-venv-fresh-ca-none": "ssl-error"}
    run_id = triage.results["run_id"]
    resumed = repromatrix("run", "--resume", run_id, "--out", str(tmp_path), "--remedies", "none")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 of 2 cells left" in resumed.stdout + resumed.stderr
    results = json.loads((tmp_path / run_id / "results.json").read_text())
    cells = {c["id"]: c for c in results["cells"] if not c.get("rerun")}
    installed = cells["bookworm-py3.11-venv-tf2.15.0-numpy-cap"]
    assert installed["outcome"] == "upgraded" and installed["platform"]["run"] == "native"
    assert installed["after"] == "2.21.0" and installed["before"] == "2.15.0"
    kept = cells["bookworm-py3.11-venv-fresh-ca-none"]
    assert kept["outcome"] == "ssl-error" and kept["platform"]["run"] == "triaged"
    summary = (tmp_path / run_id / "summary.md").read_text()
    assert "1 of 2 cells decided by their dry run alone" in summary and "need the install" not in summary
