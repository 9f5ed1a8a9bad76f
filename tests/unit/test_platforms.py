"""Platforms: the arch and platform axes, what a resolution is told (tags and markers, checked
against pip itself), how resolved and emulated cells are judged on records captured from real
containers, and the pre-flight that refuses an architecture that does not execute."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from repromatrix.cell.contract import Record
from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import InfraError, MatrixError
from repromatrix.core.interpreter import base_image_for, rootfs_image
from repromatrix.core.osfamily import family_of
from repromatrix.core.outcomes import Outcome
from repromatrix.core.platforms import ARCHES, PLATFORMS, emulated, image_for_arch, platform_named
from repromatrix.core.resolution import Resolution
from repromatrix.infra.baseimages import Provisioned, check_arches
from repromatrix.infra.localindex import TENSORFLOW, all_wheel_tags, write_index
from repromatrix.judge.classify import classify
from repromatrix.judge.index import Releases
from tests.conftest import DATA, REPO
from tests.support import observe
from tests.unit.fake_engine import FakeEngine

RECORDS = DATA / "records"
RESOLVE_FOR = REPO / "src" / "repromatrix" / "templates" / "resolve_for.py"


def record(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.json").read_text())


def releases() -> Releases:
    names = [f"tensorflow-{r.version}-{tag}.whl" for r in TENSORFLOW for tag in all_wheel_tags(r)]
    return Releases.from_filenames("tensorflow", names)


# -- the axes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("image, arch, named", [
    ("debian:bookworm", "arm64", "arm64v8/debian:bookworm"),
    ("ubuntu:24.04", "armhf", "arm32v7/ubuntu:24.04"),
    ("docker.io/library/alpine:3.20", "ppc64el", "ppc64le/alpine:3.20"),
    ("debian:bookworm", "amd64", "debian:bookworm"),
    ("i386/debian:bookworm", "arm64", "i386/debian:bookworm"),  # a name that fixes its architecture
    ("localhost:5000/debian:bookworm", "arm64", None),  # another registry's: no per-arch name
    ("myorg/python:3.12", "arm64", None),
])
def test_an_image_is_named_for_its_architecture_where_docker_has_such_a_name(image, arch, named):
    assert image_for_arch(image, ARCHES[arch]) == named


@pytest.mark.parametrize("arch, machine, slow", [
    ("arm64", "x86_64", True), ("armhf", "x86_64", True), ("i386", "x86_64", False), ("amd64", "x86_64", False),
    ("arm64", "aarch64", False), ("armhf", "aarch64", False), ("amd64", "aarch64", True),
    ("s390x", "", True),  # an engine that does not say is taken to be x86_64
])
def test_which_architecture_runs_emulated_on_which_machine(arch, machine, slow):
    assert emulated(ARCHES[arch], machine) is slow


def cells(write_matrix, text: str):
    return expand(load_matrix(write_matrix(text)))


def test_ids_put_the_architecture_and_platform_after_the_os_and_a_resolution_expects_resolved(write_matrix):
    got = cells(write_matrix, """
        axes: {os: [bookworm], arch: [amd64, arm64], platform: [linux], install: [venv]}
        include:
          - {platform: macos-arm64, python: "3.12"}
          - {platform: macos-13-x86_64, python: "3.10"}
        expect:
          - {install: venv, outcome: upgraded}  # an install's outcome: not a resolution's
    """)
    assert {c.id: [o.value for o in c.expected] for c in got} == {
        "bookworm-py3.11-venv-fresh": ["upgraded"],
        "bookworm-arm64-py3.11-venv-fresh": ["upgraded"],
        "bookworm-macos-arm64-py3.12-venv-fresh": ["resolved"],
        "bookworm-macos-13-x86_64-py3.10-venv-fresh": ["resolved"],
    }
    assert platform_named("macos-13-x86_64").macos == (13, 0)


@pytest.mark.parametrize("extra, problem", [
    ('{platform: macos-arm64, python: "3.12", prior: "2.15.0"}', "prior: 2.15.0 means nothing for it"),
    ('{platform: windows-amd64, python: "3.12", install: system}', "install: system means nothing for it"),
    ("{platform: macos-arm64}", "python: system on macos-arm64: repromatrix does not know"),
    ('{platform: macos-arm64, python: "3.12", arch: arm64}', "names its machine (arm64)"),
    ('{platform: macos-arm64, python: "3.12", os: bullseye}', "pip 20.3.4 (the os's) has no `install --dry-run"),
    ('{platform: macos-arm64, python: "3.12", installer: uv-add}', "upgrades a project, which has no dry run"),
    ("{platform: resolved, arch: armhf, installer: uv}", "uv's --python-platform has no target for Linux armv7l"),
    ("{platform: resolved, os: \"quay.io/x/y:1\"}", "does not know the glibc of quay.io/x/y:1"),
    ("{arch: riscv64, os: bookworm}", "Debian bookworm has no riscv64 port"),
    ('{arch: arm64, os: "myorg/debian:bookworm"}', "has no name for arm64"),
    ('{arch: arm64, os: "i386/debian:bookworm"}', "is an image of i386, but arch is arm64"),
])
def test_combinations_no_cell_can_be_made_of_are_refused_naming_the_axis(write_matrix, extra, problem):
    with pytest.raises(MatrixError) as caught:
        cells(write_matrix, f"""
            axes: {{os: [bookworm], platform: [linux], arch: [amd64], install: [venv], prior: [none],
                    installer: [pip], python: [system]}}
            include: [{extra}]
        """)
    said = str(caught.value)
    assert problem in said, said
    assert "axes." in said and "hint:" in said


def test_a_root_file_system_tarball_must_lie_inside_the_matrix_folder(write_matrix, tmp_path):
    with pytest.raises(MatrixError) as caught:
        cells(write_matrix, "axes: {os: [rootfs/missing.tar.gz]}")
    assert "is not a file inside the matrix's folder" in str(caught.value)
    assert rootfs_image("../x.tar") is None and rootfs_image("/abs/x.tar") is None
    assert rootfs_image("rootfs/Ubuntu 24.tar") is None  # a space: not a name repromatrix imports
    assert base_image_for("rootfs/ubuntu-24.04.tar.xz") == "repromatrix-rootfs/rootfs-ubuntu-24.04:rootfs"
    assert base_image_for("rootfs/ubuntu-24.04.tar.xz", ARCHES["arm64"]).endswith(":rootfs-arm64")


@pytest.mark.parametrize("image, family", [
    ("debian:bookworm", "apt"), ("arm32v7/ubuntu:24.04", "apt"), ("python:3.12-slim-bookworm", "apt"),
    ("alpine:3.20", "apk"), ("rockylinux:9", "dnf"), ("registry.access.redhat.com/ubi9/ubi", "dnf"),
    ("amazonlinux:2", "yum"), ("amazonlinux:2023", "dnf"), ("centos:7", "yum"),
    ("localhost:5000/mirror/debian:bookworm", "apt"), ("quay.io/someone/thing:1", "detect"),
    ("repromatrix-rootfs/rootfs-ubuntu-24.04:rootfs", "detect"),
])
def test_an_images_family_decides_how_its_setup_installs_python_and_adds_a_user(image, family):
    assert family_of(image).name == family


# -- what a resolution is told ----------------------------------------------------------------------

@pytest.mark.parametrize("platform, python", [
    ("macos-arm64", "3.12"), ("macos-x86_64", "3.9"), ("windows-amd64", "3.13"), ("windows-x86", "3.11"),
    ("musllinux-x86_64", "3.12"), ("resolved", "3.11"),
])
def test_the_tags_a_resolution_records_are_the_ones_pip_computes_from_the_command_line(platform, python):
    """The cell's pip computes the platform's tags (its TAGS probe) from arguments that are the
    dry run's own options: checked with the host's real pip, whose `pip debug --verbose` lists the
    tags it computes from those options on the command line."""
    from repromatrix.core.resolution import pip_options
    from repromatrix.installers.pip import TAGS

    resolution = Resolution(PLATFORMS[platform], ARCHES["arm64"], python, (2, 36))
    options = [o for o in pip_options(resolution) if o not in ("--dry-run", "--ignore-installed")]
    options = options[: options.index("--target")]  # pip debug takes the target options only
    options.remove("--only-binary=:all:")
    debug = subprocess.run([sys.executable, "-m", "pip", "--isolated", "debug", "--verbose", *options],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    listed = debug.split("Compatible tags:", 1)[1].splitlines()[1:]
    from_cli = [line.strip() for line in listed if line.startswith("  ") and "-" in line]
    probe = subprocess.run([sys.executable, "-c", TAGS, json.dumps(resolution.pip_tags_arguments())],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    said = json.loads(probe)
    assert said["count"] == len(from_cli)
    assert said["platforms"] == list(dict.fromkeys(t.rsplit("-", 1)[1] for t in from_cli))
    assert said["pairs"] == list(dict.fromkeys(t.rsplit("-", 1)[0] for t in from_cli))
    if platform.startswith(("windows", "musllinux", "resolved")):
        # where the host computes them itself (an installer with no probe for them: uv), the same
        assert resolution.tags_json() == said


def _pip_report(tmp_path: Path, index: Path, *wrapper: str) -> list[str]:
    resolution = Resolution(PLATFORMS["windows-amd64"], ARCHES["amd64"], "3.12", None)
    (tmp_path / "markers.json").write_text(resolution.markers_json())
    report = tmp_path / "report.json"
    argv = [sys.executable, *wrapper] if wrapper else [sys.executable, "-m", "pip"]
    options = ["--dry-run", "--ignore-installed", "--only-binary=:all:", "--platform", "win_amd64",
               "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
               "--target", str(tmp_path / "t"), "--report", str(report)]
    proc = subprocess.run([*argv, "--isolated", "install", *options, "--no-cache-dir", "--index-url",
                           (index / "simple").as_uri(), "tensorflow==2.18.0"], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return sorted(item["metadata"]["name"] for item in json.loads(report.read_text())["install"])


def test_pip_resolving_for_windows_takes_tensorflow_intel_only_with_windows_markers(tmp_path):
    """TensorFlow 2.18's Windows wheel only requires tensorflow-intel; platform_system == "Windows":
    the host's real pip, told --platform win_amd64, leaves it out (pypa/pip#11664); run through
    resolve_for.py with Windows' markers, it takes it, as pip on Windows does."""
    index = write_index(tmp_path / "index")
    wrapper = tmp_path / "resolve_for.py"
    wrapper.write_bytes(RESOLVE_FOR.read_bytes())
    assert _pip_report(tmp_path, index) == ["tensorflow"]
    assert _pip_report(tmp_path, index, str(wrapper)) == [
        "keras", "numpy", "protobuf", "tensorflow", "tensorflow-intel"]


# -- judging resolved and emulated cells, on records from real containers --------------------------

def test_a_resolved_record_says_what_pip_would_take_and_nothing_about_an_install():
    verdict = classify(observe(record("local-bookworm-macos-x86_64-py3.12-venv-fresh")), releases())
    assert verdict.outcome is Outcome.RESOLVED
    assert verdict.evidence[0] == ("resolved for macOS 14 on x86_64, CPython 3.12, not installed: pip would take "
                                   "tensorflow 2.16.1 (tensorflow-2.16.1-cp312-cp312-macosx_10_15_x86_64.whl)")
    assert (verdict.facts["after"], verdict.facts["resolved"]) == (None, "2.16.1")
    assert verdict.facts["newest_for_python"] == "2.16.1"
    assert verdict.facts["below_newest"].startswith("would take 2.16.1, below the newest release 2.21.0: no 2.21.0 "
                                                    "wheel for macOS 14 on x86_64 (")


def test_on_windows_the_resolution_holds_tensorflow_intel_for_pip_and_uv():
    for name in ("local-tf2.18-bookworm-windows-amd64-py3.12-venv-fresh",
                 "local-tf2.18-bookworm-windows-amd64-py3.12-venv-fresh-uv"):
        from repromatrix.installers import installer

        by = installer("uv" if name.endswith("-uv") else "pip")
        verdict = classify(observe(record(name)), releases().only("==2.18.0"), by)
        assert verdict.outcome is Outcome.RESOLVED, verdict.evidence
        names = {d[0] for d in verdict.facts["distributions"]}
        assert {"tensorflow", "tensorflow-intel"} <= names, name


@pytest.mark.parametrize("name, kind", [
    ("local-bookworm-windows-arm64-py3.12-venv-fresh", "Windows on ARM64 (Windows arm64)"),
    ("local-bookworm-musllinux-x86_64-py3.12-venv-fresh", "musl Linux (musl 1.2) on x86_64 (musl x86_64)"),
    ("local-bookworm-armhf-resolved-py3.11-venv-fresh", "Linux armv7l (glibc 2.36) (glibc armv7l)"),
    ("local-bookworm-armhf-py3.11-venv-fresh", "this interpreter's platform (glibc armv7l)"),  # run, emulated
])
def test_no_wheel_for_the_platform_at_all_is_unsupported_platform(name, kind):
    verdict = classify(observe(record(name)), releases())
    assert verdict.outcome is Outcome.UNSUPPORTED_PLATFORM, verdict.evidence
    assert verdict.evidence[0].startswith(f"no release of tensorflow has a wheel for {kind}; ")


def test_an_emulated_arm64_record_is_an_ordinary_upgrade_of_the_aarch64_wheel():
    verdict = classify(observe(record("local-bookworm-arm64-py3.11-venv-fresh")), releases())
    assert verdict.outcome is Outcome.UPGRADED
    assert Record.from_json(record("local-bookworm-arm64-py3.11-venv-fresh")).runtime.tags.platforms[0] == \
        "manylinux_2_36_aarch64"


# -- before the first cell: does the architecture execute? ------------------------------------------

def test_an_architecture_that_does_not_execute_is_refused_before_any_cell_naming_the_fix():
    engine = FakeEngine(machines={"arm64v8/debian:bookworm": ""})  # exec format error
    with pytest.raises(InfraError) as caught:
        check_arches(engine, {"arm64v8/debian:bookworm": ARCHES["arm64"]}, {})
    said = str(caught.value)
    assert said.startswith("arch arm64: a container of arm64v8/debian:bookworm could not run")
    assert "qemu-user-static and binfmt-support" in said and "provision-host" in said
    assert caught.value.exit_code == 3


def test_an_image_of_another_architecture_under_the_name_is_named_too():
    engine = FakeEngine(machines={"debian:bookworm": "arm64"})  # a plain tag that is arm64 here
    with pytest.raises(InfraError) as caught:
        check_arches(engine, {"debian:bookworm": ARCHES["amd64"]}, {})
    assert "printed 'arm64' for its architecture, not 'amd64'" in str(caught.value)
    assert "is not built for amd64" in str(caught.value)


def test_the_check_says_which_architectures_run_emulated():
    engine = FakeEngine(machines={"arm64v8/debian:bookworm": "arm64", "i386/debian:bookworm": "i386",
                                  "debian:bookworm": "amd64"})
    ready = {i: Provisioned(i, "present") for i in engine.machines}
    images = {"arm64v8/debian:bookworm": ARCHES["arm64"], "i386/debian:bookworm": ARCHES["i386"],
              "debian:bookworm": ARCHES["amd64"]}
    assert check_arches(engine, images, ready) == {"arm64": True, "i386": False, "amd64": False}


def test_a_root_file_system_is_loaded_with_the_architecture_it_is_built_for(tmp_path):
    from repromatrix.infra.docker_engine import _image_archive

    layer = tmp_path / "rootfs.tar"
    with tarfile.open(layer, "w") as tar:
        (tmp_path / "hello").write_text("hi\n")
        tar.add(tmp_path / "hello", arcname="hello")
    _image_archive(layer, "arm64v8/debian:bookworm", {"org.repromatrix.base": "debootstrap bookworm arm64"},
                   "linux/arm64/v8", tmp_path / "image.tar")
    with tarfile.open(tmp_path / "image.tar") as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())
        config = json.loads(archive.extractfile(manifest[0]["Config"]).read())
    assert manifest[0]["RepoTags"] == ["arm64v8/debian:bookworm"]
    assert (config["architecture"], config["variant"], config["os"]) == ("arm64", "v8", "linux")
    assert config["config"]["Labels"] == {"org.repromatrix.base": "debootstrap bookworm arm64"}


# -- records from the public index (2026-12-07, real TensorFlow; hosts scrubbed) -------------------

PUBLIC_FILES = [f"tensorflow-2.21.0-cp3{m}-cp3{m}-{p}.whl" for m in (10, 11, 12, 13)
                for p in ("manylinux_2_27_x86_64", "manylinux_2_27_aarch64", "macosx_12_0_arm64", "win_amd64")] + [
    f"tensorflow-2.16.2-cp312-cp312-{p}.whl" for p in ("macosx_10_15_x86_64", "macosx_12_0_arm64")]


# torch's cp39 files on the public index for 2.2.2 and 2.5.1 (read 2026-12-07): 2.5.1 has no
# macOS x86_64 wheel, 2.2.2 has (the last release for Intel Macs)
TORCH_FILES = [
    "torch-2.2.2-cp39-cp39-manylinux1_x86_64.whl", "torch-2.2.2-cp39-cp39-manylinux2014_aarch64.whl",
    "torch-2.2.2-cp39-cp39-win_amd64.whl", "torch-2.2.2-cp39-none-macosx_10_9_x86_64.whl",
    "torch-2.2.2-cp39-none-macosx_11_0_arm64.whl", "torch-2.5.1-cp39-cp39-manylinux1_x86_64.whl",
    "torch-2.5.1-cp39-cp39-manylinux2014_aarch64.whl", "torch-2.5.1-cp39-cp39-win_amd64.whl",
    "torch-2.5.1-cp39-none-macosx_11_0_arm64.whl",
]


def test_a_pinned_release_without_the_platforms_wheel_is_no_matching_distribution():
    """pytorch/pytorch#149260's cell (torch==2.5.1 resolved for an Intel Mac, on the public
    index): pip listed 1.7.1 to 2.2.2, so releases for the platform exist and it is not
    unsupported-platform, which says no release has one."""
    everything = Releases.from_filenames("torch", TORCH_FILES)
    verdict = classify(observe(record("public-torch149260-bookworm-macos-x86_64-py3.9-venv-fresh")),
                       everything.only("==2.5.1"))
    assert verdict.outcome is Outcome.NO_MATCHING_DISTRIBUTION, verdict.evidence
    assert not any(e.startswith("no release of torch") for e in verdict.evidence)
    # the same files without 2.2.2's Intel wheel: no release has one, and it is said
    no_intel = [f for f in TORCH_FILES if "macosx_10_9_x86_64" not in f]
    verdict = classify(observe(record("public-torch149260-bookworm-macos-x86_64-py3.9-venv-fresh")),
                       Releases.from_filenames("torch", no_intel).only("==2.5.1"))
    assert verdict.outcome is Outcome.UNSUPPORTED_PLATFORM
    assert verdict.evidence[0].startswith("no release of torch has a wheel for macOS 14 on x86_64")


@pytest.mark.parametrize("name, outcome, head", [
    ("public-bookworm-macos-arm64-py3.12-venv-fresh", Outcome.RESOLVED,
     "resolved for macOS 14 on arm64, CPython 3.12, not installed: pip would take tensorflow 2.21.0 "
     "(tensorflow-2.21.0-cp312-cp312-macosx_12_0_arm64.whl)"),
    ("public-bookworm-macos-x86_64-py3.12-venv-fresh", Outcome.RESOLVED,
     "resolved for macOS 14 on x86_64, CPython 3.12, not installed: pip would take tensorflow 2.16.2 "
     "(tensorflow-2.16.2-cp312-cp312-macosx_10_15_x86_64.whl)"),
    ("public-bookworm-windows-amd64-py3.13-venv-fresh", Outcome.RESOLVED,
     "resolved for Windows on x86-64, CPython 3.13, not installed: pip would take tensorflow 2.21.0 "
     "(tensorflow-2.21.0-cp313-cp313-win_amd64.whl)"),
    ("public-bookworm-windows-arm64-py3.12-venv-fresh", Outcome.UNSUPPORTED_PLATFORM,
     "no release of tensorflow has a wheel for Windows on ARM64 (Windows arm64)"),
    ("public-bookworm-musllinux-x86_64-py3.12-venv-fresh", Outcome.UNSUPPORTED_PLATFORM,
     "no release of tensorflow has a wheel for musl Linux (musl 1.2) on x86_64 (musl x86_64)"),
    ("public-bookworm-armhf-py3.11-venv-fresh", Outcome.UNSUPPORTED_PLATFORM,
     "no release of tensorflow has a wheel for this interpreter's platform (glibc armv7l)"),
    ("public-bookworm-arm64-py3.11-venv-fresh", Outcome.UPGRADED,
     "Successfully installed tensorflow-2.21.0 (and 30 other packages)"),
    # 2.12-2.15's aarch64 wheel pulls in tensorflow-cpu-aws, which holds the package: it stays
    ("public-bookworm-arm64-py3.11-venv-tf2.15.0", Outcome.SHARED_DIRECTORY,
     "tensorflow-cpu-aws 2.15.0 also owns 11450 files under tensorflow/ beside tensorflow 2.21.0"),
    # an M1 report of 2021 (tensorflow/tensorflow#48636): as of its day there was no macOS arm64 wheel ...
    ("public-tf48636-as-of-2021-04-25-bookworm-macos-arm64-py3.8-venv-fresh", Outcome.UNSUPPORTED_PLATFORM,
     "no release of tensorflow has a wheel for macOS 14 on arm64 (macOS arm64, macOS universal2)"),
    # ... and today 2.13.1's needs a tensorflow-macos 2.13.1 that does not exist
    ("public-tf48636-today-bookworm-macos-arm64-py3.8-venv-fresh", Outcome.HELD_BACK,
     "resolved for macOS 14 on arm64, CPython 3.8, not installed: pip would take tensorflow 2.13.0, not 2.13.1, "
     "which has files for it: ERROR: Could not find a version that satisfies the requirement "
     "tensorflow-macos==2.13.1"),
])
def test_real_records_of_other_platforms(name, outcome, head):
    files = PUBLIC_FILES if "as-of" not in name else ["tensorflow-2.4.1-cp38-cp38-macosx_10_14_x86_64.whl",
                                                      "tensorflow-2.4.1-cp38-cp38-manylinux2010_x86_64.whl"]
    verdict = classify(observe(record(name)), Releases.from_filenames("tensorflow", files))
    assert verdict.outcome is outcome, verdict.evidence
    assert verdict.evidence[0].startswith(head), verdict.evidence[0]
    said = " ".join(verdict.evidence)
    if Record.from_json(record(name)).resolution is not None:
        assert verdict.facts["after"] is None and "Successfully installed" not in said
