"""Classification on real pip output captured from cells (scripts/capture-fixtures)."""

from __future__ import annotations

import copy
import json

import pytest

from repromatrix.cell.observation import Observation
from repromatrix.core.outcomes import Outcome
from repromatrix.infra.localindex import TENSORFLOW, wheel_tags
from repromatrix.judge.classify import classify
from repromatrix.judge.index import Releases
from repromatrix.judge.wheelmatch import CellTags, newest_for
from tests.conftest import DATA
from tests.support import observe

RECORDS = DATA / "records"


def record(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.json").read_text())


def releases() -> Releases:
    names = [f"tensorflow-{r.version}-{tag}.whl" for r in TENSORFLOW for tag in wheel_tags(r, "x86_64")]
    return Releases.from_filenames("tensorflow", names)


@pytest.mark.parametrize("name, outcome, evidence", [
    ("local-bookworm-py3.11-venv-tf2.15.0", Outcome.UPGRADED,
     "Successfully installed protobuf-6.33.1 tensorflow-2.21.0"),
    ("local-bookworm-py3.11-system-fresh", Outcome.EXTERNALLY_MANAGED, "error: externally-managed-environment"),
    ("local-trixie-py3.13-system-fresh", Outcome.EXTERNALLY_MANAGED, "× This environment is externally managed"),
    ("local-bullseye-py3.9-venv-tf2.20.0", Outcome.NOT_UPGRADED,
     "Requirement already satisfied: tensorflow in /opt/venv/lib/python3.9/site-packages (2.20.0)"),
    ("local-tf2.14.0-bookworm-py3.11-venv-fresh", Outcome.IMPORT_ERROR,
     "import tensorflow failed: ImportError: A module that was compiled using NumPy 1.x cannot be run in "
     "NumPy 2.3.5 as it may crash. To support both 1.x and 2.x versions of NumPy, modules must be compiled "
     "with NumPy 2.0."),
])
def test_real_records(name, outcome, evidence):
    verdict = classify(observe(record(name)), releases())
    assert verdict.outcome is outcome
    assert evidence in verdict.evidence


def test_python_39_lands_below_newest_and_says_why():
    verdict = classify(observe(record("local-bullseye-py3.9-venv-fresh")), releases())
    assert verdict.outcome is Outcome.UPGRADED
    assert verdict.facts["after"] == "2.20.0" and verdict.facts["newest"] == "2.21.0"
    assert verdict.facts["below_newest"] == ("landed on 2.20.0, below the newest release 2.21.0: "
                                             "no 2.21.0 wheel for Python 3.9; the newest for it is 2.20.0")
    assert verdict.facts["below_newest"] in verdict.evidence


def test_newest_release_is_not_flagged():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0")), releases())
    assert "below_newest" not in verdict.facts


def test_failed_upgrade_is_not_called_below_newest():
    rec = record("local-bullseye-py3.9-system-tf2.15.0")
    rec["upgrade"]["exit_code"] = 1
    assert "below_newest" not in classify(observe(rec), releases()).facts


def test_setup_failure_quotes_pips_reason():
    log = (RECORDS / "local-trixie-py3.13-venv-tf2.15.0.build.txt").read_text()
    verdict = classify(Observation(build_ok=False, build_log=log, setup_failed=True))
    assert verdict.outcome is Outcome.SETUP_FAILED
    assert verdict.evidence == (
        "ERROR: Could not find a version that satisfies the requirement tensorflow==2.15.0 "
        "(from versions: 2.20.0, 2.21.0)",
        "ERROR: No matching distribution found for tensorflow==2.15.0")


def test_other_build_failures_are_ours():
    log = (RECORDS / "local-trixie-py3.13-venv-tf2.15.0.build.txt").read_text()
    verdict = classify(Observation(build_ok=False, build_log=log, setup_failed=False))
    assert verdict.outcome is Outcome.INFRA_ERROR
    assert verdict.evidence[0] == "image build failed"


def test_pip_check_failure_is_inconsistent():
    rec = record("local-bookworm-py3.11-venv-tf2.15.0")
    rec["pip_check"] = {"exit_code": 1, "output": "tensorflow 2.21.0 has requirement protobuf<8.0.0,>=6.31.1, "
                        "but you have protobuf 4.25.8.\n"}
    verdict = classify(observe(rec))
    assert verdict.outcome is Outcome.UPGRADED_INCONSISTENT
    assert "but you have protobuf 4.25.8." in verdict.evidence[-1]


def test_unknown_pip_failure_keeps_error_lines():
    rec = record("local-bookworm-py3.11-system-fresh")
    rec["upgrade"] |= {"exit_code": 2, "output": "Collecting tensorflow\nERROR: Something new went wrong\n"}
    verdict = classify(observe(rec))
    assert verdict.outcome is Outcome.UNKNOWN_FAILURE
    assert verdict.evidence == ("pip exited 2", "ERROR: Something new went wrong")


def test_no_record_or_timeout_is_infra():
    assert classify(observe(None, exit_code=137, output="Killed")).outcome is Outcome.INFRA_ERROR
    rec = copy.deepcopy(record("local-bookworm-py3.11-system-fresh"))
    rec["upgrade"] |= {"exit_code": -9, "timed_out": True}
    assert classify(observe(rec)).outcome is Outcome.INFRA_ERROR
    assert classify(Observation(infra_reason="base image x: gone")).evidence == ("base image x: gone",)


# Real TensorFlow from the public index (captured by the nightly matrix; hosts scrubbed).
@pytest.mark.parametrize("name, outcome, evidence", [
    ("public-bookworm-py3.11-venv-tf2.15.0", Outcome.UPGRADED, "tensorflow-2.21.0"),
    ("public-bullseye-py3.9-venv-fresh", Outcome.UPGRADED, "tensorflow-2.20.0"),
    ("public-bookworm-py3.11-system-fresh", Outcome.EXTERNALLY_MANAGED, "error: externally-managed-environment"),
    ("public-trixie-py3.13-system-fresh", Outcome.EXTERNALLY_MANAGED, "error: externally-managed-environment"),
    # a fresh 2.8.0 as of the day protobuf 4.21.1 was out: Python's exception line, not the
    # advice its message ends with ("... will be much slower)." and a link)
    ("public-bullseye-py3.9-venv-fresh-tf2.8.0-as-of-2022-06-01", Outcome.IMPORT_ERROR,
     "import tensorflow failed: TypeError: Descriptors cannot not be created directly."),
    # as of its own month: upgraded, though `import tensorflow_io_gcs_filesystem` fails (TensorFlow
    # loaded that plugin itself: "File system for gs already registered")
    ("public-bullseye-py3.9-venv-fresh-tf2.8.0-as-of-2022-02-10", Outcome.UPGRADED,
     "Successfully installed tensorflow-2.8.0 (and 40 other packages)"),
])
def test_real_tensorflow_records(name, outcome, evidence):
    rec = record(name)
    verdict = classify(observe(rec), releases())
    assert verdict.outcome is outcome
    assert any(evidence in line for line in verdict.evidence), verdict.evidence
    assert not any("already registered" in line for line in verdict.evidence), verdict.evidence


def test_real_tensorflow_python_39_and_pip_20():
    rec = record("public-bullseye-py3.9-venv-fresh")
    assert rec["pip"].startswith("pip 20.3.4")
    verdict = classify(observe(rec), releases())
    assert verdict.facts["below_newest"].startswith("landed on 2.20.0, below the newest release 2.21.0")


def test_real_tensorflow_setup_failure_on_python_313():
    log = (RECORDS / "public-trixie-py3.13-venv-tf2.15.0.build.txt").read_text()
    verdict = classify(Observation(build_ok=False, build_log=log, setup_failed=True))
    assert verdict.outcome is Outcome.SETUP_FAILED
    assert verdict.evidence[0].startswith("ERROR: Could not find a version that satisfies the requirement "
                                          "tensorflow==2.15.0 (from versions: 2.20.0rc0, 2.20.0,")


@pytest.mark.parametrize("line, focused", [
    ("Successfully installed absl-py-2.3.1 gast-0.7.0 grpcio-1.80.1 h5py-3.14.0 tensorflow-2.20.0 wrapt-2.5.2",
     "Successfully installed tensorflow-2.20.0 (and 5 other packages)"),
    ("Successfully installed protobuf-6.33.1 tensorflow-2.21.0",
     "Successfully installed protobuf-6.33.1 tensorflow-2.21.0"),
    ("Successfully installed tensorflow-io-gcs-filesystem-0.37.1 a-1 b-2 c-3 Tensorflow-2.1.0",
     "Successfully installed Tensorflow-2.1.0 (and 4 other packages)"),
])
def test_success_evidence_focuses_on_the_target(line, focused):
    from repromatrix.judge.classify import _focus

    assert _focus(line, "tensorflow") == focused


# Install modes and permissions, captured from examples/causes.yaml.
def test_split_install_names_each_identitys_version():
    verdict = classify(observe(record("local-bullseye-py3.9-system-user-tf2.15.0")), releases())
    assert verdict.outcome is Outcome.SPLIT_INSTALL
    assert verdict.evidence == ("Successfully installed protobuf-6.33.1 tensorflow-2.20.0",
                                "user imports tensorflow 2.20.0; root imports 2.15.0")


@pytest.mark.parametrize("name, first", [
    ("local-bullseye-py3.9-root-venv-user-tf2.15.0",  # pip 20.3 wording
     "ERROR: Could not install packages due to an EnvironmentError: [Errno 13] Permission denied: '__init__.py'"),
    ("local-bookworm-py3.11-root-venv-user-tf2.15.0",  # pip ≥ 21 wording
     "ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '__init__.py'"),
])
def test_permission_denied(name, first):
    verdict = classify(observe(record(name)))
    assert verdict.outcome is Outcome.PERMISSION_DENIED
    assert verdict.evidence[0] == first


def test_same_version_for_every_identity_is_no_split():
    rec = record("local-bullseye-py3.9-system-user-tf2.15.0")
    rec["identities"]["root"]["version"] = "2.20.0"
    assert classify(observe(rec)).outcome is Outcome.UPGRADED


# Network and TLS, captured from examples/causes.yaml: pip ends every one of these with
# "No matching distribution found"; the verdict must be the real cause.
@pytest.mark.parametrize("name, outcome, deciding", [
    ("local-bookworm-py3.11-venv-fresh-proxy-auth", Outcome.PROXY_AUTH_REQUIRED,
     "Tunnel connection failed: 407 Proxy Authentication Required"),
    ("local-bookworm-py3.11-venv-fresh-proxy-down", Outcome.PROXY_ERROR,
     "ProxyError('Cannot connect to proxy.', NewConnectionError("),
    ("local-bullseye-py3.9-venv-fresh-proxy-down", Outcome.PROXY_ERROR,  # pip 20.3, unvendored urllib3
     "ProxyError('Cannot connect to proxy.', NewConnectionError('<urllib3.connection.HTTPSConnection"),
    ("local-bookworm-py3.11-venv-fresh-no-route", Outcome.NETWORK_ERROR, "[Errno -2] Name or service not known"),
    ("local-bookworm-py3.11-venv-fresh-ca-none", Outcome.SSL_ERROR, "CERTIFICATE_VERIFY_FAILED"),
    ("local-bullseye-py3.9-venv-fresh-ca-none", Outcome.SSL_ERROR, "CERTIFICATE_VERIFY_FAILED"),
    ("local-bookworm-py3.11-venv-fresh-tls-intercept", Outcome.SSL_ERROR, "CERTIFICATE_VERIFY_FAILED"),
])
def test_network_causes_are_not_no_matching_distribution(name, outcome, deciding):
    rec = record(name)
    assert "No matching distribution found for tensorflow" in rec["upgrade"]["output"]
    verdict = classify(observe(rec))
    assert verdict.outcome is outcome
    assert deciding in verdict.evidence[0]
    assert verdict.evidence[-1] == "ERROR: No matching distribution found for tensorflow"


# Dependency conflicts, captured from examples/causes.yaml.
def test_protobuf_pin_of_another_library_is_inconsistent():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0-protobuf-cap")))
    assert verdict.outcome is Outcome.UPGRADED_INCONSISTENT
    # The first line names the library that holds it back (issue 21: blockers named)
    assert verdict.evidence[0].startswith("googleapis-common-protos 1.63.0 requires protobuf")
    assert verdict.evidence[0].endswith("but you have protobuf 6.33.1 which is incompatible.")
    assert verdict.evidence[1].startswith("ERROR: pip's dependency resolver does not currently take into account")


def test_constraints_make_resolution_impossible():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0-constraints")))
    assert verdict.outcome is Outcome.RESOLUTION_IMPOSSIBLE
    assert verdict.evidence[0].startswith("ERROR: ResolutionImpossible")
    assert "The user requested (constraint) protobuf==3.19.6" in verdict.evidence


# Old pip, captured from examples/causes.yaml (pip 19.2.3 and 20.2.4 pinned in a venv).
def test_old_pip_is_named_as_the_reason():
    rec = record("local-bullseye-py3.9-venv-tf2.15.0-pip19.2.3")
    verdict = classify(observe(rec), releases())
    assert verdict.outcome is Outcome.NOT_UPGRADED
    assert verdict.evidence == (
        "Requirement already up-to-date: tensorflow in /opt/venv/lib/python3.9/site-packages (2.15.0)",
        "pip 19.2.3 cannot read the manylinux2014 tags of 2.20.0's wheels (pip ≥ 19.3 can)")
    verdict = classify(observe(record("local-bookworm-py3.11-venv-fresh-pip20.2.4")), releases())
    assert verdict.outcome is Outcome.NO_MATCHING_DISTRIBUTION
    assert verdict.evidence[-1] == ("pip 20.2.4 cannot read the manylinux_2_x (PEP 600) tags of 2.21.0's wheels "
                                    "(pip ≥ 20.3 can)")


def test_recent_pip_is_not_blamed():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0")), releases())
    assert not verdict.facts["old_pip"]


def test_corrupted_cache_is_a_hash_mismatch_from_the_cache():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0-cache-corrupted")))
    assert verdict.outcome is Outcome.HASH_MISMATCH
    assert verdict.evidence[0].startswith("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.")
    assert verdict.evidence[1].startswith("Using cached https://repromatrix-index:8443/packages/tensorflow-2.21.0-")
    assert verdict.evidence[2].startswith("Expected sha256 ") and verdict.evidence[3].startswith("Got ")


def test_old_pip_reason_ignores_other_platforms_wheels():
    from packaging.version import Version

    from repromatrix.judge.facts import old_pip_reason

    names = ["tensorflow-2.20.0-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
             "tensorflow-2.20.0-cp39-cp39-macosx_12_0_arm64.whl", "tensorflow-2.20.0-cp39-cp39-win_amd64.whl"]
    real = Releases.from_filenames("tensorflow", names)
    assert old_pip_reason("pip 19.2.3 from x", real, Version("2.20.0")) == (
        "pip 19.2.3 cannot read the manylinux2014 tags of 2.20.0's wheels (pip ≥ 19.3 can)")
    assert old_pip_reason("pip 20.2.4 from x", real, Version("2.20.0")) == ""


def test_cut_download_on_old_and_new_pip():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-fresh-flaky")))  # pip 23.0.1
    assert verdict.outcome is Outcome.HASH_MISMATCH
    assert verdict.evidence[-1].startswith("the file was downloaded just now, not taken from pip's cache")
    verdict = classify(observe(record("local-trixie-py3.13-venv-fresh-flaky")))  # pip 25.1.1
    assert verdict.outcome is Outcome.NETWORK_ERROR
    assert verdict.evidence[0] == "× Download failed because not enough bytes were received (1.0 MB/1.6 MB)"


def test_a_cached_hash_mismatch_does_not_blame_the_transfer():
    verdict = classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0-cache-corrupted")))
    assert not any("downloaded just now" in line for line in verdict.evidence)


@pytest.mark.parametrize("module, dist, same", [
    ("2.23.0-dev20261026", "2.23.0.dev20261026", True),  # tf-nightly's __version__ vs its metadata
    ("2.22.0-rc0", "2.22.0rc0", True),
    ("2.21", "2.21.0", True),
    ("2.21.0+cpu", "2.21.0", False),  # a local version is another build
    ("2.15.0", "2.21.0", False),
    ("", "2.21.0", None),
    ("unknown", "2.21.0", None),
])
def test_versions_compare_by_pep_440(module, dist, same):
    from repromatrix.judge.facts import same_version

    assert same_version(module, dist) is same


def test_a_dev_builds_version_spelling_is_not_a_mismatch():
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    rec["import"] |= {"version": "2.21.0-dev20261026", "dist_version": "2.21.0.dev20261026"}
    assert classify(observe(rec)).outcome is Outcome.UPGRADED


@pytest.mark.parametrize("module, dist, mixed", [
    # the real tensorflow 2.15.0.post1 (what pip-compile --upgrade-package took on the public index)
    ("2.15.0", "2.15.0.post1", False),
    ("2.15.0rc1", "2.15.0rc1.post2", False),
    # a post-release of another release is still another tree
    ("2.14.0", "2.15.0.post1", True),
    ("2.15.0.post1", "2.15.0", True),
])
def test_a_post_release_keeps_its_releases_version_and_is_not_a_mixed_tree(module, dist, mixed):
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    rec["import"] |= {"version": module, "dist_version": dist, "names": ["tensorflow"]}
    assert (classify(observe(rec)).outcome is Outcome.IMPORT_ERROR) is mixed


def test_importing_other_files_than_pip_installed_is_an_import_error():
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    rec["import"] |= {"version": "2.15.0", "dist_version": "2.21.0", "names": ["tensorflow"]}
    verdict = classify(observe(rec))
    assert verdict.outcome is Outcome.IMPORT_ERROR
    assert verdict.evidence == ("import tensorflow reports __version__ 2.15.0, but the installed distribution is "
                                "2.21.0: the files imported are not the ones the upgrade installed",)


def test_a_failing_check_after_an_upgrade_is_check_failed():
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    probe = (DATA / "capture" / "keras3-upgrade-probe.txt").read_text()  # the real upgrade's words
    error = next(line for line in probe.splitlines() if line.startswith("ImportError: `keras.optimizers.legacy`"))
    rec["checks"] = [
        {"name": "keras-dense", "identity": "root", "exit_code": 0, "output": "ok\n", "seconds": 1.0},
        {"name": "legacy-optimizer", "identity": "root", "exit_code": 1, "seconds": 1.0,
         "output": "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n"
                   "    raise ImportError(\n" + error + "\n"}]
    verdict = classify(observe(rec))
    assert verdict.outcome is Outcome.CHECK_FAILED
    assert verdict.evidence == (f"check legacy-optimizer as root exited 1: {error}",)


@pytest.mark.parametrize("before_exit, says", [
    (0, "exited 1 after the upgrade; it passed before it (the upgrade broke it): "),
    (1, "exited 1; it failed before the upgrade too (it never worked here): "),
])
def test_a_check_run_before_the_upgrade_says_whether_the_upgrade_broke_it(before_exit, says):
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    failing = {"name": "c", "identity": "root", "exit_code": 1, "output": "ValueError: x\n", "seconds": 0.1}
    rec["checks"] = [failing]
    earlier = "ok\n" if before_exit == 0 else "ValueError: x\n"
    rec["checks_before"] = [dict(failing, exit_code=before_exit, output=earlier)]
    verdict = classify(observe(rec))
    assert verdict.outcome is Outcome.CHECK_FAILED
    assert verdict.evidence == (f"check c as root {says}ValueError: x",)


def test_checks_do_not_blame_an_upgrade_that_did_nothing():
    rec = copy.deepcopy(record("local-bullseye-py3.9-venv-tf2.20.0"))
    rec["checks"] = [{"name": "c", "identity": "root", "exit_code": 1, "output": "Error: x\n", "seconds": 0.1}]
    assert classify(observe(rec)).outcome is Outcome.NOT_UPGRADED


def test_pre_releases_count_only_when_nothing_final_is_left():
    names = ["tensorflow-2.21.0-cp313-cp313-manylinux_2_27_x86_64.whl",
             "tensorflow-2.22.0rc0-cp313-cp313-manylinux_2_27_x86_64.whl",
             "tensorflow-2.22.0rc0-cp314-cp314-manylinux_2_27_x86_64.whl"]
    rel = Releases.from_filenames("tensorflow", names)
    py313, py314 = CellTags("3.13"), CellTags("3.14")
    assert (str(rel.newest()), str(newest_for(rel, py313)), str(newest_for(rel, py314))) == (
        "2.21.0", "2.21.0", "2.22.0rc0")
    pre = rel.only("", pre=True)
    assert (str(pre.newest()), str(newest_for(pre, py313))) == ("2.22.0rc0", "2.22.0rc0")


def test_a_pre_release_taken_because_nothing_final_fits_is_said():
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    rec["python"] = "3.14.8"
    rec["after"] = "2.22.0rc0"
    rec["upgrade"]["output"] = rec["upgrade"]["output"].replace("tensorflow-2.21.0", "tensorflow-2.22.0rc0")
    verdict = classify(observe(rec), releases())
    assert verdict.outcome is Outcome.UPGRADED
    assert verdict.evidence[-1] == ("landed on the pre-release 2.22.0rc0, not asked for: no final release has a "
                                    "wheel for Python 3.14 (the newest final, 2.21.0, has none)")
    assert "prerelease" not in classify(observe(record("local-bookworm-py3.11-venv-tf2.15.0")),
                                        releases()).facts


def test_a_target_whose_marker_does_not_match_is_not_upgraded_not_an_import_error():
    rec = copy.deepcopy(record("local-bookworm-py3.11-venv-tf2.15.0"))
    line = "Ignoring tensorflow: markers 'python_version < \"3.0\"' don't match your environment"  # pip 23.2's words
    rec["upgrade"]["output"] = "Looking in indexes: https://repromatrix-index:8443/simple/\n" + line + "\n"
    rec["after"] = rec["before"]
    verdict = classify(observe(rec))
    assert (verdict.outcome, verdict.evidence) == (Outcome.NOT_UPGRADED, (line,))
    fresh = copy.deepcopy(rec)
    fresh["before"] = fresh["after"] = None
    fresh["import"] = {"ok": False, "version": None, "error": "not installed", "failed": None, "names": []}
    assert classify(observe(fresh)).outcome is Outcome.NOT_UPGRADED


def test_a_full_disk_is_no_space_not_an_unknown_failure():
    # Captured on the real index: the disk filled while pip backtracked from 2.21.0 down to 2.15.1
    # over a constraint, downloading a 475-601 MB wheel per release.
    verdict = classify(observe(record("public-bookworm-py3.11-venv-tf2.15.0-constraints-disk-full")))
    assert verdict.outcome is Outcome.NO_SPACE
    assert verdict.evidence[0] == ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left "
                                   "on device")
    assert any(line.startswith("Downloading tensorflow-") for line in verdict.evidence[1:])


@pytest.mark.parametrize("name, outcome, evidence", [
    ("local-bookworm-py3.11-venv-fresh-small-memory", Outcome.OUT_OF_MEMORY,
     "pip was killed by SIGKILL: the kernel's OOM killer, at the container's memory limit of 32 MiB"),
    ("local-bookworm-py3.11-venv-fresh-stalled", Outcome.READ_TIMEOUT,
     "pip._vendor.urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool(host='repromatrix-index', port=8443): "
     "Read timed out."),
    ("local-trixie-py3.13-venv-fresh-stalled", Outcome.READ_TIMEOUT,
     "WARNING: Connection timed out while downloading."),
    ("local-bookworm-py3.11-venv-fresh-distutils-numpy", Outcome.CANNOT_UNINSTALL,
     "ERROR: Cannot uninstall 'numpy'. It is a distutils installed project and thus we cannot accurately determine "
     "which files belong to it which would lead to only a partial uninstall."),
    ("local-trixie-py3.13-venv-fresh-no-record-numpy", Outcome.CANNOT_UNINSTALL,
     "hint: The package was installed by debian. You should check if it can uninstall the package."),
    ("local-bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu", Outcome.SHARED_DIRECTORY,
     "tensorflow-gpu 2.10.1 also owns 2 files under tensorflow/ beside tensorflow 2.20.0: uninstalling or "
     "upgrading either one deletes files the other needs"),
    ("local-bookworm-py3.11-venv-fresh-protobuf-below-6", Outcome.HELD_BACK,
     "The user requested (constraint) protobuf<6"),
    ("local-bullseye-py3.9-venv-no-pip-fresh", Outcome.WRONG_INTERPRETER,
     "`pip` is /usr/bin/pip, a script of /usr/bin/python3 (prefix /usr); `python3` is /opt/venv/bin/python3 "
     "(prefix /opt/venv): pip installed into another Python"),
])
def test_more_causes_from_real_records(name, outcome, evidence):
    verdict = classify(observe(record(name)), releases())
    assert (verdict.outcome, evidence in verdict.evidence) == (outcome, True), verdict.evidence


def test_a_stall_is_not_a_cut_and_a_cut_is_not_a_stall():
    cut = classify(observe(record("local-trixie-py3.13-venv-fresh-flaky")), releases())
    assert cut.outcome is Outcome.NETWORK_ERROR  # "not enough bytes", with no timeout: the link broke


def test_each_new_success_path_needs_its_own_evidence():
    """Take away what decided each verdict and the cell falls back to what pip's exit alone says."""
    shared = record("local-bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu")
    shared["sharers"] = []
    assert classify(observe(shared), releases()).outcome is Outcome.UPGRADED_INCONSISTENT
    wrong = record("local-bullseye-py3.9-venv-no-pip-fresh")
    wrong["pip_script"]["python3_prefix"] = wrong["pip_script"]["prefix"]  # the same Python: no mismatch
    assert classify(observe(wrong), releases()).outcome is Outcome.IMPORT_ERROR
    held = record("local-bookworm-py3.11-venv-fresh-protobuf-below-6")
    held["held_back"]["exit_code"] = 0  # the dry run would have worked: nothing held it back
    assert classify(observe(held), releases()).outcome is Outcome.UPGRADED
    held["held_back"] = None
    assert classify(observe(held), releases()).outcome is Outcome.UPGRADED


def test_our_own_timeout_is_not_out_of_memory():
    killed = record("local-bookworm-py3.11-venv-fresh-small-memory")
    killed["upgrade"]["timed_out"] = True
    assert classify(observe(killed), releases()).outcome is Outcome.INFRA_ERROR


@pytest.mark.parametrize("output, outcome", [
    # pip 23.0 on the tombstone (setup.py egg_info in the venv), as captured in examples/renamed.yaml
    ("  Downloading https://idx.example/packages/tensorflow-gpu-2.12.0.tar.gz (443 bytes)\n"
     "  error: subprocess-exited-with-error\n\n  × python setup.py egg_info did not run successfully.\n"
     "  │ exit code: 1\n  ╰─> [15 lines of output]\n      Exception:\n"
     '      The "tensorflow-gpu" package has been removed!\n\n      Please install "tensorflow" instead.\n'
     "error: metadata-generation-failed\n", Outcome.REMOVED_PACKAGE),
    ("ERROR: Exception:\nMemoryError\n", Outcome.OUT_OF_MEMORY),
    # an sdist that fails for another reason is not a tombstone
    ("  × python setup.py egg_info did not run successfully.\n      ModuleNotFoundError: No module named 'Cython'\n"
     "error: metadata-generation-failed\n", Outcome.UNKNOWN_FAILURE),
])
def test_failures_by_their_words(output, outcome):
    base = record("local-bookworm-py3.11-venv-fresh-distutils-numpy")
    base["upgrade"]["output"] = output
    assert classify(observe(base), releases()).outcome is outcome


def test_a_namespace_both_libraries_ship_is_not_a_shared_directory():
    shared = record("local-bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu")
    shared["sharers"] = [{"name": "googleapis-common-protos", "version": "1.63.0", "dirs": ["google"], "files": 1}]
    assert classify(observe(shared), releases()).outcome is Outcome.UPGRADED_INCONSISTENT


def test_no_wheel_for_the_interpreters_platform_is_unsupported_platform_and_an_old_pip_is_not():
    def failing(platforms: list[str], libc: str = "glibc 2.36") -> dict:
        base = record("local-bookworm-py3.11-venv-fresh-pip20.2.4")
        base["runtime"] = {"tags": {"platforms": platforms}, "glibc": libc}  # its capture predates them
        return base
    i686 = classify(observe(failing(["manylinux_2_36_i686", "manylinux2014_i686", "linux_i686"])),
                    releases())
    assert i686.outcome is Outcome.UNSUPPORTED_PLATFORM
    assert i686.evidence[0] == ("no release of tensorflow has a wheel for this interpreter's platform (glibc i686); "
                                "the index's wheels are for glibc x86_64")
    musl = classify(observe(failing(["musllinux_1_2_x86_64", "linux_x86_64"], libc=" ")), releases())
    assert musl.outcome is Outcome.UNSUPPORTED_PLATFORM  # its linux_x86_64 is a musl one
    # pip 20.2.4 reads no manylinux tag on 3.11 but the architecture is right: an old pip, not the platform
    old = classify(observe(failing(["linux_x86_64"])), releases())
    assert old.outcome is Outcome.NO_MATCHING_DISTRIBUTION


def test_backtracking_killed_by_the_time_limit_is_its_own_outcome():
    cut = record("local-bookworm-py3.11-venv-fresh-time-limit")
    verdict = classify(observe(cut), releases())
    assert verdict.outcome is Outcome.RESOLVER_BACKTRACKING
    assert verdict.evidence[0] == "pip was still backtracking when it was killed after 20 s"
    assert any(e.startswith("INFO: This is taking longer than usual.") for e in verdict.evidence)
    # killed without a word from the resolver: our timeout, not backtracking
    cut["upgrade"]["output"] = "Collecting tf-models-official\n"
    assert classify(observe(cut), releases()).outcome is Outcome.INFRA_ERROR


def test_a_real_32_bit_cell_is_unsupported_platform():
    names = [f"tensorflow-{r.version}-{tag}.whl" for r in TENSORFLOW for tag in wheel_tags(r, "x86_64")]
    verdict = classify(observe(record("local-i386-debian-bookworm-py3.11-venv-fresh")),
                       Releases.from_filenames("tensorflow", names))
    assert verdict.outcome is Outcome.UNSUPPORTED_PLATFORM
    assert verdict.evidence[0].startswith("no release of tensorflow has a wheel for this interpreter's platform "
                                          "(glibc i686)")


def test_held_back_only_within_the_targets_own_range():
    """A target of '>=2.16,<2.18' that lands on 2.17 is not held back because 2.21.0 would not install."""
    held = record("local-bookworm-py3.11-venv-fresh-protobuf-below-6")
    assert classify(observe(held), releases()).outcome is Outcome.HELD_BACK
    narrow = releases().only(">=2.16,<2.18")
    assert classify(observe(held), narrow).outcome is not Outcome.HELD_BACK


def test_a_tombstone_is_quoted_whole():
    base = record("local-bookworm-py3.11-venv-fresh-distutils-numpy")
    base["upgrade"]["output"] = ('  × Getting requirements to build wheel did not run successfully.\n'
                                 '      The "tensorflow-gpu" package has been removed!\n\n'
                                 '      Please install "tensorflow" instead.\n')
    verdict = classify(observe(base), releases())
    assert verdict.outcome is Outcome.REMOVED_PACKAGE
    assert verdict.evidence[0] == 'Please install "tensorflow" instead.'
    assert {'The "tensorflow-gpu" package has been removed!',
            "× Getting requirements to build wheel did not run successfully."} <= set(verdict.evidence)


def test_a_target_the_index_lacks_is_no_such_project_not_no_matching_distribution():
    """Captured from a real cell whose target was misspelt (tensorflw): pip's words are the same as
    for a release with no wheel here; the index's 404 for the project's page says which it is."""
    name = "local-tensorflw-bookworm-py3.11-venv-fresh"
    missing = Releases("tensorflw", missing=True)
    verdict = classify(observe(record(name)), missing)
    assert verdict.outcome is Outcome.NO_SUCH_PROJECT
    assert verdict.evidence[0].startswith("the index has no project named tensorflw: its page answers 404")
    assert "ERROR: Could not find a version that satisfies the requirement tensorflw (from versions: none)" \
        in verdict.evidence
    assert classify(observe(record(name)), None).outcome is Outcome.NO_MATCHING_DISTRIBUTION  # no 404 seen
    assert missing.only("").missing and missing.uploaded_before(__import__("datetime").datetime.now()).missing
