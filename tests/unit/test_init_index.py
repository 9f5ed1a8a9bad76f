"""`init --from` asks the index once: is the report's target a project there (a misspelt one is
refused with the names it does have, and nothing is written), and where does pip's 'from
versions:' list fit. Against the built-in model index, served on loopback as an index serves it
(JSON pages, 404 for a project it does not have); its platforms are the public index's (macOS
Intel up to 2.16, Windows 64-bit only, cp313 from 2.20)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from repromatrix.cli import main
from repromatrix.intake.against_index import (
    PLACES,
    ask,
    fits,
    index_pages,
    listed_versions,
    pythons_said,
    window,
)


def init(tmp_path: Path, report: str, *extra: str) -> tuple[int, str, dict | None]:
    path = tmp_path / "report.md"
    path.write_text(report)
    out = tmp_path / "matrix.yaml"
    code = main(["init", "--from", str(path), "--out", str(out), *extra])
    text = out.read_text() if out.exists() else ""
    return code, " ".join(" ".join(x.strip().lstrip("#") for x in text.splitlines()).split()), (
        yaml.safe_load(text) if text else None
    )


WINDOWS_NONE = """\
OS: Windows 11
```
C:\\Users\\someone> python -V
Python 3.12.1
C:\\Users\\someone> pip install tensorflow
ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)
ERROR: No matching distribution found for tensorflow
```
"""


def test_an_empty_list_on_windows_is_a_32_bit_python(tmp_path, local_index_url):
    code, text, matrix = init(
        tmp_path, WINDOWS_NONE, "--index", local_index_url, "--as-of", "2025-01-01T00:00:00Z"
    )
    assert code == 0
    assert "a project on the index" in text
    # The index as of that day had 2.16-2.18 for a 64-bit Python 3.12 on Windows: not none.
    assert "is not what Windows (a 64-bit Python) with Python 3.12 is offered" in text
    assert "with Python 3.12 it fits" in text and "Windows (a 32-bit Python)" in text
    # The assumed 64-bit platform gives way to those the list fits (no release has a 32-bit or
    # an ARM64 Windows wheel), each a cell, as a question.
    assert matrix["axes"]["platform"] == ["windows-x86", "windows-arm64"]
    assert "QUESTION: pip's list of tensorflow (report.md:6) fits only Windows (a 32-bit Python) or" in (
        text
    )
    assert "(not windows-amd64, which was assumed)" in text


def test_what_the_command_asked_for_says_which_mac(tmp_path, local_index_url):
    report = (
        "macOS Sonoma 14.4, Python 3.12.2\n"
        "$ pip install tensorflow==2.20.0\n"
        "ERROR: Could not find a version that satisfies the requirement tensorflow==2.20.0 "
        "(from versions: 2.16.1)\n"
    )
    code, text, matrix = init(tmp_path, report, "--index", local_index_url)
    assert code == 0
    # 2.20.0 has macOS wheels for Apple silicon only: a Mac offered 2.16.1 and not it is Intel.
    assert "exactly what the index offers (up to 2.16.1, the newest it listed, and with 2.20.0" in (
        text
    )
    assert "on macOS (Intel): Python 3.12" in text
    assert matrix["axes"]["platform"] == ["macos-x86_64"]


def test_a_list_that_fits_the_report_says_so(tmp_path, local_index_url):
    report = (
        "OS: Debian 12\nPython 3.13.1\n$ pip install tensorflow==2.19.0\n"
        "ERROR: Could not find a version that satisfies the requirement tensorflow==2.19.0 "
        "(from versions: 2.20.0, 2.21.0, 2.22.0rc0)\n"
    )
    code, text, matrix = init(tmp_path, report, "--index", local_index_url)
    assert code == 0
    assert "fits the report's Linux x86_64, Python 3.13" in text
    assert matrix["axes"]["os"] == ["bookworm"]


def test_a_misspelt_target_is_refused_with_the_names_the_index_has(
    tmp_path, local_index_url, capsys
):
    code, text, matrix = init(
        tmp_path, "$ pip install -U tensorflw\n", "--index", local_index_url
    )
    err = capsys.readouterr().err
    assert code == 2 and matrix is None  # nothing written
    assert "tensorflw (report.md:1) is not a project on the index" in err
    assert "the closest names the index has: tensorflow" in err
    assert "Traceback" not in err


def test_offline_and_an_unreachable_index_are_said_not_fatal(tmp_path, capsys):
    code, text, _ = init(tmp_path, "$ pip install tensorflow\n", "--offline")
    assert code == 0 and "not checked against the index: --offline" in text
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, text, _ = init(
        tmp_path, "$ pip install tensorflow\n", "--index", f"http://127.0.0.1:{port}/simple/",
        "--force",
    )
    assert code == 0 and "not checked against the index: the index could not be read" in text


def test_an_empty_list_without_a_day_is_not_read_against_today(tmp_path, local_index_url):
    code, text, _ = init(tmp_path, WINDOWS_NONE, "--index", local_index_url)
    assert code == 0
    assert "depends on the day (--as-of the report's day reads the index as it was then)" in text
    assert "is not what Windows" not in text  # today's index says nothing of that day's


def test_fits_group_pythons_by_platform(local_index_url):
    answer = ask(index_pages(local_index_url), ["tensorflow", "numpy"])
    releases = answer.pages["tensorflow"]
    listed = listed_versions("2.20.0, 2.21.0, 2.22.0rc0")
    seen = window(releases, listed, None)
    found = {f.where.name: f.pythons for f in fits(seen, listed)}
    assert found["linux"] == ("3.13",)  # 3.10-3.12 would list 2.16-2.19 too
    assert "windows-x86" not in found  # a 32-bit Python is offered nothing
    assert pythons_said(("3.9", "3.10", "3.11", "3.13")) == "Python 3.9–3.11, 3.13"
    assert [p.name for p in PLACES][:1] == ["linux"]


@pytest.mark.parametrize(
    "url",
    ["http://someone:s3cret@127.0.0.1:1/simple/"],
)
def test_credentials_in_the_index_url_never_reach_a_message(tmp_path, url):
    code, text, _ = init(tmp_path, "$ pip install tensorflow\n", "--index", url)
    assert code == 0 and "s3cret" not in text and "someone:" not in text
