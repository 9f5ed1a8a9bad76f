"""The platforms reports come from, on real containers: other architectures under qemu-user
emulation, platforms no container here runs only resolved (with real pip and its dry run), a
32-bit x86 Python, and the registry path: a base image pulled from a registry on loopback."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time

import pytest

from tests.integration.conftest import repromatrix

INSTALL_WORDS = ("Successfully installed", "import ", "imports")


def test_every_cell_is_as_the_example_expects(platforms_run):
    off = {i: (c["outcome"], c["expected"], c["evidence"][:2]) for i, c in platforms_run.cells.items()
           if not c["matches_expectation"]}
    assert not off


def test_arm64_runs_under_emulation_and_takes_the_aarch64_wheel(platforms_run):
    cell = platforms_run.cells["bookworm-arm64-py3.11-venv-fresh"]
    assert (cell["outcome"], cell["after"]) == ("upgraded", "2.21.0"), cell["evidence"]
    assert cell["platform"] == {"arch": "arm64", "machine": "aarch64", "run": "emulated (qemu-user)"}
    # the interpreter itself says where it ran: aarch64 tags, and the aarch64 model wheel went in
    assert cell["interpreter"]["tags"]["platforms"][0] == "manylinux_2_36_aarch64"
    assert "tensorflow-2.21.0-cp311-cp311-manylinux_2_27_aarch64.whl" in platforms_run.log(cell["id"])
    # the cell's image is the arm64 one, by Docker's per-architecture name
    assert "FROM arm64v8/debian:bookworm AS setup" in (platforms_run.dir / cell["dockerfile"]).read_text()


def test_a_native_cell_says_so(platforms_run):
    cell = platforms_run.cells["bookworm-py3.11-venv-fresh"]
    assert cell["platform"] == {"arch": "amd64", "machine": "x86_64", "run": "native"}


def test_a_32_bit_interpreter_has_no_wheel_at_all_and_says_so(platforms_run):
    cell = platforms_run.cells["bookworm-i386-py3.11-venv-fresh"]
    assert cell["outcome"] == "unsupported-platform", cell["evidence"]
    assert cell["evidence"][0] == (
        "no release of tensorflow has a wheel for this interpreter's platform (glibc i686); the index's "
        "wheels are for Windows amd64, glibc aarch64, glibc x86_64, macOS arm64, macOS x86_64")
    assert "ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)" \
        in cell["evidence"]
    reasons = {f["file"]: f["reason"] for f in cell["why_no_wheel"]["files"]}
    assert reasons["tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl"] == ("built for x86_64; this "
                                                                                  "interpreter runs on i686")
    tried = {a["remedy"]: a["fix"] for a in cell["attempts"]}
    assert tried == {"upgrade-pip": "fails"}  # the fix is another Python
    assert cell["newest_for_python"] is None  # no release has a wheel this system runs


@pytest.mark.parametrize("cell_id, taken, file", [
    ("bookworm-macos-arm64-py3.12-venv-fresh", "2.21.0", "tensorflow-2.21.0-cp312-cp312-macosx_12_0_arm64.whl"),
    ("bookworm-macos-x86_64-py3.12-venv-fresh", "2.16.1", "tensorflow-2.16.1-cp312-cp312-macosx_10_15_x86_64.whl"),
    ("bookworm-windows-amd64-py3.12-venv-fresh", "2.21.0", "tensorflow-2.21.0-cp312-cp312-win_amd64.whl"),
])
def test_a_resolved_cell_says_what_pip_would_take_there_and_never_that_it_installed(platforms_run, cell_id,
                                                                                     taken, file):
    cell = platforms_run.cells[cell_id]
    platform = cell_id.split("-py")[0].removeprefix("bookworm-")
    assert (cell["outcome"], cell["after"], cell["before"]) == ("resolved", None, None), cell["evidence"]
    assert cell["resolved"] | {"distributions": []} == {
        "for": cell["platform"]["for"], "platform": platform, "python": "3.12", "version": taken, "file": file,
        "distributions": [], "command": cell["upgrade_command"]}
    assert cell["evidence"][0].startswith(f"resolved for {cell['platform']['for']}, not installed: pip would "
                                          f"take tensorflow {taken} ({file})")
    # nothing it says claims an install, an import or a check
    assert cell["import_check"] is None and cell["pip_check"] is None and cell["checks"] == []
    assert cell["attempts"] == [] and cell["changed"] == []
    said = " ".join(cell["evidence"])
    assert not any(word in said for word in INSTALL_WORDS), said
    # the container ran pip's dry run for the platform, with its tags and its markers
    assert "--dry-run" in cell["upgrade_command"] and "resolve_for.py" in cell["upgrade_command"]
    assert cell["platform"]["run"] == "resolved"


def test_intel_macs_stop_at_the_last_release_for_them_and_the_report_says_why(platforms_run):
    cell = platforms_run.cells["bookworm-macos-x86_64-py3.12-venv-fresh"]
    assert cell["below_newest"] == (
        "would take 2.16.1, below the newest release 2.21.0: no 2.21.0 wheel for macOS 14 on x86_64 (built for "
        "Windows amd64, glibc aarch64, glibc x86_64, macOS arm64, not macOS x86_64); the newest for it is 2.16.1")


@pytest.mark.parametrize("cell_id, kind", [
    ("bookworm-windows-arm64-py3.12-venv-fresh", "Windows on ARM64 (Windows arm64)"),
    ("bookworm-musllinux-x86_64-py3.12-venv-fresh", "musl Linux (musl 1.2) on x86_64 (musl x86_64)"),
    ("bookworm-armhf-resolved-py3.11-venv-fresh", "Linux armv7l (glibc 2.36) (glibc armv7l)"),
])
def test_a_platform_without_any_wheel_is_unsupported_in_pips_words(platforms_run, cell_id, kind):
    cell = platforms_run.cells[cell_id]
    assert cell["outcome"] == "unsupported-platform", cell["evidence"]
    assert cell["evidence"][0].startswith(f"no release of tensorflow has a wheel for {kind}; ")
    assert "ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)" \
        in cell["evidence"]
    assert cell["resolved"]["version"] is None and cell["after"] is None


def test_the_reports_group_the_platforms(platforms_run):
    summary = (platforms_run.dir / "summary.md").read_text()
    assert "### On each platform (9)" in summary
    assert "| arm64 \\(emulated\\) | 1 | `upgraded` 1 | 2.21.0 |" in summary
    assert "| macos-x86\\_64 \\(resolved\\) | 1 | `resolved` 1 | would take 2.16.1 \\(not installed\\) |" in summary
    block = summary.split("bookworm-windows-arm64-py3.12-venv-fresh`</summary>")[1].split("</details>")[0]
    assert "OS platform and distribution: Windows on ARM64 (resolved in a Debian bookworm container, " \
           "not run there)" in block
    assert "Python version: 3.12 (resolved for; not run)" in block


# -- the registry path ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry on loopback (Docker trusts 127.0.0.0/8 over plain HTTP)."""
    program = shutil.which("docker-registry")
    assert program, "docker-registry is missing: bash scripts/provision-host --tests installs it"
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    log = (tmp_path / "registry.log").open("w")
    proc = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", tmp_path / "registry.log"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_base_image_is_pulled_from_a_registry_and_a_cell_runs_on_it(registry, docker_client, tmp_path):
    address, log = registry
    # debian:bookworm, as the other tests' runs made it (debootstrapped once), pushed to the registry
    source = docker_client.images.get("debian:bookworm")
    ref = f"{address}/mirror/debian:bookworm"
    assert source.tag(ref)
    for line in docker_client.images.push(ref, stream=True, decode=True):
        assert "error" not in line, line
    docker_client.images.remove(ref)  # only the registry has it now
    matrix = tmp_path / "m.yaml"
    matrix.write_text(json.dumps({"target": {"package": "tensorflow", "index": "local"},
                                  "axes": {"os": [ref], "install": ["venv"]}, "remedies": "none"}))
    try:
        proc = repromatrix("run", "--matrix", str(matrix), "--out", str(tmp_path / "reports"))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        cells = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())["cells"]
        assert [(c["outcome"], c["after"], c["interpreter"]["provider"]) for c in cells] == [
            ("upgraded", "2.21.0", "pulled")]
        # it came from the registry: the engine asked it for the image's manifest
        # (its access log; HEAD resolves the tag to a digest, GET fetches what the engine lacks)
        assert re.search(r'"(?:HEAD|GET) /v2/mirror/debian/manifests/bookworm HTTP', log.read_text())
    finally:
        if any(ref in (i.tags or []) for i in docker_client.images.list(name=f"{address}/mirror/debian")):
            docker_client.images.remove(ref)


def test_an_image_no_registry_has_is_infra_error_naming_it_and_the_fix(registry, tmp_path):
    address, _ = registry
    matrix = tmp_path / "m.yaml"
    matrix.write_text(json.dumps({"target": {"package": "tensorflow", "index": "local"},
                                  "axes": {"os": [f"{address}/nowhere/ubuntu:24.04"]}, "remedies": "none"}))
    proc = repromatrix("run", "--matrix", str(matrix), "--out", str(tmp_path / "reports"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    cell = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())["cells"][0]
    assert cell["outcome"] == "infra-error"
    said = cell["evidence"][0]
    assert said.startswith(f"base image {address}/nowhere/ubuntu:24.04: not present and cannot be pulled")
    assert "push it to a registry this engine reaches" in said and "docker load" in said


# -- the slow lane: armhf run for real, and an extra index of community builds -----------------

def test_armhf_runs_under_emulation_and_finds_no_wheel_at_all(platforms_slow_run):
    cell = platforms_slow_run.cells["bookworm-armhf-py3.11-venv-fresh"]
    assert cell["outcome"] == "unsupported-platform", cell["evidence"]
    assert cell["platform"] == {"arch": "armhf", "machine": "armv7l", "run": "emulated (qemu-user)"}
    assert "ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)" \
        in cell["evidence"]
    reasons = {f["reason"] for f in cell["why_no_wheel"]["files"]}
    assert {"built for aarch64; this interpreter runs on armv7l",
            "built for x86_64; this interpreter runs on armv7l"} <= reasons


def test_arm64_from_2_15_leaves_the_shims_package_registered_over_the_new_one(platforms_slow_run):
    cell = platforms_slow_run.cells["bookworm-arm64-py3.11-venv-tf2.15.0"]
    assert (cell["outcome"], cell["before"], cell["after"]) == ("shared-directory", "2.15.0", "2.21.0"), \
        cell["evidence"]
    assert cell["evidence"][0].startswith("tensorflow-cpu-aws 2.15.0 also owns ")
    assert "files under tensorflow/ beside tensorflow 2.21.0" in cell["evidence"][0]


def test_the_slow_lanes_cells_are_as_the_example_expects(platforms_slow_run):
    off = {i: (c["outcome"], c["expected"]) for i, c in platforms_slow_run.cells.items()
           if not c["matches_expectation"]}
    assert not off and len(platforms_slow_run.cells) == 2


@pytest.mark.parametrize("cell_id, wheel", [
    ("bookworm-armhf-py3.11-venv-fresh", "tensorflow-2.15.0-cp311-cp311-linux_armv7l.whl"),
    ("bullseye-armhf-py3.9-venv-fresh", "tensorflow-2.15.0-cp39-cp39-linux_armv7l.whl"),
])
def test_an_extra_index_is_what_gives_32_bit_arm_an_old_release_and_it_is_named(extra_index_run, cell_id,
                                                                                wheel):
    cell = extra_index_run.cells[cell_id]
    assert (cell["outcome"], cell["after"]) == ("upgraded", "2.15.0"), cell["evidence"]
    assert cell["below_newest"].startswith("landed on 2.15.0, below the newest release 2.21.0: ")
    assert (f"{wheel} came from the extra index https://repromatrix-index:8443/extra/simple/ "
            "(target.extra_index)") in cell["evidence"]


def test_the_same_indexes_give_x86_64_the_newest_from_the_main_one(extra_index_run):
    cell = extra_index_run.cells["bookworm-py3.11-venv-fresh"]
    assert (cell["outcome"], cell["after"]) == ("upgraded", "2.21.0")
    assert not any("came from the extra index" in e for e in cell["evidence"])
