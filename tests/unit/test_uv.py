"""uv as the second installer on the seam: its commands, its variables in a rendered Dockerfile, and
its classifier rules on uv's own output, captured in real containers (tests/data/capture/uv/)."""

from __future__ import annotations

import json
import re

import pytest

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.model import Choice, Selection
from repromatrix.core.outcomes import Outcome
from repromatrix.installers import INSTALLERS, installer
from repromatrix.judge.classify import classify
from repromatrix.judge.remedies import Facts, blockers, plan_attempts
from repromatrix.plan.plan import RenderContext, local_index_context, plan_cell
from repromatrix.plan.render import render_dockerfile
from tests.conftest import DATA
from tests.support import observe

UV = installer("uv")
AUTO_SELECTION = Selection(Choice.AUTO)
CAPTURES = DATA / "capture" / "uv"


def captured(name: str) -> tuple[str, int]:
    """A capture's output and exit code (its first line says the exit code; comments are ours)."""
    text = (CAPTURES / f"{name}.txt").read_text()
    code = int(re.search(r"exit (\d+)", text.splitlines()[0]).group(1))
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# ")), code


def record(name: str, before: str | None = "2.15.0", after: str | None = "2.15.0",
           check: str = "check-after") -> dict:
    output, code = captured(name)
    check_output, check_code = captured(check)
    return {"package": "tensorflow", "python": "3.11.2", "pip": "uv 0.13.9 (x86_64-unknown-linux-gnu)",
            "before": before, "after": after,
            "upgrade": {"command": "uv pip install --upgrade tensorflow", "exit_code": code, "seconds": 9.0,
                        "timed_out": False, "output": output},
            "pip_check": {"exit_code": check_code, "output": check_output, "seconds": 0.1}}


@pytest.mark.parametrize("name, outcome, evidence", [
    ("system", Outcome.EXTERNALLY_MANAGED, "The interpreter at `/usr` is externally managed"),
    ("pip-cert-only", Outcome.SSL_ERROR, "invalid peer certificate: UnknownIssuer"),
    ("resolution", Outcome.RESOLUTION_IMPOSSIBLE, "No solution found when resolving dependencies"),
    ("no-wheel", Outcome.NO_MATCHING_DISTRIBUTION, "has no wheels with a matching Python ABI tag"),
    ("no-wheel-any-version", Outcome.NO_MATCHING_DISTRIBUTION,
     "have no wheels with a matching Python ABI tag"),
    ("refused", Outcome.NETWORK_ERROR, "Connection refused (os error 111)"),
    ("hash", Outcome.HASH_MISMATCH, "Hash mismatch for `six==1.16.0`"),
    ("permission", Outcome.PERMISSION_DENIED, "Permission denied (os error 13)"),
    ("proxy-auth", Outcome.PROXY_AUTH_REQUIRED, "tunnel error: proxy authorization required"),
    ("proxy-down", Outcome.PROXY_ERROR, "tunnel error: failed to create underlying connection"),
])
def test_uvs_own_words_decide_the_outcome(name, outcome, evidence):
    verdict = classify(observe(record(name)), by=UV)
    assert verdict.outcome is outcome, verdict
    assert any(evidence in line for line in verdict.evidence), verdict.evidence
    # pip's rules do not know these words: the cell's installer must be the one that reads them.
    assert classify(observe(record(name)), by=installer("pip")).outcome is not outcome


def test_a_uv_upgrade_that_landed_is_upgraded_and_its_check_is_read():
    upgraded = classify(observe(record("upgrade", after="2.21.0")), by=UV)
    assert upgraded.outcome is Outcome.UPGRADED and upgraded.evidence == ("+ tensorflow==2.21.0",)
    broken = classify(observe(record("upgrade", after="2.21.0", check="broken-check")), by=UV)
    assert broken.outcome is Outcome.UPGRADED_INCONSISTENT
    assert broken.evidence[0].startswith("The package `tensorflow` requires `protobuf>=3.20.3"), broken.evidence
    check_output, _ = captured("broken-check")
    assert UV.broken.match(check_output.splitlines()[-1]).group("name") == "tensorflow"
    # The library named is the target itself: not a blocker to upgrade beside it.
    assert blockers(check_output, ["keras==2.15.0"], "tensorflow", UV) == ("keras",)
    assert UV.version_of("uv 0.13.9 (x86_64-unknown-linux-gnu)") == "0.13.9"
    assert UV.version_of("sh: 1: uv: not found") == ""


def test_uv_refuses_user_and_the_remedy_drops_it():
    output, code = captured("user-flag")
    assert code == 2 and "`--user` is unsupported" in output
    verdict = classify(observe(record("user-flag")), by=UV)
    assert verdict.outcome is Outcome.USER_UNSUPPORTED
    assert verdict.evidence[0] == "error: pip's `--user` is unsupported (use a virtual environment instead)"
    facts = Facts(package="tensorflow", requirement="tensorflow",
                  upgrade=("uv", "pip", "install", "--user", "--upgrade", "tensorflow"), upgrader="user",
                  home="/home/user", user_flag=True, evidence="\n".join(verdict.evidence))
    plans = {a.remedy.name: a for a in plan_attempts(verdict.outcome, facts, AUTO_SELECTION, UV)}
    assert plans["no-user"].upgrade == ("uv", "pip", "install", "--upgrade", "tensorflow")
    assert plans["venv"].steps[0].argv == ("uv", "venv", "/home/user/fix-venv")


def test_uv_spells_its_commands_and_remedies():
    assert {"pip", "uv"} <= set(INSTALLERS)
    assert UV.upgrade(UV.program(True), "tensorflow[and-cuda]", user=False, pre=True, venv=None) == (
        "uv pip install --system --prerelease allow --upgrade 'tensorflow[and-cuda]'")
    assert UV.install(UV.program(False), "numpy==1.24.3", venv="/opt/venv") == "uv pip install numpy==1.24.3"
    facts = Facts(package="tensorflow", requirement="tensorflow",
                  upgrade=("uv", "pip", "install", "--system", "--upgrade", "tensorflow"), upgrader="root",
                  home="/root")
    plans = {a.remedy.name: a for a in plan_attempts(Outcome.EXTERNALLY_MANAGED, facts, AUTO_SELECTION, UV)}
    assert plans["venv"].steps[0].argv == ("uv", "venv", "/root/fix-venv")
    assert plans["venv"].upgrade == ("uv", "pip", "install", "--upgrade", "tensorflow")
    assert plans["break-system-packages"].upgrade[3] == "--break-system-packages"
    cache = plan_attempts(Outcome.HASH_MISMATCH, facts, AUTO_SELECTION, UV)
    assert cache[0].steps[0].argv == ("uv", "cache", "clean")


def test_a_uv_cell_renders_uvs_variables_and_none_of_pips(write_matrix):
    path = write_matrix("target: {index: 'https://127.0.0.1:9/simple/'}\n"
                        "axes: {os: [bookworm], install: [system], prior: ['2.15.0'], ca: [host], "
                        "conflicts: [constraints]}\n")
    matrix = load_matrix(path)
    ctx = RenderContext(target=matrix.target, index_url="https://127.0.0.1:9/simple/", index_secret=True)
    plan = plan_cell(expand(matrix)[0], ctx, UV)
    assert plan.upgrade_command == "uv pip install --system --upgrade tensorflow"
    assert plan.setup_commands[0] == "UV_BREAK_SYSTEM_PACKAGES=1 uv pip install --system tensorflow==2.15.0"
    text = render_dockerfile(plan, ctx)
    assert "UV_INDEX_URL='https://127.0.0.1:9/simple/'" in text and "UV_NO_PROGRESS='1'" in text
    assert "UV_CONSTRAINT=" in text and "REPROMATRIX_INDEX_VARIABLE='UV_INDEX_URL'" in text
    assert not re.search(r"\bPIP_[A-Z]", text), [line for line in text.splitlines() if "PIP_" in line]


@pytest.mark.parametrize("value, problem", [
    ("uv", None), ("uv==0.13.9", None), ("pip", None),
    ("pip==23.0", "'pip==23.0': pip's version is the pip axis (pip: ['23.0'])"),
    ("npm", "unknown installer 'npm'"),
    ("uv==latest", "'latest' is not a version"),
])
def test_the_installer_axis_names_an_installer_and_perhaps_its_version(value, problem):
    from repromatrix.core.axes import AXES
    said = AXES["installer"].check(value)
    assert (said is None) if problem is None else (said is not None and said.startswith(problem)), said


def test_uv_cells_are_named_and_what_means_nothing_for_uv_is_refused(write_matrix):
    from repromatrix.core.errors import MatrixError
    path = write_matrix("target: {index: local}\naxes: {os: [bookworm], installer: [pip, 'uv==0.13.9']}\n")
    assert [c.id for c in expand(load_matrix(path))] == ["bookworm-py3.11-venv-fresh",
                                                         "bookworm-py3.11-venv-fresh-uv0.13.9"]
    bad = write_matrix("target: {index: local}\naxes: {os: [bookworm], installer: [uv], pip: ['19.2.3']}\n")
    with pytest.raises(MatrixError, match=r"axes\.installer"):
        expand(load_matrix(bad))
    # uv's cache can be damaged (its unpacked copy), so the combination is a cell of its own
    damaged = load_matrix(write_matrix("target: {index: 'https://127.0.0.1:9/simple/'}\n"
                                       "axes: {installer: [uv], cache: [corrupted]}\n"))
    (cell,) = expand(damaged)
    ctx = RenderContext(target=damaged.target, index_url="https://127.0.0.1:9/simple/")
    text = render_dockerfile(plan_cell(cell, ctx, UV), ctx)
    assert "RUN : repromatrix-setup && python3 /opt/repromatrix/corrupt_uv_cache.py tensorflow" in text
    assert "corrupt_cache.py" not in text.replace("corrupt_uv_cache.py", "")


def test_summary_lists_where_pip_and_uv_disagree(tmp_path):
    from repromatrix.core.result import CellResult, RunResult
    from repromatrix.results.formats import installer_differences, render_markdown
    base = {"os": "bookworm", "install": "venv", "prior": "none", "ca": "pip-config"}
    def cell(id: str, outcome: Outcome, after: str | None, **axes: str) -> CellResult:
        return CellResult(id=id, axes=base | axes, outcome=outcome, evidence=[f"{outcome.value} here"],
                          after=after)
    cells = [cell("env", Outcome.UPGRADED, "2.21.0", installer="pip"),
             cell("env-uv", Outcome.SSL_ERROR, None, installer="uv"),
             cell("same", Outcome.UPGRADED, "2.21.0", ca="host", installer="pip"),
             cell("same-uv", Outcome.UPGRADED, "2.21.0", ca="host", installer="uv")]
    run = RunResult(run_id="20261202-101500-beef", matrix="m.yaml", started="", target={}, cells=cells)
    assert [(where, sorted(by)) for where, by in installer_differences(run)] == [("env", ["pip", "uv"])]
    text = render_markdown(run, tmp_path)
    assert "### Where the installers disagree (1)" in text
    assert "| env | `uv` | `ssl-error` | – | – | ssl-error here |" in text and "same-uv" not in text


def test_summary_lists_the_other_versions_where_pip_and_uv_upgraded_alike(tmp_path):
    # As seen on the real index (a reporter's h5py venv): both upgraded TensorFlow to 2.21.0, uv
    # also took the newest setuptools and wrapt; and, awkwardly, one added what the other removed.
    from repromatrix.core.result import CellResult, RunResult
    from repromatrix.results.formats import installer_differences, render_markdown, versions_that_differ
    def change(name: str, before: str | None, after: str | None) -> dict[str, object]:
        kind = "added" if before is None else "removed" if after is None else "upgraded"
        return {"name": name, "before": before, "after": after, "change": kind}
    tf = change("tensorflow", "2.15.0", "2.21.0")
    pips = [tf, change("keras", "2.15.0", "3.15.1"), change("six", None, "1.17.0")]
    uvs = [tf, change("keras", "2.15.0", "3.15.1"), change("wrapt", "1.14.2", "2.5.2"),
           change("setuptools", "66.1.1", "84.2.1"), change("gast", "0.5.4", None)]
    axes = {"os": "bookworm", "install": "venv", "prior": "2.15.0", "conflicts": "h5py"}
    cells = [CellResult(id="h5py", axes=axes | {"installer": "pip"}, outcome=Outcome.UPGRADED, evidence=["p"],
                        after="2.21.0", changed=pips),
             CellResult(id="h5py-uv", axes=axes | {"installer": "uv"}, outcome=Outcome.UPGRADED, evidence=["u"],
                        after="2.21.0", changed=uvs)]
    run = RunResult(run_id="20261204-101500-beef", matrix="m.yaml", started="", target={}, cells=cells)
    ((where, by),) = installer_differences(run)
    assert versions_that_differ(by) == {
        "gast": {"pip": "0.5.4", "uv": "–"},
        "setuptools": {"pip": "66.1.1", "uv": "84.2.1"},
        "six": {"pip": "1.17.0", "uv": "–"},
        "wrapt": {"pip": "1.14.2", "uv": "2.5.2"},
    }
    text = render_markdown(run, tmp_path)
    assert "| h5py | `uv` | `upgraded` | 2.21.0 | gast –, setuptools 84.2.1, six –, wrapt 2.5.2 | u |" in text
    assert "| h5py | `pip` | `upgraded` | 2.21.0 | gast 0.5.4, setuptools 66.1.1, six 1.17.0, wrapt 1.14.2 |" in text
    # the same changes under both: nothing to list
    same = RunResult(run_id="20261204-101500-beef", matrix="m.yaml", started="", target={},
                     cells=[cells[0], CellResult(id="h5py-uv", axes=axes | {"installer": "uv"},
                                                 outcome=Outcome.UPGRADED, evidence=["u"], after="2.21.0",
                                                 changed=list(pips))])
    assert installer_differences(same) == []


def test_a_cell_that_ran_without_tags_is_not_said_to_have_never_run():
    from repromatrix.cell.contract import Record
    from repromatrix.judge.wheelmatch import CellTags
    said = {"error": "the installer has no probe for its tags"}
    data = record("upgrade", after="2.21.0") | {"runtime": {"tags": said}}
    tags = CellTags.from_record(Record.from_json(data))
    assert tags is not None and not tags.known and tags.unknown == "the installer did not say which it takes"
    assert CellTags("3.11").unknown == "the cell never ran"


@pytest.mark.parametrize("spelled", ["tf_nightly", "TF-Nightly", "tf.nightly"])
def test_what_uv_installed_is_found_under_any_spelling_of_the_name(spelled):
    output = ("Resolved 3 packages in 10ms\n + tf-nightly-cpu==2.21.0.dev1\n + tf-nightly==2.21.0.dev2\n"
              " + numpy==2.3.5\n")
    data = record("upgrade", before=None, after="2.21.0.dev2") | {"package": spelled}
    data["upgrade"]["output"] = output
    verdict = classify(observe(data), by=UV)
    assert verdict.outcome is Outcome.UPGRADED and verdict.evidence[0] == "+ tf-nightly==2.21.0.dev2", verdict


def test_a_ca_in_the_os_store_is_in_no_installers_variable_but_the_setup_is_given_it(write_matrix):
    path = write_matrix("target: {index: local}\naxes: {os: [bookworm], installer: [pip, uv], ca: [system-store], "
                        "prior: ['2.15.0']}\n")
    loaded = load_matrix(path)
    ctx = local_index_context(loaded.target, None, b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    for cell in expand(loaded):
        plan = plan_cell(cell, ctx)
        by = plan.installer
        dockerfile = render_dockerfile(plan, ctx)
        assert plan.cert_variable == "" and f"ENV {by.variables.cert}=" not in dockerfile, cell.id
        assert "&& update-ca-certificates" in dockerfile
        assert "/usr/local/share/ca-certificates/repromatrix-" in dockerfile
        # The prior version is set up with the bundle in the installer's own variable: the upgrade is what is tested
        assert all(f"{by.variables.cert}=/usr/local/share/repromatrix/ca-bundle.pem " in c
                   for c in plan.setup_commands), plan.setup_commands
        assert by.variables.cert not in plan.upgrade_command


def test_a_damaged_copy_from_uvs_cache_is_named_file_by_file_and_its_cache_clean_fixes_it():
    data = json.loads((DATA / "records" / "local-bookworm-py3.11-venv-tf2.15.0-cache-corrupted-uv.json").read_text())
    assert data["upgrade"]["exit_code"] == 0  # uv said nothing: it installed what its cache held
    verdict = classify(observe(data), by=UV)
    assert verdict.outcome is Outcome.DAMAGED_INSTALL
    assert verdict.evidence[0] == "tensorflow/__init__.py differs from the sha256 in tensorflow 2.21.0's RECORD"
    assert verdict.evidence[1].startswith("import tensorflow failed: ValueError: source code string cannot contain")
    facts = Facts(package="tensorflow", requirement="tensorflow", upgrade=("uv", "pip", "install", "--upgrade",
                  "tensorflow"), upgrader="root", home="/root", evidence="\n".join(verdict.evidence))
    plans = [a.remedy.name for a in plan_attempts(verdict.outcome, facts, AUTO_SELECTION, UV)]
    assert plans[:2] == ["purge-cache", "no-cache-dir"] and "venv" not in plans  # a venv reuses the cache
    undamaged = dict(data, damaged=[])
    assert classify(observe(undamaged), by=UV).outcome is Outcome.IMPORT_ERROR
