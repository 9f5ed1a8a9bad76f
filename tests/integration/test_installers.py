"""pip, uv and pip-tools side by side on real containers (examples/installers.yaml, against the local index):
each uv cell's outcome and a line of uv's own output that decided it, and the fixes uv users
reach for, tried for real."""

from __future__ import annotations

import pytest

UV_CELLS = [
    # uv in a venv upgrading from 2.15.0: what it installed, in its words
    ("bookworm-py3.11-venv-tf2.15.0-uv", "upgraded", "+ tensorflow==2.21.0"),
    # uv --system on Debian's python3
    ("bookworm-py3.11-system-fresh-uv", "externally-managed",
     "hint: Virtual environments were not considered due to the `--system` flag"),
    # the CA only in pip's configuration: uv never reads it
    ("bookworm-py3.11-venv-fresh-ca-pip-config-uv", "ssl-error", "cause: invalid peer certificate: UnknownIssuer"),
    ("bookworm-py3.11-venv-fresh-ca-none-uv", "ssl-error", "cause: invalid peer certificate: UnknownIssuer"),
    # the CA in the OS's store: uv trusts its own roots, and its hint names the way
    ("bookworm-py3.11-venv-fresh-ca-system-store-uv", "ssl-error",
     "hint: Consider enabling use of system TLS certificates with the `--system-certs` command-line flag"),
    # the proxy that needs credentials, and the one that is down
    ("bookworm-py3.11-venv-fresh-proxy-auth-uv", "proxy-auth-required",
     "cause: tunnel error: proxy authorization required"),
    ("bookworm-py3.11-venv-fresh-proxy-down-uv", "proxy-error",
     "cause: tunnel error: failed to create underlying connection"),
    # a stale constraint: uv's resolver, which names the tags it found
    ("bookworm-py3.11-venv-tf2.15.0-constraints-uv", "no-matching-distribution",
     "hint: You require CPython 3.11 (`cp311`), but we only found wheels for `tensorflow`"),
    # constraints no release satisfies: uv's own resolution failure
    ("bookworm-py3.11-venv-tf2.15.0-site-pins-uv", "resolution-impossible",
     "error: No solution found when resolving dependencies"),
    # uv, like pip, leaves what the other installed libraries need broken, and its check says so
    ("bookworm-py3.11-venv-tf2.15.0-protobuf-cap-uv", "upgraded-inconsistent",
     "The package `googleapis-common-protos` requires `protobuf"),
    ("bookworm-py3.11-root-venv-user-tf2.15.0-uv", "permission-denied",
     "error: failed to remove file `/opt/venv/lib/python3.11/site-packages/tensorflow-2.15.0.dist-info/INSTALLER`: "
     "Permission denied (os error 13)"),
    # where pip fails: uv keeps its downloads out of a small /tmp, and retries a cut download
    ("bookworm-py3.11-venv-fresh-small-tmp-uv", "upgraded", "+ tensorflow==2.21.0"),
    ("bookworm-py3.11-venv-fresh-flaky-uv", "upgraded", "+ tensorflow==2.21.0"),
    ("bullseye-py3.9-venv-fresh-uv", "upgraded",
     "landed on 2.20.0, below the newest release 2.21.0: no 2.21.0 wheel for Python 3.9; the newest for it is 2.20.0"),
    ("bookworm-py3.11-user-flag-tf2.15.0-uv", "user-unsupported",
     "error: pip's `--user` is unsupported (use a virtual environment instead)"),
    # a user and Debian's python3: uv needs --system, and meets PEP 668; a user's own venv upgrades
    ("bookworm-py3.11-system-user-tf2.15.0-uv", "externally-managed",
     "hint: Virtual environments were not considered due to the `--system` flag"),
    ("bookworm-py3.11-user-venv-tf2.15.0-uv", "upgraded", "+ tensorflow==2.21.0"),
    # uv's cache damaged: it installs the unpacked copy again unchecked; the RECORD says what differs
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted-uv", "damaged-install",
     "tensorflow/__init__.py differs from the sha256 in tensorflow 2.21.0's RECORD"),
]


UV_ADD_CELLS = [
    # a uv project locked at 2.15.0: `uv add --upgrade-package` moves what the new version needs
    ("bookworm-py3.11-venv-tf2.15.0-uv-add", "upgraded", "+ tensorflow==2.21.0"),
    ("bookworm-py3.11-user-venv-tf2.15.0-uv-add", "upgraded", "+ tensorflow==2.21.0"),
    # the library that caps protobuf is one of the project's dependencies: the lock holds TF back
    ("bookworm-py3.11-venv-tf2.15.0-protobuf-cap-uv-add", "upgraded",
     "landed on 2.19.0, below the newest release 2.21.0: 2.21.0 exists for it, but uv did not take it"),
    # uv's universal resolution fails in a fork of its own
    ("bookworm-py3.11-venv-tf2.15.0-constraints-uv-add", "resolution-impossible",
     "cause: No solution found when resolving dependencies for split"),
    # root made the project: a user's uv add cannot write its lock
    ("bookworm-py3.11-root-venv-user-tf2.15.0-uv-add", "permission-denied",
     'error: Permission denied (os error 13) at path "/opt/app/'),
]


PIP_TOOLS_CELLS = [
    # compiled at 2.15.0: `pip-compile --upgrade-package` re-resolves TensorFlow only, and the pins
    # of its dependencies keep it there; pip-compile prints the pin, pip-sync that nothing moved
    ("bookworm-py3.11-venv-tf2.15.0-pip-tools", "not-upgraded", "tensorflow==2.15.0"),
    # pip underneath: the CA in pip's configuration is pip-tools' too (uv's cell fails)
    ("bookworm-py3.11-venv-fresh-ca-pip-config-pip-tools", "upgraded", "Successfully installed"),
    ("bookworm-py3.11-venv-tf2.15.0-constraints-pip-tools", "not-upgraded", "Everything up-to-date"),
    # root compiled the project: click's words for the file pip-compile cannot write
    ("bookworm-py3.11-root-venv-user-tf2.15.0-pip-tools", "permission-denied",
     "Error: Could not open file '/opt/app/requirements.txt': Permission denied"),
]


@pytest.mark.parametrize("cell_id, outcome, evidence", PIP_TOOLS_CELLS)
def test_pip_tools_cells_compile_then_sync(installers_run, cell_id, outcome, evidence):
    cell = installers_run.cells[cell_id]
    assert cell["outcome"] == outcome, cell["evidence"]
    assert any(line.startswith(evidence) for line in cell["evidence"]), cell["evidence"]
    assert cell["pip"].startswith("pip-compile, version 7."), cell["pip"]
    # the project beside /opt/venv, whoever made it
    assert cell["upgrade_command"] == (
        "pip-compile --upgrade-package tensorflow --output-file /opt/app/requirements.txt "
        "/opt/app/requirements.in && pip-sync /opt/app/requirements.txt")


def test_recompiling_every_pin_upgrades_what_the_pins_held(installers_run):
    cell = installers_run.cells["bookworm-py3.11-venv-tf2.15.0-pip-tools"]
    assert cell["fix"] == "upgrade-all", [(a["remedy"], a["outcome"]) for a in cell["attempts"]]
    attempt = next(a for a in cell["attempts"] if a["remedy"] == "upgrade-all")
    # the option goes to pip-compile, and each command is its own line to type
    assert attempt["commands"][-2:] == [
        "pip-compile --upgrade-package tensorflow --output-file /opt/app/requirements.txt "
        "/opt/app/requirements.in --upgrade", "pip-sync /opt/app/requirements.txt"], attempt["commands"]
    assert any(line.startswith("Successfully installed keras-3") for line in attempt["evidence"])


def test_pip_sync_honours_the_constraint_pip_compile_ignored(installers_run):
    cell = installers_run.cells["bookworm-py3.11-venv-tf2.15.0-constraints-pip-tools"]
    attempt = next(a for a in cell["attempts"] if a["remedy"] == "upgrade-all")
    # pip-compile chose the newest TensorFlow; the constrained pip that pip-sync runs refuses its pins
    assert attempt["outcome"] == "resolution-impossible", attempt["evidence"]
    assert any(line.startswith("ERROR: Cannot install") for line in attempt["evidence"]), attempt["evidence"]


@pytest.mark.parametrize("cell_id, outcome, evidence", UV_ADD_CELLS)
def test_uv_project_cells_in_uvs_own_words(installers_run, cell_id, outcome, evidence):
    cell = installers_run.cells[cell_id]
    assert cell["outcome"] == outcome, cell["evidence"]
    assert any(line.startswith(evidence) for line in cell["evidence"]), cell["evidence"]
    assert cell["upgrade_command"].startswith("uv add --active --project "), cell["upgrade_command"]
    assert cell["upgrade_command"].endswith(" --upgrade-package tensorflow tensorflow")


def test_the_same_environment_three_ways_pip_uv_and_a_uv_project(installers_run):
    cells = {suffix: installers_run.cells[f"bookworm-py3.11-venv-tf2.15.0-h5py{suffix}"]
             for suffix in ("", "-uv", "-uv-add")}
    numpy = {s: {d["name"]: d["after"] for d in c["changed"]}.get("numpy") for s, c in cells.items()}
    # uv pip's --upgrade takes the newest NumPy and h5py breaks; pip and the project's lock keep NumPy 1
    assert {s: c["outcome"] for s, c in cells.items()} == {
        "": "upgraded", "-uv": "upgraded-inconsistent", "-uv-add": "upgraded"}
    assert numpy == {"": None, "-uv": "2.3.5", "-uv-add": None}
    assert all(c["after"] == "2.21.0" for c in cells.values())
    # each checked with its own installer's check, and results.json says which ran
    checks = {s: c["pip_check"]["command"] for s, c in cells.items()}
    assert checks["-uv"] == checks["-uv-add"] == "uv pip check --python python3"
    assert checks[""].endswith("-m pip check"), checks


@pytest.mark.parametrize("cell_id, outcome, evidence", UV_CELLS)
def test_uv_cells_in_uvs_own_words(installers_run, cell_id, outcome, evidence):
    cell = installers_run.cells[cell_id]
    assert cell["outcome"] == outcome, cell["evidence"]
    assert any(line.startswith(evidence) for line in cell["evidence"]), cell["evidence"]
    assert cell["pip"].startswith("uv 0.") and "uv pip install" in cell["upgrade_command"]


def test_pip_and_uv_differ_where_the_ca_is_only_pips(installers_run):
    assert installers_run.cells["bookworm-py3.11-venv-fresh-ca-pip-config"]["outcome"] == "upgraded"
    # Debian's pip reads the OS's store: the CA there and in no variable is enough for it
    assert installers_run.cells["bookworm-py3.11-venv-fresh-ca-system-store"]["outcome"] == "upgraded"
    assert installers_run.cells["bookworm-py3.11-venv-tf2.15.0"]["outcome"] == "upgraded"
    pips = installers_run.cells["bookworm-py3.11-venv-tf2.15.0-constraints"]
    assert pips["outcome"] == "resolution-impossible"  # pip's words for what uv calls no wheel


def test_the_same_reporters_environment_parts_pip_and_uv(installers_run):
    pips, uvs = (installers_run.cells[f"bookworm-py3.11-venv-tf2.15.0-h5py{s}"] for s in ("", "-uv"))
    numpy = {c["id"]: {d["name"]: d["after"] for d in c["changed"]}.get("numpy") for c in (pips, uvs)}
    # pip upgrades only what TensorFlow 2.21 needs (numpy 1.26.4 will do); uv takes the newest
    assert (pips["outcome"], numpy[pips["id"]]) == ("upgraded", None)
    assert (uvs["outcome"], numpy[uvs["id"]]) == ("upgraded-inconsistent", "2.3.5")
    assert uvs["evidence"][0].startswith("h5py 3.10.0: import h5py no longer imports after the upgrade (it did "
                                         "before); it requires numpy 1.26.4 → 2.3.5")
    summary = (installers_run.dir / "summary.md").read_text()
    differ = summary.split("### Where the installers disagree", 1)[-1]
    assert "h5py" in differ, summary[-3000:]


@pytest.mark.parametrize("cell_id, fix, command", [
    ("bookworm-py3.11-system-fresh-uv", "venv", "uv venv /root/fix-venv"),
    ("bookworm-py3.11-venv-fresh-ca-pip-config-uv", "trust-ca", "SSL_CERT_FILE=/opt/repromatrix/remedy-ca.pem uv pip"),
    ("bookworm-py3.11-venv-fresh-proxy-auth-uv", "proxy-credentials", "HTTP_PROXY="),
    ("bookworm-py3.11-venv-tf2.15.0-constraints-uv", "drop-constraint", "unset UV_CONSTRAINT"),
    ("bookworm-py3.11-venv-tf2.15.0-site-pins-uv", "drop-constraint", "unset UV_CONSTRAINT"),
    ("bookworm-py3.11-venv-tf2.15.0-constraints-uv-add", "drop-constraint", "unset UV_CONSTRAINT"),
    ("bookworm-py3.11-root-venv-user-tf2.15.0-uv-add", "as-root", "sudo uv add --active --project /opt/app"),
    ("bookworm-py3.11-venv-fresh-ca-system-store-uv", "system-certs", "uv pip install --system-certs --upgrade"),
    # Without --user on Debian's python3, uv meets PEP 668: its own venv is the fix
    ("bookworm-py3.11-user-flag-tf2.15.0-uv", "venv", "uv venv /home/user/fix-venv"),
    ("bookworm-py3.11-system-user-tf2.15.0-uv", "venv", "uv venv /home/user/fix-venv"),
    ("bookworm-py3.11-venv-tf2.15.0-cache-corrupted-uv", "purge-cache", "uv cache clean"),
])
def test_uvs_own_fixes_are_tried_for_real(installers_run, cell_id, fix, command):
    cell = installers_run.cells[cell_id]
    assert cell["fix"] == fix, [(a["remedy"], a["fix"]) for a in cell["attempts"]]
    attempt = next(a for a in cell["attempts"] if a["remedy"] == fix)
    assert any(command in line for line in attempt["commands"]), attempt["commands"]


def test_past_pep_668_a_user_still_cannot_write_debians_python3_with_uv(installers_run):
    cell = installers_run.cells["bookworm-py3.11-system-user-tf2.15.0-uv"]
    attempt = next(a for a in cell["attempts"] if a["remedy"] == "break-system-packages")
    assert attempt["outcome"] == "permission-denied", attempt


def test_the_local_index_serves_each_installer_as_the_public_index_does(installers_run):
    # Both ask for the JSON pages (PEP 691). uv resolves from the metadata files (PEP 658/714); pip
    # 23.0.1 reads only the key PEP 714 retired, which the index (as the public one) leaves out, so
    # it downloads the wheel, and does not crash on it. nginx's access log names each by its agent.
    log = (installers_run.dir / "index-access.log").read_text().splitlines()
    ok = [line for line in log if '" 200 ' in line]
    newest = "/packages/tensorflow-2.21.0-"
    # (a remedy's newer pip, pip 26.3 from the index, reads `core-metadata` as uv does)
    metadata = {agent: any(agent in line and newest in line and ".whl.metadata " in line for line in ok)
                for agent in ('"uv/', '"pip/23.0.1 ')}
    wheel = any('"pip/23.0.1 ' in line and newest in line and ".whl HTTP/" in line for line in ok)
    assert metadata == {'"uv/': True, '"pip/23.0.1 ': False} and wheel, log[-40:]
    pages = [line for line in ok if "GET /simple/tensorflow/ " in line]
    for agent in ('"uv/', '"pip/23.0.1 '):  # both ask for JSON
        assert any(agent in line and line.endswith('"application/vnd.pypi.simple.v1+json"')
                   for line in pages), pages[-5:]
