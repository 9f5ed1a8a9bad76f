"""Why did no wheel match? Judged on the public index's real file list for tensorflow
(tests/data/index, PEP 691, 2026-11-24) against the tags an interpreter's pip accepts."""

from __future__ import annotations

import json

import pytest
from packaging import tags
from packaging.version import Version

from repromatrix.cell.contract import Record
from repromatrix.judge.index import IndexFile, Releases
from repromatrix.judge.wheelmatch import CellTags, explain, judge, why_no_wheel
from tests.conftest import DATA


def releases(pre: bool = False) -> Releases:
    data = json.loads((DATA / "index" / "tensorflow-files.json").read_text())
    files = [IndexFile(f["filename"], f["requires-python"] or "", None if f["yanked"] is False else str(f["yanked"]))
             for f in data["files"]]
    rel = Releases.from_files("tensorflow", files)
    rel.pre = pre
    return rel


def cell(python: str, glibc: tuple[int, int] = (2, 36), arch: str = "x86_64", pip: str = "23.0.1",
         pep600: bool = True) -> CellTags:
    """What pip on CPython `python` accepts on a glibc system, as packaging computes it (pip vendors it)."""
    major, minor = (int(p) for p in python.split(".")[:2])
    linux = [f"manylinux_2_{m}_{arch}" for m in range(glibc[1], 4, -1)] if pep600 else []
    legacy = [f"manylinux{n}_{arch}" for n, g in (("2014", 17), ("2010", 12), ("1", 5)) if g <= glibc[1]]
    platforms = [p for p in linux if not p.startswith(("manylinux_2_17_", "manylinux_2_12_", "manylinux_2_5_"))]
    platforms += [p for p in linux if p.startswith(("manylinux_2_17_", "manylinux_2_12_", "manylinux_2_5_"))]
    platforms += legacy + [f"linux_{arch}"]
    supported = list(tags.cpython_tags((major, minor), platforms=platforms)) + list(
        tags.compatible_tags((major, minor), f"cp{major}{minor}", platforms=platforms))
    pairs = frozenset(f"{t.interpreter}-{t.abi}" for t in supported)
    return CellTags(python, pairs, tuple(dict.fromkeys(t.platform for t in supported)), Version(pip))


def reasons(table: dict) -> dict[str, str]:
    return {row["file"]: row["reason"] for row in table["files"]}


def test_python_39_and_the_newest_release():
    table = explain(releases(), Version("2.21.0"), cell("3.9.2"))
    assert table["summary"] == "0 of 16 wheels of tensorflow 2.21.0 fit Python 3.9.2"
    assert set(reasons(table).values()) == {"Requires-Python >=3.10 excludes Python 3.9.2"}
    assert table["not_shown"] == 8  # the macOS and Windows wheels


def test_python_314_and_a_final_release():
    got = reasons(explain(releases(), Version("2.21.0"), cell("3.14.8")))
    assert got["tensorflow-2.21.0-cp313-cp313-manylinux_2_27_x86_64.whl"] == (
        "built for cp313, not for Python 3.14")
    assert not any(row == "fits" for row in got.values())
    rc = reasons(explain(releases(), Version("2.22.0rc0"), cell("3.14.8")))
    assert rc["tensorflow-2.22.0rc0-cp314-cp314-manylinux_2_27_x86_64.whl"].startswith("fits, but is a pre-release")


def test_an_old_pip_and_a_manylinux_2_27_wheel():
    got = reasons(explain(releases(), Version("2.21.0"), cell("3.11.2", pip="19.2.3", pep600=False)))
    assert got["tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl"] == (
        "pip 19.2.3 cannot read manylinux_2_x (PEP 600) tags (pip ≥ 20.3 can)")
    assert got["tensorflow-2.21.0-cp311-cp311-manylinux_2_27_aarch64.whl"] == (
        "built for aarch64; this interpreter runs on x86_64")


def test_an_old_glibc_and_a_fitting_wheel():
    old = reasons(explain(releases(), Version("2.21.0"), cell("3.11.2", glibc=(2, 17))))
    assert old["tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl"] == (
        "needs glibc 2.27 (manylinux_2_27_x86_64); this interpreter's system has glibc 2.17")
    ok = reasons(explain(releases(), Version("2.21.0"), cell("3.11.2")))
    assert ok["tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl"] == "fits"


def test_yanked_and_unknown_platforms():
    bare = CellTags("3.11")
    assert judge(IndexFile("tf-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", yanked="broken"), Version("2.0"),
                 bare).reason == "yanked: broken"
    assert judge(IndexFile("tf-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"), Version("2.0"), bare).reason == (
        "fits this Python (platform not checked)")


@pytest.mark.parametrize("outcome, below, prior, version", [
    ("setup-failed", False, "2.15.0", "2.15.0"),  # the prior version, for the planned Python
    ("no-matching-distribution", False, None, "2.21.0"),
    ("upgraded", True, None, "2.21.0"),
])
def test_which_release_a_cell_explains(outcome, below, prior, version):
    rel = releases()
    table = why_no_wheel(outcome, below, prior, "3.13", None, rel.only(""), rel)
    assert table["version"] == version
    assert why_no_wheel("upgraded", False, None, "3.13", None, rel, rel) == {}


def test_an_old_pip_below_what_its_python_could_have_is_explained_on_that_release():
    rel = releases()
    old = cell("3.9.2", pip="19.2.3", pep600=False)
    platforms = [p for p in old.platforms if not p.startswith("manylinux2014")]  # pip 19.2 knows up to 2010
    record = {"python": "3.9.2", "pip": "pip 19.2.3 from /opt/venv/lib/python3.9/site-packages/pip (python 3.9)",
              "after": "2.15.0", "runtime": {"tags": {"pairs": sorted(old.pairs), "platforms": platforms}}}
    table = why_no_wheel("not-upgraded", True, None, "3.9.2", Record.from_json(record | {"package": "tensorflow"}),
                         rel.only(""), rel)
    assert table["version"] == "2.20.0"  # the newest with cp39 wheels, which pip 19.2.3 could not take
    assert reasons(table)["tensorflow-2.20.0-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"] == (
        "pip 19.2.3 cannot read manylinux2014 tags (pip ≥ 19.3 can)")
    assert table["files"][0]["file"].endswith("x86_64.whl")  # this machine's architecture first


def test_a_pip_that_misspells_the_interpreter_is_named_as_the_reason():
    """pip 20.2.4 on Python 3.11 calls it cp3_11 (seen in a real cell against the public index), so the
    cp311 wheel built for exactly this Python does not fit: say that, not 'built for cp311, not for 3.11'."""
    pairs = frozenset({"cp3_11-cp3_11", "cp3_11-abi3", "cp3_11-none", "cp3_10-abi3", "cp39-abi3", "py3-none"})
    old = CellTags("3.11.2", pairs, ("manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64",
                                     "linux_x86_64", "any"), Version("20.2.4"))
    file = IndexFile("tensorflow-2.20.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", ">=3.9")
    assert judge(file, Version("2.20.0"), old).reason == (
        "built for cp311, which is this Python 3.11, but pip 20.2.4 does not accept cp311 wheels: it calls this "
        "interpreter cp3_11")
    other = IndexFile("tensorflow-2.20.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", ">=3.9")
    assert judge(other, Version("2.20.0"), old).reason == "built for cp312, not for Python 3.11"
