"""`run --triage`: each cell's upgrade as its installer's dry run, in its own container. Its
records here are real, from `repromatrix run --matrix examples/causes.yaml --triage`."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import TRIAGED_RUN, CellResult, RunResult
from repromatrix.installers import installer
from repromatrix.judge.classify import classify
from repromatrix.judge.triage import would_install
from repromatrix.plan.plan import RenderContext, plan_cell
from repromatrix.plan.render import render_dockerfile
from repromatrix.results.formats import render_junit
from tests.conftest import DATA
from tests.support import observe

EXAMPLES = DATA.parent.parent / "examples"
RECORDS = DATA / "records"


def record(cell: str) -> dict:
    return json.loads((RECORDS / f"triage-{cell}.json").read_text())


@pytest.mark.parametrize("cell, outcome, said", [
    # pip checks PEP 668 in a dry run without --report, as in the upgrade
    ("bookworm-py3.11-system-user-tf2.15.0", Outcome.EXTERNALLY_MANAGED,
     "error: externally-managed-environment"),
    ("bookworm-py3.11-venv-tf2.15.0-constraints", Outcome.RESOLUTION_IMPOSSIBLE,
     "The user requested (constraint) protobuf==3.19.6"),
    ("bookworm-py3.11-venv-fresh-proxy-down", Outcome.PROXY_ERROR,
     "ERROR: No matching distribution found for tensorflow"),
])
def test_a_failing_dry_run_is_the_cells_outcome_in_the_installers_words(cell, outcome, said):
    verdict = classify(observe(record(cell)))
    assert verdict.outcome is outcome
    assert said in verdict.evidence
    assert verdict.evidence[-1].startswith("--triage: decided by the dry run alone: pip failed")
    assert verdict.facts["after"] is None  # nothing was installed


def test_a_dry_run_that_resolves_says_what_it_would_take_and_leaves_the_rest():
    verdict = classify(observe(record("bookworm-py3.11-user-venv-tf2.15.0")))
    assert verdict.outcome is Outcome.NEEDS_INSTALL
    assert verdict.evidence[0] == ("--triage: resolved in its own environment, not installed: pip "
                                   "would take tensorflow 2.21.0 (2.15.0 installed)")
    assert verdict.facts["resolved"] == "2.21.0" and verdict.facts["after"] is None
    assert ["keras", "3.15.1", ""] in verdict.facts["distributions"]


def test_a_dry_run_that_keeps_the_version_says_so_and_no_version_it_did_not_see():
    rec = record("bookworm-py3.11-user-venv-tf2.15.0")
    rec["upgrade"]["output"] = (
        "Requirement already satisfied: tensorflow in ./venv/lib/python3.11/site-packages (2.15.0)\n"
        "Would install keras-3.15.1\n")
    verdict = classify(observe(rec))
    assert verdict.outcome is Outcome.NEEDS_INSTALL
    assert verdict.evidence[0].endswith(
        "pip would leave tensorflow 2.15.0 as it is (Requirement already satisfied: tensorflow)")
    assert "resolved" not in verdict.facts


@pytest.mark.parametrize("cell, who", [
    ("bullseye-py3.9-venv-fresh-ca-none", "pip 20.3.4"),
    # no pip in the venv: the `pip` on PATH (the system's, 20.3.4) answered
    ("bullseye-py3.9-venv-no-pip-fresh", "the pip its command runs"),
])
def test_a_pip_without_dry_run_leaves_the_cell_to_the_install(cell, who):
    verdict = classify(observe(record(cell)))
    assert verdict.outcome is Outcome.NEEDS_INSTALL
    assert verdict.evidence == (
        f"--triage: {who} has no --dry-run (pip added it in 22.2): only the install can say",
        "no such option: --dry-run",
    )


def test_an_installer_without_a_dry_run_ran_nothing_and_says_so():
    rec = record("bookworm-py3.11-user-venv-tf2.15.0")
    del rec["upgrade"]
    verdict = classify(observe(rec), by=installer("pip-tools"))
    assert verdict.outcome is Outcome.NEEDS_INSTALL
    assert "has no dry run of this upgrade" in verdict.evidence[0]


@pytest.mark.parametrize("output, found", [
    ("Would install keras-3.15.1 tensorflow-io-gcs-filesystem-0.37.1 tensorflow-2.21.0\n",
     [("keras", "3.15.1"), ("tensorflow-io-gcs-filesystem", "0.37.1"), ("tensorflow", "2.21.0")]),
    # uv 0.13's dry run
    ("Resolved 12 packages in 40ms\nWould download 1 package\nWould install 1 package\n"
     " + tensorflow==2.21.0\n - tensorflow==2.15.0\n", [("tensorflow", "2.21.0")]),
    ("Requirement already satisfied: tensorflow in /opt/venv/lib (2.21.0)\n", []),
])
def test_would_install_reads_pip_and_uv(output, found):
    assert would_install(output) == found


def test_triage_plans_the_upgrade_as_a_dry_run_with_no_checks():
    matrix = load_matrix(EXAMPLES / "causes.yaml")
    cell = next(c for c in expand(matrix) if c.id == "bookworm-py3.11-venv-tf2.15.0-numpy-cap")
    full = plan_cell(cell, RenderContext(target=matrix.target, local=True))
    triaged = plan_cell(cell, RenderContext(target=matrix.target, local=True, triage=True))
    assert triaged.triage and not full.triage
    assert triaged.upgrade_command == full.upgrade_command + " --dry-run"
    assert triaged.checks == () and not triaged.resolved_only
    assert "REPROMATRIX_TRIAGE=1" in render_dockerfile(triaged, RenderContext(matrix.target))
    assert "REPROMATRIX_TRIAGE" not in render_dockerfile(full, RenderContext(matrix.target))
    # the setup is the full cell's: the same stage, shared through the setup cache
    assert triaged.setup_commands == full.setup_commands


def test_a_project_installer_has_no_dry_run():
    assert installer("uv-add").dry_run("uv add tensorflow") == ""
    assert installer("pip-tools").dry_run("pip-compile ...") == ""
    assert installer("uv").dry_run("uv pip install --upgrade tensorflow").endswith(" --dry-run")


def _cell(outcome: Outcome, cid: str) -> CellResult:
    return CellResult(id=cid, axes={"os": "bookworm"}, outcome=outcome, evidence=["x"],
                      expected=[Outcome.UPGRADED], platform={"arch": "amd64", "run": TRIAGED_RUN},
                      before="2.15.0", resolved={"version": "2.21.0"})


def test_a_run_says_what_triage_decided_and_left_and_ci_is_not_red_for_the_left(tmp_path):
    run = RunResult(run_id="R1", matrix="m.yaml", target={"package": "tensorflow"}, started="t",
                    cells=[_cell(Outcome.NEEDS_INSTALL, "a"), _cell(Outcome.SSL_ERROR, "b")])
    assert run.triage_said() == ("triage: 1 of 2 cells decided by their dry run alone (nothing "
                                 "installed); 1 need the install: `repromatrix run --resume R1`")
    assert [c.id for c in run.unexpected()] == ["b"]  # expected upgraded, the dry run failed
    left = run.cells[0]
    assert left.resolved_only and left.triaged and left.runs_on == "amd64 (triage: resolved)"
    suite = ET.fromstring(render_junit(run, tmp_path)).find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("failures") == "1"


def test_a_run_without_triage_says_nothing_of_it():
    cell = copy.deepcopy(_cell(Outcome.UPGRADED, "a"))
    cell.platform = {"arch": "amd64", "run": "native"}
    run = RunResult(run_id="R1", matrix="m.yaml", target={}, started="t", cells=[cell])
    assert run.triage_said() == "" and not cell.resolved_only


def test_uvs_dry_run_says_what_it_would_take_in_its_own_words():
    verdict = classify(observe(record("bookworm-py3.11-venv-tf2.15.0-uv")), by=installer("uv"))
    assert verdict.outcome is Outcome.NEEDS_INSTALL
    assert verdict.evidence[0] == ("--triage: resolved in its own environment, not installed: uv "
                                   "would take tensorflow 2.21.0 (2.15.0 installed)")
    assert ["numpy", "2.3.5", ""] in verdict.facts["distributions"]
    assert ["numpy", "1.26.4", ""] not in verdict.facts["distributions"]  # what it would uninstall


def test_a_cell_left_to_the_install_is_no_history_and_has_none():
    from repromatrix.results.history import mark_history

    failing = _cell(Outcome.SSL_ERROR, "a")
    failing.platform = {"arch": "amd64", "run": "native"}
    full = RunResult(run_id="R1", matrix="m.yaml", target={}, started="t", cells=[failing])
    triage = RunResult(run_id="R2", matrix="m.yaml", target={}, started="t",
                       cells=[_cell(Outcome.NEEDS_INSTALL, "a")])
    mark_history(triage, [full])
    assert triage.cells[0].trend == "no-history"  # not "fixed": nothing was installed
    again = copy.deepcopy(failing)
    later = RunResult(run_id="R3", matrix="m.yaml", target={}, started="t", cells=[again])
    mark_history(later, [full, triage])
    assert again.trend == "still-failing" and again.previous_outcome is Outcome.SSL_ERROR


def test_the_issue_fields_of_a_triaged_cell_say_nothing_was_installed():
    from repromatrix.results.issue_fields import issue_fields

    failed = _cell(Outcome.SSL_ERROR, "a")
    failed.resolved = {"version": None}
    fields = issue_fields(failed, "tensorflow")
    assert ("TensorFlow version: 2.15.0 installed; the upgrade's dry run (--triage) failed, nothing "
            "was installed") in fields
    assert "nothing installed: pip's dry run of the upgrade into" in fields
    assert "after it" not in fields
    left = issue_fields(_cell(Outcome.NEEDS_INSTALL, "b"), "tensorflow")
    assert "the upgrade's dry run (--triage) would take 2.21.0, nothing was installed" in left
