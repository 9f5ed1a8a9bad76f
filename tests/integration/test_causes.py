"""examples/causes.yaml on real containers: each field cause, its outcome and pip's words."""

from __future__ import annotations

import pytest


def test_every_cause_is_reproduced_as_expected(causes_run):
    mismatches = {i: (c["outcome"], c["expected"], c["evidence"]) for i, c in causes_run.cells.items()
                  if c["unexpected"]}
    assert not mismatches


@pytest.mark.parametrize("cell_id, outcome, evidence", [
    # install: system-user / user-flag on pip 20.3 land in the user's site-packages only.
    ("bullseye-py3.9-system-user-tf2.15.0", "split-install", "user imports tensorflow 2.20.0; root imports 2.15.0"),
    ("bullseye-py3.9-user-flag-tf2.15.0", "split-install", "user imports tensorflow 2.20.0; root imports 2.15.0"),
    # PEP 668 blocks a non-root user, --user or not.
    ("bookworm-py3.11-system-user-tf2.15.0", "externally-managed", "error: externally-managed-environment"),
    ("bookworm-py3.11-user-flag-tf2.15.0", "externally-managed", "error: externally-managed-environment"),
    # A user's own venv works.
    ("bookworm-py3.11-user-venv-tf2.15.0", "upgraded",
     "Successfully installed keras-3.15.1 protobuf-6.33.1 tensorflow-2.21.0"),
    # A venv created by root, upgraded by a user: permission denied (pip 20.3 and 23.0 wordings).
    ("bullseye-py3.9-root-venv-user-tf2.15.0", "permission-denied",
     "ERROR: Could not install packages due to an EnvironmentError: [Errno 13] Permission denied: '__init__.py'"),
    ("bookworm-py3.11-root-venv-user-tf2.15.0", "permission-denied",
     "ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '__init__.py'"),
    # network: every failure below ends in "No matching distribution"; the verdict is the cause.
    ("bookworm-py3.11-venv-fresh-proxy", "upgraded", "Successfully installed keras-3.15.1 numpy-2.3.5 protobuf-6.33.1 "
     "tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-proxy-auth", "proxy-auth-required", "ERROR: No matching distribution found for "
     "tensorflow"),
    ("bookworm-py3.11-venv-fresh-proxy-auth-secret", "upgraded", "Successfully installed keras-3.15.1 numpy-2.3.5 "
     "protobuf-6.33.1 tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-fresh-proxy-down", "proxy-error", "ERROR: No matching distribution found for tensorflow"),
    ("bullseye-py3.9-venv-fresh-proxy-down", "proxy-error", "ERROR: No matching distribution found for tensorflow"),
    ("bookworm-py3.11-venv-fresh-no-route", "network-error", "ERROR: No matching distribution found for tensorflow"),
    # ca none: the index's CA (the run's, standing in for a corporate CA) is not trusted.
    ("bookworm-py3.11-venv-fresh-ca-none", "ssl-error", "ERROR: No matching distribution found for tensorflow"),
    ("bullseye-py3.9-venv-fresh-ca-none", "ssl-error", "ERROR: No matching distribution found for tensorflow"),
    # TLS interception: mitmproxy re-signs the index's certificate with its own CA.
    ("bookworm-py3.11-venv-fresh-tls-intercept", "ssl-error", "ERROR: No matching distribution found for tensorflow"),
    ("bookworm-py3.11-venv-fresh-tls-intercept-trusted", "upgraded", "Successfully installed keras-3.15.1 numpy-2.3.5 "
     "protobuf-6.33.1 tensorflow-2.21.0"),
    # A flaky network: the fault injector cuts the wheel download midway.
    ("bookworm-py3.11-venv-fresh-flaky", "hash-mismatch", "the file was downloaded just now, not taken from pip's "
     "cache: the transfer was cut short or altered on the way"),
    # how much of the wheel arrives depends on what went over the connection before it (the
    # index's pages and metadata files count against the cut's 1 MiB), not on pip
    ("trixie-py3.13-venv-fresh-flaky", "network-error",
     "× Download failed because not enough bytes were received ("),
    # conflicts
    ("bookworm-py3.11-venv-tf2.15.0-protobuf-cap", "upgraded-inconsistent", "googleapis-common-protos 1.63.0 requires "
     "protobuf!=3.20.0,!=3.20.1,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0.dev0,>=3.19.5, but you have "
     "protobuf 6.33.1 which is incompatible."),
    ("bookworm-py3.11-venv-tf2.15.0-numpy-cap", "upgraded",
     "Successfully installed keras-3.15.1 protobuf-6.33.1 tensorflow-2.21.0"),
    ("bookworm-py3.11-venv-tf2.15.0-constraints", "resolution-impossible",
     "The user requested (constraint) protobuf==3.19.6"),
    # old pip
    ("bullseye-py3.9-venv-fresh-pip19.2.3", "import-error", "import tensorflow failed: ImportError: A module that "
     "was compiled using NumPy 1.x cannot be run in NumPy 2.0.2 as it may crash. To support both 1.x and 2.x "
     "versions of NumPy, modules must be compiled with NumPy 2.0."),
    ("bullseye-py3.9-venv-tf2.15.0-pip19.2.3", "not-upgraded",
     "pip 19.2.3 cannot read the manylinux2014 tags of 2.20.0's wheels (pip ≥ 19.3 can)"),
    ("bookworm-py3.11-venv-fresh-pip20.2.4", "no-matching-distribution",
     "ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)"),
    # a corrupted cache (pip 20.3, 23.0 and 25.1), from an index that sends no cache headers
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted", "hash-mismatch", "ERROR: THESE PACKAGES DO NOT MATCH THE "
     "HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. "
     "Otherwise, examine the package contents carefully; someone may have tampered with them."),
    ("trixie-py3.13-venv-fresh-cache-corrupted", "hash-mismatch", "Using cached https://repromatrix-index:8443/"
     "packages/tensorflow-2.21.0-cp313-cp313-manylinux_2_27_x86_64.whl (1.6 MB)"),
    ("bullseye-py3.9-venv-fresh-cache-corrupted", "hash-mismatch", "Using cached https://repromatrix-index:8443/"
     "packages/tensorflow-2.20.0-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (2.0 kB)"),
    # a /tmp smaller than the wheel
    ("bookworm-py3.11-venv-fresh-small-tmp", "no-space", "[Errno 28] No space left on device"),
    # 32 MiB: the kernel kills pip (the record holds the container's cgroup limit)
    ("bookworm-py3.11-venv-fresh-small-memory", "out-of-memory",
     "the kernel's OOM killer, at the container's memory limit of 32 MiB"),
    # a link that stalls: pip 23.0 raises after its 15 s read timeout; pip 25.1 says so and gives up
    ("bookworm-py3.11-venv-fresh-stalled", "read-timeout", "pip._vendor.urllib3.exceptions.ReadTimeoutError: "
     "HTTPSConnectionPool(host='repromatrix-index', port=8443): Read timed out."),
    ("trixie-py3.13-venv-fresh-stalled", "read-timeout", "WARNING: Connection timed out while downloading."),
    # a dependency pip cannot uninstall (pip 23.0's and pip 25.1's words)
    ("bookworm-py3.11-venv-fresh-distutils-numpy", "cannot-uninstall", "ERROR: Cannot uninstall 'numpy'. It is a "
     "distutils installed project and thus we cannot accurately determine which files belong to it which would "
     "lead to only a partial uninstall."),
    ("trixie-py3.13-venv-fresh-no-record-numpy", "cannot-uninstall",
     "hint: The package was installed by debian. You should check if it can uninstall the package."),
    # two distributions in one package directory
    ("bullseye-py3.9-venv-tf2.15.0-tensorflow-gpu", "shared-directory", "tensorflow-gpu 2.10.1 also owns 2 files "
     "under tensorflow/ beside tensorflow 2.20.0: uninstalling or upgrading either one deletes files the other needs"),
    # silently older, and pip's own dry run says which requirement forced it
    ("bookworm-py3.11-venv-fresh-protobuf-below-6", "held-back", "The user requested (constraint) protobuf<6"),
    ("bookworm-py3.11-venv-fresh-protobuf-below-6", "held-back", "tensorflow 2.21.0 depends on protobuf<8.0.0 and "
     ">=6.31.1"),
    # `pip` is the system's, `python3` the venv's
    ("bullseye-py3.9-venv-no-pip-fresh", "wrong-interpreter", "`pip` is /usr/bin/pip, a script of /usr/bin/python3 "
     "(prefix /usr); `python3` is /opt/venv/bin/python3 (prefix /opt/venv): pip installed into another Python"),
])
def test_cause(causes_run, cell_id, outcome, evidence):
    cell = causes_run.cells[cell_id]
    assert (cell["outcome"], any(evidence in line for line in cell["evidence"])) == (outcome, True), cell["evidence"]


@pytest.mark.parametrize("cell_id, deciding", [
    ("bookworm-py3.11-venv-fresh-proxy-auth", "Tunnel connection failed: 407 Proxy Authentication Required"),
    ("bookworm-py3.11-venv-fresh-proxy-down", "ProxyError('Cannot connect to proxy.'"),
    ("bookworm-py3.11-venv-fresh-proxy-down", "[Errno 111] Connection refused"),
    ("bookworm-py3.11-venv-fresh-no-route", "Failed to establish a new connection"),
    ("bookworm-py3.11-venv-fresh-ca-none", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
])
def test_network_evidence_names_the_cause(causes_run, cell_id, deciding):
    assert deciding in causes_run.cells[cell_id]["evidence"][0]


def test_traffic_provably_went_through_the_proxy(causes_run):
    log = (causes_run.dir / "proxy-access.log").read_text()
    tunnels = [ln for ln in log.splitlines() if "TCP_TUNNEL/200 " in ln and "CONNECT repromatrix-index:8443" in ln]
    denied = [ln for ln in log.splitlines() if "TCP_DENIED/407 " in ln]
    assert len(tunnels) >= 2  # proxy and proxy-auth-secret (one tunnel each, or more)
    assert len(denied) >= 1  # proxy-auth, once per retry
    # The cells behind the proxy had no other way out: the direct ones never show up there.
    assert all("repromatrix-index" in ln for ln in log.splitlines())


def test_tls_interception_is_real(causes_run):
    cell = causes_run.cells["bookworm-py3.11-venv-fresh-tls-intercept"]
    assert "[SSL: CERTIFICATE_VERIFY_FAILED]" in cell["evidence"][0]
    log = (causes_run.dir / "interceptor.log").read_text()
    assert "The client does not trust the proxy's certificate for repromatrix-index" in log
    assert "GET https://repromatrix-index:8443/packages/tensorflow-2.21" in log  # the trusting cell's download


def test_flaky_network_cuts_downloads_midway(causes_run):
    log = (causes_run.dir / "faults.log").read_text()
    assert "repromatrix-index:8443: 1048576 bytes to the client, then cut" in log
    for cell_id in ("bookworm-py3.11-venv-fresh-flaky", "trixie-py3.13-venv-fresh-flaky"):
        output = causes_run.log(cell_id)
        assert "Downloading https://repromatrix-index:8443/packages/tensorflow-2.21.0-" in output


def test_proxy_credentials_are_never_written(causes_run):
    import re

    # Any user:password in a URL, except the placeholder remedies show: http://<user>:<password>@...
    credentials = re.compile(r"://(?!<user>:<password>@)[^/\s:@]+:[^/\s@]+@")
    for path in causes_run.dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace").replace("\\u003c", "<").replace("\\u003e", ">")  # JSON in HTML
            assert not credentials.search(text), path
    dockerfile = (causes_run.dir / "cells/bookworm-py3.11-venv-fresh-proxy-auth-secret/Dockerfile").read_text()
    assert "ENV REPROMATRIX_PROXY_SECRET=/run/secrets/repromatrix-proxy-url" in dockerfile
    assert "HTTPS_PROXY=http://repromatrix-proxy:3129" in dockerfile


def test_old_pip_falls_back_to_the_last_manylinux2010_release(causes_run):
    cell = causes_run.cells["bullseye-py3.9-venv-fresh-pip19.2.3"]
    assert (cell["after"], cell["pip"].split()[1]) == ("2.8.4", "19.2.3")
    assert cell["below_newest"] == ("landed on 2.8.4, below the newest release 2.21.0: no 2.21.0 wheel for Python "
                                    "3.9; pip 19.2.3 cannot read the manylinux2014 tags of 2.20.0's wheels "
                                    "(pip ≥ 19.3 can)")


def test_split_install_keeps_root_on_the_old_version(causes_run):
    cell = causes_run.cells["bullseye-py3.9-system-user-tf2.15.0"]
    assert (cell["before"], cell["after"]) == ("2.15.0", "2.20.0")  # as the user who upgraded sees it
    assert "== repromatrix: as root: tensorflow 2.15.0, import tensorflow ok" in causes_run.log(cell["id"])


@pytest.mark.parametrize("cell_id, cache_dir", [
    ("bullseye-py3.9-venv-fresh-cache-corrupted", "/root/.cache/pip/http"),  # pip 20.3, found by download
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted", "/root/.cache/pip/http"),  # pip 23.0, --dry-run --report
    ("trixie-py3.13-venv-fresh-cache-corrupted", "/root/.cache/pip/http-v2"),  # pip 25.1
])
def test_the_damaged_cache_entry_is_made_with_pips_own_code(causes_run, cell_id, cache_dir):
    # The local index sends no cache headers (as proxies that strip them): pip alone would cache
    # nothing, so the entry pip reads back ("Using cached") is the one the scenario made.
    log = causes_run.log(cell_id)
    assert f"with pip's own cache code and damaged 1 cached wheel(s) under {cache_dir}" in log


def test_a_stalled_link_stalls_rather_than_cuts(causes_run):
    """The fault injector's log says the tunnel was held open, not closed, for the stalled cells."""
    faults = (causes_run.dir / "faults.log").read_text()
    assert "then stalled until the client closed" in faults and ", then cut" in faults


@pytest.mark.parametrize("cell_id, outcome, evidence", [
    # pip 23.0 runs setup.py egg_info itself (the venv has setuptools); 25.1 on Python 3.13 builds it in
    # isolation, with setuptools from the local index; both fail quoting the tombstone.
    ("bookworm-py3.11-venv-fresh", "removed-package", "error: metadata-generation-failed"),
    ("trixie-py3.13-venv-fresh", "removed-package", 'The "tensorflow-gpu" package has been removed!'),
    # pip 20.3 discards it and falls back to 2.10.1, which NumPy 2 breaks; the evidence says why it fell back.
    ("bullseye-py3.9-venv-fresh", "import-error", 'Please install "tensorflow" instead.'),
    ("bullseye-py3.9-venv-tensorflow-gpu2.10.1", "import-error",
     "WARNING: Discarding https://repromatrix-index:8443/packages/tensorflow-gpu-2.12.0.tar.gz"),
])
def test_a_tombstoned_name_is_named_not_taken_for_no_matching_distribution(renamed_run, cell_id, outcome, evidence):
    cell = renamed_run.cells[cell_id]
    assert (cell["outcome"], any(evidence in line for line in cell["evidence"])) == (outcome, True), cell["evidence"]


@pytest.mark.parametrize("cell_id, remedy, fix", [
    ("bookworm-py3.11-venv-fresh", "use-replacement", "works"),
    ("trixie-py3.13-venv-fresh", "upgrade-pip", "fails"),  # the newest pip fails on the tombstone too
    ("bullseye-py3.9-venv-fresh", "use-replacement", "works"),
    # with 2.10.1 installed, tensorflow lands in the same directory: uninstall the old name first
    ("bullseye-py3.9-venv-tensorflow-gpu2.10.1", "use-replacement", "works-with-side-effects"),
    ("bullseye-py3.9-venv-tensorflow-gpu2.10.1", "replace-package", "works"),
])
def test_the_replacement_is_what_fixes_a_tombstoned_name(renamed_run, cell_id, remedy, fix):
    tried = {a["remedy"]: a for a in renamed_run.cells[cell_id]["attempts"]}
    assert tried[remedy]["fix"] == fix, tried[remedy]["evidence"]
    assert renamed_run.cells[cell_id]["fix"] == ("replace-package" if "2.10.1" in cell_id else "use-replacement")


def test_a_name_built_only_for_another_system_resolves_to_a_placeholder_and_is_named_one(placeholder_run):
    cell = placeholder_run.cells["bookworm-py3.11-venv-fresh"]
    assert (cell["outcome"], cell["after"], cell["newest"]) == ("import-error", "0.0.1", "2.18.0"), cell["evidence"]
    assert cell["evidence"][0] == ("tensorflow-intel 0.0.1 installs no importable module: a placeholder release, not "
                                   "the package itself; it pulled in build 1.2.2.post1, pyinstaller 6.11.1, "
                                   "twine 6.0.1")
    assert cell["evidence"][1] == ("0.0.1 is a pure-Python wheel, while 2.18.0 is built only for win_amd64: on this "
                                   "system the name resolves to what may be a placeholder release, not the package "
                                   "itself")
    assert "import tensorflow-intel failed: its metadata names no importable top-level module" in cell["evidence"]
    added = {c["name"].lower() for c in cell["changed"] if c["change"] == "added"}
    assert {"pyinstaller", "twine", "build", "tensorflow-intel"} <= added


def test_a_resolver_that_backtracks_past_the_time_limit_is_not_a_conflict(backtracking_run):
    cell = backtracking_run.cells["bookworm-py3.11-venv-fresh-time-limit"]
    assert cell["outcome"] == "resolver-backtracking", cell["evidence"]
    assert cell["evidence"][0] == "pip was still backtracking when it was killed after 20 s"
    assert any(line.startswith("INFO: This is taking longer than usual.") for line in cell["evidence"])
    tried = {a["remedy"]: a for a in cell["attempts"]}
    # More time lets pip finish, on a release years old: pip's dry run of the newest says why.
    assert (tried["more-time"]["fix"], tried["more-time"]["outcome"]) == ("fails", "held-back")
    assert tried["more-time"]["after"] == "2.5.19"
    assert "ERROR: No matching distribution found for tensorflow>=2.24" in tried["more-time"]["evidence"]
    # Asking for the newest by name fails at once, and says why, instead of backtracking.
    assert tried["newest-for-python"]["outcome"] == "no-matching-distribution"
