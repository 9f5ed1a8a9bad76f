"""The python axis, requirement targets and checks, on real containers against the local index.

examples/pythons.yaml runs four interpreters besides the OS's own on bookworm (built offline by
the providers when no registry answers); keras3.yaml, nightly.yaml and and-cuda.yaml each use
another spelling of the target.
"""

from __future__ import annotations

import pytest

from repromatrix.infra.localindex import KERAS3_LEGACY, KERAS3_SAVE


def test_every_python_cell_matches_the_examples_expectations(pythons_run):
    mismatches = {i: (c["outcome"], c["expected"], c["evidence"]) for i, c in pythons_run.cells.items()
                  if c["unexpected"]}
    assert not mismatches
    wanted = {c["interpreter"]["wanted"] for c in pythons_run.cells.values()}
    assert wanted == {"system", "3.9", "3.10", "3.11", "3.13"}


@pytest.mark.parametrize("cell_id, python, provider", [
    ("bookworm-py3.9-venv-fresh", "3.9.", "debian-source"),
    ("bookworm-py3.10-venv-fresh", "3.10.", "pypi-bundle"),
    ("bookworm-py3.11-upstream-venv-tf2.15.0", "3.11.", "debian-source"),
    ("bookworm-py3.13-venv-fresh", "3.13.", "debian-source"),
])
def test_each_interpreter_is_the_version_asked_for_and_says_where_it_came_from(pythons_run, cell_id, python,
                                                                               provider):
    cell = pythons_run.cells[cell_id]
    facts = cell["interpreter"]
    assert cell["python"].startswith(python), cell["python"]
    assert (facts["image"], facts["provider"]) == (f"python:{python[:-1]}-slim-bookworm", provider)
    assert facts["glibc"] == "glibc 2.36"  # bookworm's: the interpreter did not bring another libc
    dockerfile = (pythons_run.dir / cell["dockerfile"]).read_text()
    assert f"FROM python:{python[:-1]}-slim-bookworm AS setup\n" in dockerfile and "apt-get install" not in dockerfile


def test_every_interpreters_ssl_reads_the_os_ca_store(pythons_run):
    # A bundled OpenSSL looks for CAs under its build prefix; unless pointed at the OS's store,
    # `ca: none` would silently mean "trusts nothing" instead of "trusts the image's own CAs".
    ran = {i: c for i, c in pythons_run.cells.items() if c["outcome"] != "setup-failed"}
    assert len(ran) == len(pythons_run.cells) - 1
    for cell_id, cell in ran.items():
        paths = cell["interpreter"]["ca_paths"]
        assert str(paths["cafile"] or paths["capath"]).startswith(("/etc/ssl/", "/usr/lib/ssl/")), (cell_id, paths)
    assert pythons_run.cells["bookworm-py3.10-venv-fresh"]["interpreter"]["openssl"].startswith("OpenSSL 1.1.1")


@pytest.mark.parametrize("cell_id, outcome, evidence", [
    # The newest release skips Python 3.9: pip lands below it, and the record says why.
    ("bookworm-py3.9-venv-fresh", "upgraded", "landed on 2.20.0, below the newest release 2.21.0: no 2.21.0 wheel "
     "for Python 3.9; the newest for it is 2.20.0"),
    ("bookworm-py3.10-venv-tf2.15.0", "upgraded", "Successfully installed keras-3.10.0 protobuf-6.33.1 "
     "tensorflow-2.21.0"),
    # No wheel of the prior version for this Python.
    ("bookworm-py3.13-venv-tf2.15.0", "setup-failed", "ERROR: Could not find a version that satisfies the "
     "requirement tensorflow==2.15.0 (from versions: 2.20.0, 2.21.0, 2.22.0rc0)"),
    # The OS's python3 carries Debian's PEP 668 marker; a CPython under /usr/local does not.
    ("bookworm-py3.11-system-fresh", "externally-managed", "error: externally-managed-environment"),
    ("bookworm-py3.10-system-fresh", "upgraded", "Successfully installed keras-3.10.0 numpy-2.2.6 protobuf-6.33.1 "
     "tensorflow-2.21.0"),
    # Install modes keep their meaning on an interpreter that is not the OS's.
    ("bookworm-py3.10-system-user-tf2.15.0", "split-install", "user imports tensorflow 2.21.0; root imports 2.15.0"),
    ("bookworm-py3.10-system-user-tf2.15.0", "split-install",
     "Defaulting to user installation because normal site-packages is not writeable"),
    ("bookworm-py3.13-root-venv-user-fresh", "permission-denied", "Check the permissions."),
])
def test_python_outcomes_and_evidence(pythons_run, cell_id, outcome, evidence):
    cell = pythons_run.cells[cell_id]
    assert (cell["outcome"], evidence in cell["evidence"]) == (outcome, True), cell["evidence"]


def test_keras_3_breaks_the_users_code_after_a_working_upgrade(keras3_run):
    assert {c["outcome"] for c in keras3_run.cells.values()} == {"check-failed"}
    for cell in keras3_run.cells.values():
        assert (cell["before"], cell["after"]) == ("2.15.0", "2.21.0")
        broke = "after the upgrade; it passed before it (the upgrade broke it)"  # run before it too
        assert cell["evidence"] == [f"check legacy-optimizer as root exited 1 {broke}: ImportError: {KERAS3_LEGACY}",
                                    f"check save-without-extension as root exited 1 {broke}: ValueError: "
                                    + KERAS3_SAVE.format(path="/tmp/model")]
        exits = {(c["name"], c["identity"]): c["exit_code"] for c in cell["checks"]}
        assert exits == {("keras-dense", "root"): 0, ("legacy-optimizer", "root"): 1,
                         ("save-without-extension", "root"): 1}
        assert (keras3_run.dir / cell["dockerfile"]).with_name("checks.json").is_file()
        # The way back the error names: tf_keras beside TensorFlow, with TF_USE_LEGACY_KERAS=1
        attempt = next(a for a in cell["attempts"] if a["remedy"] == "legacy-keras")
        assert (attempt["fix"], attempt["outcome"], attempt["after"]) == ("works", "upgraded", "2.21.0"), attempt
        assert cell["fix"] == "legacy-keras"


def test_a_target_whose_import_name_differs_from_its_name(nightly_run):
    cell = nightly_run.cells["bookworm-py3.11-venv-tf-nightly2.23.0.dev20261025"]
    assert (cell["outcome"], cell["before"], cell["after"]) == ("upgraded", "2.23.0.dev20261025", "2.23.0.dev20261026")
    assert cell["imports"] == ["tensorflow"]
    # The module spells its version the nightlies' way; PEP 440 says it is the same version.
    assert cell["import_check"]["version"] == "2.23.0-dev20261026"
    assert cell["evidence"] == ["Successfully installed tf-nightly-2.23.0.dev20261026"]


def test_a_python_without_wheels_finds_none_of_the_nightlies(nightly_run):
    cell = nightly_run.cells["bookworm-py3.10-venv-fresh"]
    assert cell["outcome"] == "no-matching-distribution"
    assert ("ERROR: Could not find a version that satisfies the requirement tf-nightly (from versions: none)"
            in cell["evidence"])


def test_a_target_with_extras_installs_them_and_its_prior_version_too(and_cuda_run):
    assert {c["outcome"] for c in and_cuda_run.cells.values()} == {"upgraded"}
    fresh = and_cuda_run.cells["bookworm-py3.11-venv-fresh"]
    assert fresh["upgrade_command"] == "python3 -m pip install --upgrade 'tensorflow[and-cuda]'"
    assert "nvidia-cublas-cu12-12.5.3.2" in and_cuda_run.log("bookworm-py3.11-venv-fresh")
    prior = and_cuda_run.cells["bookworm-py3.11-venv-tf2.15.0"]
    dockerfile = (and_cuda_run.dir / prior["dockerfile"]).read_text()
    assert "python3 -m pip install 'tensorflow[and-cuda]==2.15.0'" in dockerfile
    assert prior["imports"] == ["tensorflow"] and prior["after"] == "2.21.0"


def test_why_no_wheel_matched_is_explained_per_file(pythons_run):
    below = pythons_run.cells["bookworm-py3.9-venv-fresh"]["why_no_wheel"]
    assert below["summary"] == "0 of 4 wheels of tensorflow 2.21.0 fit Python 3.9.2"
    assert {r["reason"] for r in below["files"]} == {"Requires-Python >=3.10 excludes Python 3.9.2"}
    never_ran = pythons_run.cells["bookworm-py3.13-venv-tf2.15.0"]["why_no_wheel"]
    assert never_ran["summary"] == ("0 of 3 wheels of tensorflow 2.15.0 fit Python 3.13 (platform not checked: "
                                    "the cell never ran)")
    assert [r["reason"] for r in never_ran["files"]] == [f"built for {cp}, not for Python 3.13"
                                                         for cp in ("cp39", "cp310", "cp311")]
    assert "### Why no wheel matched" in (pythons_run.dir / "summary.md").read_text()
