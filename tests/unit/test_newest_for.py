"""'The newest release for this Python' is a claim: it must count Requires-Python, abi3 and pure
wheels, the interpreter's OS, architecture and libc, and yanked files, whatever the target."""

from __future__ import annotations

import copy
import json

from packaging.version import Version

from repromatrix.cell.contract import Record
from repromatrix.judge.facts import version_facts
from repromatrix.judge.index import IndexFile, Releases
from repromatrix.judge.wheelmatch import CellTags, fits, missing, newest_for
from tests.conftest import DATA

X86 = ("manylinux_2_36_x86_64", "manylinux2014_x86_64", "linux_x86_64")


def releases(*files: IndexFile | str) -> Releases:
    listed = [f if isinstance(f, IndexFile) else IndexFile(f) for f in files]
    return Releases.from_files("pkg", listed)


def test_an_abi3_wheel_fits_every_python_from_its_own():
    rel = releases("pkg-2.0-cp39-abi3-manylinux_2_17_x86_64.whl", "pkg-1.0-cp38-cp38-manylinux_2_17_x86_64.whl")
    assert newest_for(rel, CellTags("3.12")) == Version("2.0")
    assert newest_for(rel, CellTags("3.8")) == Version("1.0")  # cp39-abi3 needs 3.9 or newer


def test_a_pure_wheel_gated_by_requires_python_does_not_fit_an_older_python():
    # numpy, scipy, jax and keras ship py3-none-any or abi3 wheels and gate them by Requires-Python.
    rel = releases(IndexFile("pkg-3.0-py3-none-any.whl", ">=3.10"), IndexFile("pkg-2.9-py3-none-any.whl", ">=3.8"))
    assert newest_for(rel, CellTags("3.9.2")) == Version("2.9")
    assert newest_for(rel, CellTags("3.10.0")) == Version("3.0")
    assert missing(rel, Version("3.0"), CellTags("3.9.2")) == "no 3.0 wheel for Python 3.9"


def test_a_release_built_only_for_another_system_is_not_newest_here():
    rel = releases("pkg-2.0-cp311-cp311-macosx_12_0_arm64.whl", "pkg-2.0-cp311-cp311-win_amd64.whl",
                   "pkg-1.5-cp311-cp311-manylinux_2_17_x86_64.whl")
    cell = CellTags("3.11.2", platforms=X86, pairs=frozenset({"cp311-cp311"}))
    assert newest_for(rel, cell) == Version("1.5")
    assert missing(rel, Version("2.0"), cell) == (
        "no 2.0 wheel for this system (built for another system: macosx_12_0_arm64, win_amd64)")


def test_another_architecture_a_newer_glibc_and_musl_are_each_named():
    aarch = releases("pkg-2.0-cp311-cp311-manylinux_2_17_aarch64.whl")
    on_x86 = CellTags("3.11.2", platforms=X86, glibc="glibc 2.36")
    assert newest_for(aarch, on_x86) is None
    assert missing(aarch, Version("2.0"), on_x86) == ("no 2.0 wheel for this system (built for Linux aarch64, "
                                                      "not x86_64)")
    newer = releases("pkg-2.0-cp311-cp311-manylinux_2_38_x86_64.whl", "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    bookworm = CellTags("3.11.2", platforms=X86, glibc="glibc 2.36")
    assert newest_for(newer, bookworm) == Version("1.0")
    assert missing(newer, Version("2.0"), bookworm) == (
        "no 2.0 wheel for this system (needs glibc 2.38; this system has glibc 2.36)")
    musl_only = releases("pkg-2.0-cp311-cp311-musllinux_1_2_x86_64.whl")
    assert not fits(musl_only, Version("2.0"), bookworm)
    assert "musl" in missing(musl_only, Version("2.0"), bookworm)


def test_an_old_pip_does_not_change_what_the_interpreter_could_have():
    # pip 19.2 lists no manylinux_2_x platform, yet the interpreter runs those wheels: what the
    # pip reads is old_pip_reason's question, not this one.
    old_pip = CellTags("3.11.2", pairs=frozenset({"cp3_11-cp3_11"}), platforms=("manylinux2010_x86_64", "linux_x86_64"),
                       glibc="glibc 2.36")
    rel = releases("pkg-2.0-cp311-cp311-manylinux_2_27_x86_64.whl")
    assert newest_for(rel, old_pip) == Version("2.0")


def test_a_yanked_release_is_not_the_newest_for_anyone():
    rel = releases(IndexFile("pkg-2.0-py3-none-any.whl", yanked="broken"), "pkg-1.9-py3-none-any.whl")
    assert rel.newest() == Version("2.0")  # pip still lists it; it takes it only when pinned
    assert newest_for(rel, CellTags("3.11")) == Version("1.9")


def test_the_verdict_no_longer_says_a_release_exists_for_a_python_it_excludes():
    """The bug: a cp39-abi3 wheel counted as 'for Python 3.8'; an upgrade that landed on 1.0 was
    told '2.0 exists for it, but pip did not take it'."""
    raw = copy.deepcopy(json.loads((DATA / "records" / "local-bookworm-py3.11-venv-tf2.15.0.json").read_text()))
    raw["python"] = "3.8.18"
    raw["after"] = "2.15.1"
    record = Record.from_json(raw)
    rel = Releases.from_files("tensorflow", [
        IndexFile("tensorflow-2.16.1-cp39-abi3-manylinux_2_17_x86_64.whl", ">=3.9"),
        IndexFile("tensorflow-2.15.1-cp38-cp38-manylinux_2_17_x86_64.whl", ">=3.8"),
    ])
    facts = version_facts(record, rel)
    assert facts["newest_for_python"] == "2.15.1"
    assert facts["below_newest"] == (
        "landed on 2.15.1, below the newest release 2.16.1: no 2.16.1 wheel for Python 3.8; "
        "the newest for it is 2.15.1")


def test_a_pure_release_below_one_built_only_for_another_system_is_named_a_possible_placeholder():
    raw = json.loads((DATA / "records" / "local-bookworm-py3.11-venv-tf2.15.0.json").read_text())
    raw.update(package="tensorflow-metal-like", after="0.0.1")
    rel = Releases.from_files("tensorflow", [
        IndexFile("tensorflow-1.2.0-cp311-cp311-macosx_12_0_arm64.whl"),
        IndexFile("tensorflow-0.0.1-py3-none-any.whl"),
    ])
    facts = version_facts(Record.from_json(raw), rel)
    assert facts["below_newest"].startswith("landed on 0.0.1, below the newest release 1.2.0: no 1.2.0 wheel for this "
                                            "system (built for another system: macosx_12_0_arm64)")
    assert facts["below_newest"].endswith("0.0.1 is a pure-Python wheel, while 1.2.0 is built only for "
                                          "macosx_12_0_arm64: on this system the name resolves to what may be a "
                                          "placeholder release, not the package itself")
    rel_linux = Releases.from_files("tensorflow", [IndexFile("tensorflow-1.2.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
                                                   IndexFile("tensorflow-0.0.1-py3-none-any.whl")])
    assert "placeholder" not in version_facts(Record.from_json(raw), rel_linux)["below_newest"]
