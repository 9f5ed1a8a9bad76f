"""The whole pipeline on real containers, real pip and a real local index (offline)."""

from __future__ import annotations

import json
import subprocess

import pytest

from repromatrix.infra.docker_engine import LABEL_RUN


def test_every_cell_matches_the_examples_expectations(offline_run):
    mismatches = {i: (c["outcome"], c["expected"], c["evidence"]) for i, c in offline_run.cells.items()
                  if not c["matches_expectation"]}
    assert not mismatches
    assert len(offline_run.cells) == 12


@pytest.mark.parametrize("cell_id, outcome, evidence", [
    ("bookworm-py3.11-venv-tf2.15.0", "upgraded",
     "Successfully installed keras-3.15.1 protobuf-6.33.1 tensorflow-2.21.0"),
    ("bookworm-py3.11-system-fresh", "externally-managed", "error: externally-managed-environment"),
    ("trixie-py3.13-system-fresh", "externally-managed", "× This environment is externally managed"),
    ("trixie-py3.13-venv-tf2.15.0", "setup-failed", "ERROR: Could not find a version that satisfies the "
     "requirement tensorflow==2.15.0 (from versions: 2.20.0, 2.21.0, 2.22.0rc0)"),
    ("bullseye-py3.9-venv-tf2.20.0", "not-upgraded",
     "Requirement already satisfied: tensorflow in /opt/venv/lib/python3.9/site-packages (2.20.0)"),
])
def test_outcomes_and_evidence(offline_run, cell_id, outcome, evidence):
    cell = offline_run.cells[cell_id]
    assert (cell["outcome"], evidence in cell["evidence"]) == (outcome, True), cell["evidence"]


def test_versions_and_facts_are_recorded(offline_run):
    cell = offline_run.cells["bookworm-py3.11-venv-tf2.15.0"]
    assert (cell["before"], cell["after"]) == ("2.15.0", "2.21.0")
    assert cell["python"].startswith("3.11.") and cell["pip"].startswith("pip 23.0.1")
    assert cell["pip_exit_code"] == 0 and cell["pip_check"]["exit_code"] == 0
    assert cell["import_check"] == cell["import_check"] | {"ok": True, "version": "2.21.0"}
    assert cell["upgrade_command"] == "python3 -m pip install --upgrade tensorflow"
    # "setup" only when this run built the cell's setup (not when it came from the cache).
    assert set(cell["durations"]) == {"build", "run"} | ({"setup"} if cell["setup"] == "built" else set())


def test_python_39_lands_below_newest_and_it_is_recorded(offline_run):
    cell = offline_run.cells["bullseye-py3.9-venv-fresh"]
    assert (cell["outcome"], cell["after"], cell["newest"]) == ("upgraded", "2.20.0", "2.21.0")
    assert cell["below_newest"] == ("landed on 2.20.0, below the newest release 2.21.0: "
                                    "no 2.21.0 wheel for Python 3.9; the newest for it is 2.20.0")


def test_traffic_went_to_the_local_index_only(offline_run):
    import re

    for cell_id in offline_run.cells:
        log = offline_run.log(cell_id)
        if "pip install" in log and "externally-managed" not in log:
            assert "Looking in indexes: https://repromatrix-index:8443/simple/" in log, cell_id
        # apt reaches Debian's mirror by design when a setup is built in this run (its lines are in the
        # log of a cell whose setup failed, which has no container output): only pip's traffic counts.
        ours = log.split("== container output ==")[-1].splitlines()
        pips = [line for line in ours if not re.match(r"(Get|Hit|Ign|Err):\d+ ", line)]
        urls = re.findall(r"https?://[^/\s]+", "\n".join(pips))
        assert set(urls) <= {"https://repromatrix-index:8443"}, (cell_id, set(urls))


def test_report_files_and_latest(offline_run):
    import re

    assert offline_run.results["schema"] == 1 and offline_run.results["run_id"] == offline_run.dir.name
    assert {"index.html", "results.json", "junit.xml", "summary.md"} <= {p.name for p in offline_run.dir.iterdir()}
    html = (offline_run.dir / "index.html").read_text()
    data = json.loads(re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert [c["id"] for c in data["cells"]] == list(offline_run.cells)
    for cell in offline_run.cells.values():
        assert (offline_run.dir / cell["dockerfile"]).is_file() and (offline_run.dir / cell["log"]).is_file()
    assert "all 12 cells as expected" in (offline_run.dir / "summary.md").read_text()


def test_run_leaves_no_docker_resources(offline_run, docker_client):
    flt = {"label": f"{LABEL_RUN}={offline_run.results['run_id']}"}
    assert docker_client.containers.list(all=True, filters=flt) == []
    assert docker_client.networks.list(filters=flt) == []
    assert docker_client.images.list(filters=flt) == []


def test_dockerfile_reproduces_its_cell_with_plain_docker(offline_run, docker_client):
    context = offline_run.dir / "cells" / "bookworm-py3.11-system-fresh"
    tag = "repromatrix-test/reproduce:latest"
    try:
        subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True,
                       timeout=600)
        run = subprocess.run(["docker", "run", "--rm", tag], capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    assert run.returncode == 0  # the scenario reports pip's failure; it does not fail itself
    assert "error: externally-managed-environment" in run.stdout
    assert "REPROMATRIX-RECORD " in run.stdout


def test_unexpected_cell_exits_1_and_is_a_new_failure_against_the_baseline(offline_run, tmp_path):
    from tests.integration.conftest import repromatrix

    matrix = tmp_path / "wrong-expectation.yaml"
    matrix.write_text("target: {index: local}\naxes: {os: [bookworm], install: [system]}\n"
                      "expect: [{outcome: upgraded}]\n")
    proc = repromatrix("run", "--matrix", str(matrix), "--out", str(tmp_path / "r"),
                       "--baseline", str(offline_run.dir))
    assert proc.returncode == 1, proc.stderr
    assert ("unexpected: bookworm-py3.11-system-fresh: externally-managed (expected upgraded; new-failure)"
            in proc.stderr)
    run_dir = (tmp_path / "r" / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    cell = results["cells"][0]
    assert (cell["trend"], cell["previous_outcome"], cell["unexpected"]) == ("new-failure", "externally-managed", True)
    assert results["baseline"] == offline_run.results["run_id"] and results["unexpected"] == 1
    assert "failure message=\"externally-managed (expected upgraded)" in (run_dir / "junit.xml").read_text()
    summary = (run_dir / "summary.md").read_text()
    assert "**1 unexpected** of 1 cell " in summary and "`bookworm-py3.11-system-fresh`" in summary
