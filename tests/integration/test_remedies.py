"""Remedies on real containers: examples/causes.yaml tries every applicable fix on each failed
cell (in a fresh container of the cell's own image) and reports, with evidence, which works.

The expectations below were observed on real containers first (docs/remedies.md); several
contradict common advice and are asserted as such.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.conftest import repromatrix

FAILED = {"upgraded", "infra-error", "interrupted", "setup-failed"}


def attempt(run, cell_id: str, remedy: str) -> dict:
    tried = {a["remedy"]: a for a in run.cells[cell_id]["attempts"]}
    assert remedy in tried, f"{remedy} was not tried on {cell_id}: {sorted(tried)}"
    return tried[remedy]


@pytest.mark.parametrize("cell_id, remedy, fix, outcome, evidence", [
    # PEP 668: a venv works; --user is refused too; --break-system-packages as a user lands in the
    # user's site-packages: root keeps the old version.
    ("bookworm-py3.11-system-user-tf2.15.0", "venv", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-system-user-tf2.15.0", "user", "fails", "externally-managed",
     "error: externally-managed-environment"),
    ("bookworm-py3.11-system-user-tf2.15.0", "break-system-packages", "works-with-side-effects", "split-install",
     "user imports tensorflow 2.21.0; root imports 2.15.0"),
    # A venv root made: --user inside it is refused; sudo works; so does a venv of one's own.
    ("bookworm-py3.11-root-venv-user-tf2.15.0", "user", "fails", "user-in-venv",
     "ERROR: Can not perform a '--user' install. User site-packages are not visible in this virtualenv."),
    ("bookworm-py3.11-root-venv-user-tf2.15.0", "as-root", "works", "upgraded", "tensorflow-2.21.0"),
    ("bullseye-py3.9-root-venv-user-tf2.15.0", "venv", "works", "upgraded", "tensorflow-2.20.0"),
    # A split install: --force-reinstall makes the same split again; a venv fixes it.
    ("bullseye-py3.9-system-user-tf2.15.0", "force-reinstall", "works-with-side-effects", "split-install",
     "user imports tensorflow 2.20.0; root imports 2.15.0"),
    ("bullseye-py3.9-user-flag-tf2.15.0", "venv", "works", "upgraded", "tensorflow-2.20.0"),
    ("bullseye-py3.9-user-flag-tf2.15.0", "as-root", "works-with-side-effects", "split-install",
     "root imports tensorflow 2.20.0; user imports 2.15.0"),
    # The proxy: its credentials work; going around it does not (there is no other way out).
    ("bookworm-py3.11-venv-fresh-proxy-auth", "proxy-credentials", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-proxy-auth", "no-proxy", "fails", "network-error",
     "ERROR: No matching distribution found for tensorflow"),
    ("bookworm-py3.11-venv-fresh-proxy-down", "use-proxy", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-proxy-down", "no-proxy", "fails", "network-error",
     "ERROR: No matching distribution found for tensorflow"),
    # pip 20.3 (bullseye): --proxy does not override HTTPS_PROXY; fixing the variable works.
    ("bullseye-py3.9-venv-fresh-proxy-down", "use-proxy", "fails", "proxy-error",
     "ERROR: No matching distribution found for tensorflow"),
    ("bullseye-py3.9-venv-fresh-proxy-down", "proxy-env", "works", "upgraded", "tensorflow-2.20.0"),
    ("bookworm-py3.11-venv-fresh-no-route", "proxy-env", "works", "upgraded", "tensorflow-2.21.0"),
    # An untrusted CA: trusting it works, so does --trusted-host (with its warning); upgrading
    # certifi does not (it renews the public CAs only, and cannot even be downloaded).
    ("bookworm-py3.11-venv-fresh-ca-none", "trust-ca", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-ca-none", "upgrade-certifi", "fails", "ssl-error",
     "the step `python3 -m pip install --upgrade certifi` exited 1; the upgrade did not run"),
    ("bookworm-py3.11-venv-fresh-tls-intercept", "trust-ca", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-tls-intercept", "trusted-host", "works", "upgraded", "tensorflow-2.21.0"),
    # Cut downloads: pip 25.1 resumes them when asked; retrying from scratch is cut again.
    ("trixie-py3.13-venv-fresh-flaky", "resume-retries", "works", "upgraded", "tensorflow-2.21.0"),
    ("trixie-py3.13-venv-fresh-flaky", "retry", "fails", "network-error",
     "× Download failed because not enough bytes were received ("),  # bytes: see test_causes.py
    ("bookworm-py3.11-venv-fresh-flaky", "purge-cache", "fails", "hash-mismatch", "Expected sha256 "),
    # Conflicts: dropping the stale constraint works; a new venv still reads PIP_CONSTRAINT.
    ("bookworm-py3.11-venv-tf2.15.0-constraints", "drop-constraint", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-tf2.15.0-constraints", "venv", "fails", "resolution-impossible",
     "The user requested (constraint) protobuf==3.19.6"),
    ("bookworm-py3.11-venv-tf2.15.0-protobuf-cap", "venv", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-tf2.15.0-protobuf-cap", "force-reinstall", "works-with-side-effects",
     "upgraded-inconsistent", "googleapis-common-protos 1.63.0 requires protobuf"),
    # Old pip: upgrading it first works; --force-reinstall with the old pip does not.
    ("bullseye-py3.9-venv-fresh-pip19.2.3", "upgrade-pip", "works", "upgraded", "tensorflow-2.20.0"),
    ("bullseye-py3.9-venv-fresh-pip19.2.3", "force-reinstall", "fails", "import-error",
     "import tensorflow failed: ImportError: A module that was compiled using NumPy 1.x"),
    ("bookworm-py3.11-venv-fresh-pip20.2.4", "upgrade-pip", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-pip20.2.4", "newest-for-python", "fails", "no-matching-distribution",
     "ERROR: Could not find a version that satisfies the requirement tensorflow==2.21.0 (from versions: none)"),
    # A damaged cache: emptying it works; upgrading pip or reinstalling takes the same cached file.
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted", "purge-cache", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted", "force-reinstall", "fails", "hash-mismatch",
     "Using cached https://repromatrix-index:8443/packages/tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl"),
    ("trixie-py3.13-venv-fresh-cache-corrupted", "resume-retries", "fails", "hash-mismatch", "Using cached "),
    # Upgrading pip 23.0.1 to 26.3, or 20.3.4 to 25.3, leaves the damaged entry behind; from 25.1 it does not.
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted", "upgrade-pip", "works", "upgraded", "tensorflow-2.21.0"),
    ("bullseye-py3.9-venv-fresh-cache-corrupted", "upgrade-pip", "works", "upgraded", "tensorflow-2.20.0"),
    ("trixie-py3.13-venv-fresh-cache-corrupted", "upgrade-pip", "fails", "hash-mismatch", "Using cached "),
    # Upgrading pip over a link that cuts downloads: pip's own wheel is cut.
    ("bookworm-py3.11-venv-fresh-flaky", "upgrade-pip", "fails", "hash-mismatch",
     "the step `python3 -m pip install --upgrade pip` exited 1; the upgrade did not run"),
    ("bookworm-py3.11-venv-fresh-flaky", "proxy-env", "works", "upgraded", "tensorflow-2.21.0"),
    # A /tmp smaller than the wheel: pointing TMPDIR elsewhere works; --no-cache-dir, the usual advice
    # for a full disk, does not (pip still downloads to /tmp), nor does emptying the cache.
    ("bookworm-py3.11-venv-fresh-small-tmp", "tmpdir", "works", "upgraded", "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-small-tmp", "no-cache-dir", "fails", "no-space", "[Errno 28] No space left on device"),
    ("bookworm-py3.11-venv-fresh-small-tmp", "purge-cache", "fails", "no-space", "[Errno 28] No space left on device"),
    # Out of memory: --no-cache-dir, the classic advice, does not help; only more memory does.
    ("bookworm-py3.11-venv-fresh-small-memory", "no-cache-dir", "fails", "out-of-memory", "the kernel's OOM killer"),
    ("bookworm-py3.11-venv-fresh-small-memory", "more-memory", "works", "upgraded", "tensorflow-2.21.0"),
    # A stalled link: a longer timeout waits longer on the same stall; resuming (pip 25.1) gets the rest
    # over a new connection; another way out works.
    ("bookworm-py3.11-venv-fresh-stalled", "retry", "fails", "read-timeout", "Read timed out."),
    ("bookworm-py3.11-venv-fresh-stalled", "proxy-env", "works", "upgraded", "tensorflow-2.21.0"),
    ("trixie-py3.13-venv-fresh-stalled", "resume-retries", "works", "upgraded", "tensorflow-2.21.0"),
    ("trixie-py3.13-venv-fresh-stalled", "upgrade-pip", "fails", "read-timeout",
     "the step `python3 -m pip install --upgrade pip` exited 1; the upgrade did not run"),
    # Cannot uninstall: --force-reinstall must uninstall too; installing over it or a new venv works.
    ("bookworm-py3.11-venv-fresh-distutils-numpy", "force-reinstall", "fails", "cannot-uninstall",
     "It is a distutils installed project"),
    ("bookworm-py3.11-venv-fresh-distutils-numpy", "ignore-installed", "works", "upgraded", "tensorflow-2.21.0"),
    ("trixie-py3.13-venv-fresh-no-record-numpy", "venv", "works", "upgraded", "tensorflow-2.21.0"),
    ("trixie-py3.13-venv-fresh-no-record-numpy", "force-reinstall", "fails", "cannot-uninstall",
     "× Cannot uninstall numpy 1.24.3"),
    # Two distributions in one directory: reinstalling keeps both; uninstalling the other first works.
    ("bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu", "force-reinstall", "works-with-side-effects", "shared-directory",
     "tensorflow-gpu 2.10.1 also owns"),
    ("bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu", "uninstall-sharers", "works", "upgraded", "tensorflow-2.20.0"),
    # Held back by a constraint: asking for the newest by name fails the same way; dropping it works.
    ("bookworm-py3.11-venv-fresh-protobuf-below-6", "newest-for-python", "fails", "resolution-impossible",
     "The user requested (constraint) protobuf<6"),
    ("bookworm-py3.11-venv-fresh-protobuf-below-6", "drop-constraint", "works", "upgraded", "tensorflow-2.21.0"),
    # pip and python disagree: `python3 -m pip`, pip's own advice, has no pip in a --without-pip venv;
    # ensurepip first works; so does a new venv (its pip is the one on PATH there).
    ("bullseye-py3.9-venv-no-pip-fresh", "python-m-pip", "fails", "unknown-failure", "No module named pip"),
    ("bullseye-py3.9-venv-no-pip-fresh", "ensurepip", "works", "upgraded", "tensorflow-2.20.0"),
    ("bullseye-py3.9-venv-no-pip-fresh", "venv", "works", "upgraded", "tensorflow-2.20.0"),
])
def test_remedy(causes_run, cell_id, remedy, fix, outcome, evidence):
    tried = attempt(causes_run, cell_id, remedy)
    assert (tried["fix"], tried["outcome"]) == (fix, outcome), tried["evidence"]
    assert any(evidence in line for line in tried["evidence"]), tried["evidence"]


def test_every_failed_cause_has_a_remedy_that_works_and_one_that_does_not(causes_run):
    by_cause: dict[str, list[dict]] = {}
    for cell in causes_run.cells.values():
        if cell["outcome"] not in FAILED:
            assert cell["attempts"], f"no remedy was tried on {cell['id']}"
            by_cause.setdefault(cell["outcome"], []).extend(cell["attempts"])
    for cause, attempts in by_cause.items():
        fixes = {a["fix"] for a in attempts}
        # Not working: failing, or upgrading with the very side effect the cell had (split, inconsistent).
        assert "works" in fixes and fixes & {"fails", "works-with-side-effects"}, (
            cause, [(a["remedy"], a["fix"]) for a in attempts])
    # Cells that worked, or whose setup failed (no image to start from), are never tried.
    assert all(not c["attempts"] for c in causes_run.cells.values() if c["outcome"] in FAILED)


def test_the_recommended_fix_is_the_least_invasive_that_reaches_the_newest(causes_run):
    fixes = {cid: c["fix"] for cid, c in causes_run.cells.items() if c["attempts"]}
    assert fixes["bookworm-py3.11-system-user-tf2.15.0"] == "venv"  # not --break-system-packages
    assert fixes["bookworm-py3.11-venv-fresh-ca-none"] == "trust-ca"  # not --trusted-host
    assert fixes["bookworm-py3.11-venv-tf2.15.0-cache-corrupted"] == "purge-cache"
    assert fixes["bookworm-py3.11-venv-fresh-small-tmp"] == "tmpdir"
    # upgrade-blockers lands on 2.19.0 (the local index has no newer googleapis-common-protos);
    # a venv reaches 2.21.0, so it is the one to type.
    assert fixes["bookworm-py3.11-venv-tf2.15.0-protobuf-cap"] == "venv"
    assert fixes["bookworm-py3.11-venv-fresh-small-memory"] == "more-memory"
    assert fixes["bookworm-py3.11-venv-fresh-stalled"] == "proxy-env"  # retry waits 60 s on the same stall
    assert fixes["trixie-py3.13-venv-fresh-stalled"] == "resume-retries"
    assert fixes["bookworm-py3.11-venv-fresh-distutils-numpy"] == "ignore-installed"
    assert fixes["bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu"] == "uninstall-sharers"
    assert fixes["bookworm-py3.11-venv-fresh-protobuf-below-6"] == "drop-constraint"
    assert fixes["bullseye-py3.9-venv-no-pip-fresh"] == "ensurepip"


def test_reports_say_what_fixes_it(causes_run):
    summary = (causes_run.dir / "summary.md").read_text()
    assert "### What fixes it" in summary
    assert "**trust-ca**: `python3 -m pip install --cert /opt/repromatrix/remedy-ca.pem --upgrade tensorflow`" \
        in summary
    html = (causes_run.dir / "index.html").read_text()
    assert '"fix":"purge-cache"' in html and '"remedy":"trust-ca"' in html  # the panel's data
    log = causes_run.dir / attempt(causes_run, "bookworm-py3.11-venv-fresh-ca-none", "trust-ca")["log"]
    assert log.read_text().startswith("$ python3 -m pip install --cert /opt/repromatrix/remedy-ca.pem")


def test_the_proxy_credentials_are_shown_as_placeholders_and_reach_pip_only_as_a_mounted_secret(causes_run):
    tried = attempt(causes_run, "bookworm-py3.11-venv-fresh-proxy-auth", "proxy-credentials")
    assert tried["commands"][-1].startswith("HTTP_PROXY='http://<user>:<password>@repromatrix-proxy:3129' ")
    assert tried["fix"] == "works"  # so pip had them; test_causes scans every file of the run for them


def test_remedy_command_tries_the_fixes_on_a_stored_cell_without_rebuilding_its_setup(offline_run, tmp_path):
    copy = tmp_path / "reports" / offline_run.dir.name
    shutil.copytree(offline_run.dir, copy, symlinks=True)
    cell_id = "bookworm-py3.11-system-fresh"
    proc = repromatrix("remedy", str(copy), cell_id, "--remedies", "venv,break-system-packages",
                       "--out", str(tmp_path / "reports"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rebuilding cell bookworm-py3.11-system-fresh from its build context" in proc.stderr
    assert f"{cell_id}: externally-managed; fix: venv: python3 -m venv /root/fix-venv" in proc.stderr
    results = json.loads((copy / "results.json").read_text())
    assert len(results["cells"]) == len(offline_run.cells)
    cell = next(c for c in results["cells"] if c["id"] == cell_id)
    assert [(a["remedy"], a["fix"]) for a in cell["attempts"]] == [("venv", "works"),
                                                                    ("break-system-packages", "works")]
    assert cell["setup"] == "cached" and "setup" not in cell["durations"]  # its setup came from the cache
    assert "--break-system-packages" in cell["attempts"][1]["commands"][-1] and cell["attempts"][1]["warning"]
    others = {c["id"]: c["outcome"] for c in results["cells"] if c["id"] != cell_id}
    assert others == {i: c["outcome"] for i, c in offline_run.cells.items() if i != cell_id}
    assert "### What fixes it" in (copy / "summary.md").read_text()


def test_remedy_command_names_an_unknown_cell(offline_run, tmp_path):
    proc = repromatrix("remedy", str(offline_run.dir), "bookworm-py3.11-sytem-fresh")
    assert proc.returncode == 2 and "did you mean 'bookworm-py3.11-system-fresh'?" in proc.stderr
