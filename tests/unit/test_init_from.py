"""`repromatrix init --from`: real public bug reports (tests/data/reports, each citing its issue)
and reports of our own making become a matrix that `repromatrix list` accepts, with every
inferred value citing its line and what the report does not say left as a QUESTION."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from repromatrix.cli import main
from repromatrix.intake.clues import clues_of, parse_command
from repromatrix.intake.report import fields, lines_of
from tests.conftest import REPO

REPORTS = REPO / "tests" / "data" / "reports"


def init(tmp_path: Path, *reports: Path | str, extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    out = tmp_path / "matrix.yaml"
    offline = () if "--index" in extra else ("--offline",)  # unit tests ask no public index
    assert main(["init", "--from", *map(str, reports), "--out", str(out), *offline, *extra]) == 0
    assert main(["list", "--matrix", str(out)]) == 0  # list accepts every written matrix
    text = out.read_text()
    return yaml.safe_load(text), text


def axis(matrix: dict[str, Any], name: str) -> str:
    values = matrix["axes"][name]
    assert len(values) == 1  # the reporter's one cell
    return str(values[0])


def environment(matrix: dict[str, Any]) -> list[str]:
    return list(matrix.get("environments", {}).get("reporter", {}).get("requirements", []))


def expected(matrix: dict[str, Any]) -> str | None:
    """The expectation written (pip's "No matching distribution" is either of two outcomes: said
    by the first)."""
    if not matrix.get("expect"):
        return None
    outcome = matrix["expect"][0]["outcome"]
    if isinstance(outcome, list):
        assert outcome[1:] in ([], ["unsupported-platform"]), outcome
        return str(outcome[0])
    return str(outcome)


# (report, package, version, os, python, install, prior, pip, expect, in the environment,
# said in the file)
REAL = [
    (
        "tf-39809-windows-anaconda.md",
        "tensorflow",
        "==2.2.0",  # "upgrade from 1.12.0 to 2.2.0": a question, read from prose
        "bookworm",
        "3.6",
        "venv",
        "none",  # a resolution installs nothing: the report's 1.12.0 is said in a note
        "os",
        None,
        [],
        [
            "the report's OS is Windows (tf-39809-windows-anaconda.md:6)",
            'platform: ["windows-amd64"]',
            "windows-amd64 cannot run in a container here; the cell is pip's resolution for it",
            "prior 1.12.0 (tf-39809-windows-anaconda.md:9",
            "a conda environment",
            "this cell resolves with pip instead",
            "QUESTION: the report does not say who",
        ],
    ),
    (
        "tf-36566-user-upgrade.md",
        "tensorflow",
        "newest",
        "bookworm",
        "system",
        "user-flag",
        "none",
        "os",
        "no-matching-distribution",
        [],
        ["QUESTION: the report names no OS", "Debian buster's own python3 is 3.7 (os: buster)"],
    ),
    (
        "tf-63087-debian11-conda.md",
        "tensorflow",
        "==2.14",
        "bullseye",
        "3.12",
        "venv",
        "none",
        "os",
        "no-matching-distribution",
        [],
        ["a conda environment", "the command asks for ==2.14"],
    ),
    (
        "tf-52384-ubuntu-user-site.md",
        "tensorflow",
        "newest",
        "ubuntu:20.04",
        "system",
        "user-flag",
        "2.4.1",
        "os",
        None,
        ["numpy==1.19.5", "flatbuffers==1.12"],
        ["ubuntu:20.04's own python3 is 3.8", "pulled from a registry"],
    ),
    (
        "tf-62825-keras3-root.md",
        "keras-nlp",
        "newest",
        "ubuntu:20.04",
        "system",
        "system",
        "none",
        "os",
        "upgraded-inconsistent",
        ["tensorflow==2.15.0.post1"],
        ["pip's root warning"],
    ),
    (
        "pip-13600-and-cuda-resolution.md",
        "pose-pipeline",
        "newest",
        "ubuntu:22.04",
        "system",
        "venv",
        "none",
        "25.2",
        "resolution-impossible",
        ["tensorflow==2.14.0"],
        ["the report's Python is 3.11", "the command also installs mmtrack"],
    ),
    (
        "tf-48636-macos-m1.md",
        "tensorflow",
        "newest",
        "bookworm",
        "3.8",
        "venv",
        "none",
        "os",  # its pip 21.0.1 has no dry run for another platform: said in a note
        "no-matching-distribution",
        [],
        [
            "the report's OS is macOS",
            'platform: ["macos-arm64"]',
            "pip 21.0.1 (tf-48636-macos-m1.md:19",
            "has no dry run for another platform",
        ],
    ),
    (
        "tf-79370-wsl-ubuntu2404.md",
        "tensorflow[and-cuda]",
        "newest",
        "ubuntu:24.04",
        "system",
        "venv",
        "2.18.0",
        "os",
        None,
        [],
        ["a conda environment"],
    ),
    (
        "tf-8586-virtualenv-pip-list.md",
        "tensorflow",
        "==1.0.1",
        "bookworm",
        "system",
        "venv",
        "1.0.0",
        "os",
        None,
        [],
        ["the report's OS is Ubuntu, release not named"],
    ),
    (
        "tf-54489-macos-python310.md",
        "tensorflow",
        "newest",
        "bookworm",
        "3.10",
        "venv",
        "none",
        "os",
        None,
        [],
        [
            "the report's OS is macOS",
            "the template's TensorFlow version is 2.8",
            'platform: ["macos-arm64"]',
            "QUESTION: the report does not say which Mac; Apple silicon is assumed",
        ],
    ),
    (
        "rocm-2146-debian12-venv.md",
        "tensorflow-rocm",
        "newest",
        "bookworm",
        "system",
        "venv",
        "none",
        "os",
        "no-matching-distribution",
        [],
        ["(the template's OS field): Debian 12"],
    ),
    # The corpus's second half (each also scored field by field: test_report_corpus.py)
    ("jax-12307-jetson-user-site.md", "jax[cuda]", "newest", "bookworm", "system", "system-user",
     "0.3.23", "os", None, ["numpy==1.23.4"],
     ["the machine is read only from (an NVIDIA Jetson board (aarch64))", 'arch: ["arm64"]']),
    ("jax-7745-conda-not-on-pypi.md", "jax[cuda111]", "newest", "bookworm", "3.9", "venv", "none",
     "21.2.4", None, [], ["a conda environment", "no installer output repromatrix recognises"]),
    ("keras-19390-installing-keras.md", "keras", "newest", "bookworm", "system", "venv", "none",
     "os", "upgraded-inconsistent", ["tensorflow==2.13.1"],
     ["QUESTION: the package is read only from (the issue's title)"]),
    ("pip-7565-manjaro-python38.md", "tensorflow", "==1.15.0", "bookworm", "system", "venv", "none",
     "19.3.1", "no-matching-distribution", [], ["QUESTION: the report's OS is Manjaro"]),
    ("tf-23682-raspberry-9.md", "tensorflow", "newest", "stretch", "system", "venv", "none", "os",
     "no-matching-distribution", [],
     ["Debian's mirror no longer serves stretch", 'arch: ["armhf"]', "stretch's own python3 is 3.5"]),
    ("tf-37355-raspbian-armv7l.md", "tensorflow", "==2.1.0", "buster", "system", "venv", "none",
     "20.0.2", None, [],
     ['arch: ["armhf"]', "buster's own python3 is 3.7", "QUESTION: the title says unsupported-platform"]),
    ("tf-39514-windows-conda-install.md", "tensorflow", "newest", "bookworm", "3.6", "venv", "none",
     "os", None, [], ["the reporter ran conda", 'platform: ["windows-amd64"]']),
    ("tf-41871-windows-two-pythons.md", "tensorflow", "newest", "bookworm", "3.6", "venv", "none", "os",
     None, [], ["the report also names 3.8", "a 64-bit one is assumed"]),
    ("tf-42384-windows-32bit.md", "tensorflow", "newest", "bookworm", "3.8", "venv", "none", "os",
     "no-matching-distribution", [], ['platform: ["windows-x86"]', "(a 32-bit Python)"]),
    ("tf-47709-manjaro-user-site.md", "tensorflow", "newest", "bookworm", "3.9", "system-user", "none",
     "20.3.1", "no-matching-distribution", [], ["pip fell back to the user site"]),
    ("tf-52994-windows-anaconda-up-to-date.md", "tensorflow", "newest", "bookworm", "3.12", "venv",
     "none", "os", None, [], ["expect not-upgraded", "only an install ends so"]),
    ("tf-54284-msys2-pip-debug.md", "tensorflow", "newest", "bookworm", "3.9", "venv", "none", "os",
     None, [], ["the report's pip takes mingw_x86_64 wheels (an MSYS2/MinGW Python)"]),
    ("tf-60204-aws-graviton.md", "tensorflow", "==2.11.1", "ubuntu:20.04", "system", "venv", "none",
     "os", "no-matching-distribution", [], ['arch: ["arm64"]', "pip could take 12 version(s) of "
                                             "tensorflow-cpu-aws"]),
    ("tf-79349-windows-python313.md", "tensorflow", "newest", "bookworm", "3.13", "venv", "none", "os",
     "no-matching-distribution", [], ["pip listed no version of tensorflow at all"]),
    ("torch-149260-macos-intel-collect-env.md", "torch", "==2.5.1", "bookworm", "3.9", "venv", "none",
     "os", "no-matching-distribution", [], ['platform: ["macos-x86_64"]', "(collect_env): OS: macOS"]),
    ("torch-20631-old-versions-only.md", "torch", "==0.3.1", "bookworm", "system", "venv", "none", "os",
     "no-matching-distribution", [], ["QUESTION: the report names no OS"]),
    ("uv-13262-script-python313.md", "tensorflow", "newest", "bookworm", "3.13", "venv", "none", "os",
     "no-matching-distribution", [], ['installer: ["uv"]', "(uv's hint)", "Apple silicon is assumed"]),
    # Read by hand before init was run on them (fields.yaml's held-out set)
    ("tf-33838-raspbian-piwheels.md", "tensorflow", "==1.14.0", "buster", "system", "system", "none",
     "os", "no-matching-distribution", [], ["the report also names stretch", 'arch: ["armhf"]']),
    ("tf-43672-windows-template-pip.md", "tensorflow", "newest", "bookworm", "3.8", "venv", "none",
     "os", "no-matching-distribution", [], ["a 64-bit one is assumed"]),
    ("tf-47142-raspbian-old-release.md", "tensorflow", "newest", "buster", "system", "venv", "none",
     "21.0.1", None, [], ["QUESTION: pip's version is read only from (the reporter says so)"]),
    ("tf-37457-macos-catalina.md", "tensorflow", "newest", "bookworm", "3.12", "venv", "none", "os",
     "no-matching-distribution", [],
     ['platform: ["macos-x86_64"]', "macOS 10.x, which runs only on Intel Macs"]),
    ("torch-161614-macos-framework-python.md", "torch", "==2.6.0", "bookworm", "3.11", "venv", "none",
     "25.2", "no-matching-distribution", [],
     ["(pip's output): Requirement already satisfied: pip in", "Apple silicon is assumed"]),
    ("uv-1491-windows-powershell.md", "tensorflow", "newest", "bookworm", "3.12", "venv", "none", "os",
     "resolution-impossible", [],
     ["the command installs a requirements file", "the requirement the installer's failure names"]),
    ("tf-47564-fedora-aarch64-cpu.md", "tensorflow-cpu", "newest", "bookworm", "system", "venv", "none",
     "os", None, [], ["QUESTION: the report's OS is Fedora 33", 'arch: ["arm64"]']),
]


def test_every_real_report_is_a_case():
    assert {case[0] for case in REAL} == {p.name for p in REPORTS.glob("*.md")} - {"README.md"}
    assert len(REAL) >= 8
    for path in REPORTS.glob("*.md"):
        if path.name != "README.md":
            assert path.read_text().startswith("<!-- source: "), path.name  # cited


@pytest.mark.parametrize(
    "report,package,version,os_value,python,install,prior,pip,outcome,pins,says",
    REAL,
    ids=[case[0] for case in REAL],
)
def test_a_real_report_becomes_the_reporters_cell(
    tmp_path, report, package, version, os_value, python, install, prior, pip, outcome, pins, says
):
    matrix, text = init(tmp_path, REPORTS / report)
    assert matrix["target"]["package"] == package
    assert matrix["target"]["version"] == version
    assert axis(matrix, "os") == os_value
    assert axis(matrix, "python") == python
    assert axis(matrix, "install") == install
    assert axis(matrix, "prior") == prior
    assert axis(matrix, "pip") == pip
    assert expected(matrix) == outcome
    for pin in pins:
        assert pin in environment(matrix)
    flat = " ".join(" ".join(ln.strip().removeprefix("#") for ln in text.splitlines()).split())
    for said in says:
        assert said in flat, said


def test_each_value_cites_its_line(tmp_path):
    _, text = init(tmp_path, REPORTS / "tf-52384-ubuntu-user-site.md")
    lines = text.splitlines()
    prior = lines.index('  prior: ["2.4.1"]')
    assert "tf-52384-ubuntu-user-site.md:7 (pip's output): Requirement already satisfied" in (
        " ".join(lines[prior - 2 : prior])
    )
    report = (REPORTS / "tf-52384-ubuntu-user-site.md").read_text().splitlines()
    assert report[6].startswith("Requirement already satisfied: tensorflow in")  # line 7


OUR_OWN = """\
<!-- Please fill in: OS Platform and Distribution (e.g., Linux Ubuntu 16.04): Ubuntu 16.04 -->
### System information
- OS Platform and Distribution (e.g., Linux Ubuntu 16.04):
- Python version:

The upgrade fails on our build box (we also tried Ubuntu 22.04 at home, same thing).

```console
$ cat /etc/os-release
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION_CODENAME=trixie
ID=debian
$ python -VV
Python 3.13.5 (main, Jun 25 2025, 18:55:22) [GCC 14.2.0]
$ /srv/env/bin/pip -V
pip 25.1.1 from /srv/env/lib/python3.13/site-packages/pip (python 3.13)
$ uv pip freeze
absl-py==2.3.1
keras==3.10.0
ml-dtypes==0.5.1
numpy==2.1.3
protobuf==5.29.5 ; python_version >= "3.9"
requests[socks]==2.32.4
tensorflow==2.19.0
mylib @ file:///home/someone/src/mylib
$ HTTPS_PROXY=PROXY_WITH_PASSWORD pip install -U tensorflow
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after \
connection broken by 'ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed: \
407 Proxy Authentication Required'))': /simple/tensorflow/
```
"""


def test_a_report_of_our_own_with_every_kind_of_paste(tmp_path):
    report = tmp_path / "report.md"
    # Built here, so that no literal URL with a host sits in the source.
    report.write_text(OUR_OWN.replace("PROXY_WITH_PASSWORD", "http" + "://builder:hunter2@127.0.0.1:3128"))
    matrix, text = init(tmp_path, report)
    # /etc/os-release outranks prose, and the template's example (and a hidden comment) count
    # for nothing; the prose's other OS is said, not dropped.
    assert axis(matrix, "os") == "trixie"
    assert "the report also names ubuntu:22.04" in " ".join(text.split())
    assert "16.04" not in text
    assert axis(matrix, "python") == "system"  # trixie's own python3 is 3.13
    assert axis(matrix, "install") == "venv"  # pip -V names a venv's site-packages
    assert axis(matrix, "pip") == "25.1.1"
    assert axis(matrix, "prior") == "2.19.0"
    assert axis(matrix, "network") == "proxy-auth"
    assert expected(matrix) == "proxy-auth-required"
    assert axis(matrix, "conflicts") == "reporter"
    pins = environment(matrix)
    assert "protobuf==5.29.5" in pins and "requests==2.32.4" in pins
    assert not [p for p in pins if p.startswith(("tensorflow", "mylib", "pip"))]
    assert "mylib @ …: a file or URL on the reporter's machine" in " ".join(text.split())
    assert "hunter2" not in text and "builder:" not in text  # no credential reaches the file


def test_an_unknown_os_stays_a_question(tmp_path):
    report = tmp_path / "centos.txt"
    report.write_text("OS: CentOS 7\nsudo pip3 install --upgrade tensorflow\n")
    matrix, text = init(tmp_path, report)
    assert axis(matrix, "os") == "bookworm"
    assert axis(matrix, "install") == "system"
    flat = " ".join(" ".join(ln.strip().removeprefix("#") for ln in text.splitlines()).split())
    assert "QUESTION: the report's OS is CentOS 7" in flat
    assert "bookworm is a placeholder" in flat


def test_an_empty_template_infers_nothing_from_its_examples(tmp_path):
    report = tmp_path / "empty.md"
    report.write_text(
        "**System information**\n"
        "- OS Platform and Distribution (e.g., Linux Ubuntu 16.04):\n"
        "- Mobile device (e.g. iPhone 8, Pixel 2, Samsung Galaxy) if the issue happens on "
        "mobile device:\n"
        "- TensorFlow version:\n- Python version:\n- Installed using virtualenv? pip? conda?:\n"
        "- CUDA/cuDNN version:\n- GPU model and memory:\n\n**Describe the problem**\n"
    )
    matrix, text = init(tmp_path, report)
    assert axis(matrix, "os") == "bookworm" and "the report names no OS" in text
    assert axis(matrix, "python") == "system" and axis(matrix, "prior") == "none"
    assert "GPU" not in text and "iPhone" not in text


def test_several_files_and_standard_input(tmp_path, monkeypatch):
    (tmp_path / "os-release").write_text('ID=debian\nVERSION_ID="11"\n')
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"pip install tensorflow==2.15.0\n")))
    matrix, text = init(tmp_path, tmp_path / "os-release", "-")
    assert axis(matrix, "os") == "bullseye"
    assert matrix["target"]["version"] == "==2.15.0"
    assert "stdin:1" in text and "os-release:2" in text


def test_as_of_is_written_to_the_target(tmp_path):
    matrix, _ = init(tmp_path, REPORTS / "rocm-2146-debian12-venv.md", extra=("--as-of", "2023-07-01T00:00:00Z"))
    assert matrix["target"]["as_of"] == "2023-07-01T00:00:00Z"


def test_it_refuses_to_replace_a_matrix_and_names_a_missing_report(tmp_path, capsys):
    out = tmp_path / "matrix.yaml"
    out.write_text("mine\n")
    report = tmp_path / "r.md"
    report.write_text("pip install tensorflow\n")
    assert main(["init", "--from", str(report), "--out", str(out), "--offline"]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert main(["init", "--from", str(tmp_path / "nope.md"), "--out", str(tmp_path / "n.yaml"), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "nope.md" in err and "Traceback" not in err
    assert not (tmp_path / "n.yaml").exists()
    assert main(["init", "--from", str(tmp_path), "--out", str(tmp_path / "d.yaml"), "--offline"]) == 2
    assert not (tmp_path / "d.yaml").exists()


def test_template_fields_take_the_answer_not_the_next_question():
    lines = lines_of(
        "- Python version:\n3.10.2\n- Installed using virtualenv? pip? conda?:\n- GPU:\n\n"
        "### OS platform and distribution\n\nLinux Ubuntu 22.04\n\n### Python version\n\n### Bazel\n",
        "r.md",
    )
    import re

    found = {(f.label, f.value) for f in fields(lines, re.compile(r".*"))}
    assert ("python version", "3.10.2") in found
    assert ("os platform and distribution", "Linux Ubuntu 22.04") in found
    assert not [v for label, v in found if label == "installed using virtualenv pip conda"]
    assert [v for label, v in found if label == "python version"] == ["3.10.2"]


@pytest.mark.parametrize(
    "line,requirements,flags",
    [
        ("$ pip3 install --user --upgrade tensorflow", ("tensorflow",), {"--user", "--upgrade"}),
        ("!pip install -q -U 'tensorflow[and-cuda]==2.16.1'", ("tensorflow[and-cuda]==2.16.1",), {"-q", "-U"}),
        ("sudo -H python3 -m pip install -i ./simple tf-nightly", ("tf-nightly",), {"-i"}),
        ("(venv) % uv pip install tensorflow --python /usr/bin/python3", ("tensorflow",), {"--python"}),
        ("pip install tensorflow | tee log", ("tensorflow",), set()),
        ("pip install 'unclosed", ("'unclosed",), set()),
    ],
)
def test_install_commands_as_typed(line, requirements, flags):
    command = parse_command(line)
    assert command is not None
    assert command.requirements == requirements
    assert command.flags == frozenset(flags)


def test_a_line_that_is_no_command():
    assert parse_command("I tried to pip-install it yesterday") is None
    assert not [c for c in clues_of(lines_of("pip is great\n", "r")) if c.key == "target"]


@pytest.mark.parametrize("report, axes, said", [
    ("### System information\n- OS Platform and Distribution: Ubuntu 22.04 on a Jetson\n"
     "$ uname -m\naarch64\n$ pip install tensorflow\nERROR: No matching distribution found for tensorflow\n",
     {"os": "ubuntu:22.04", "arch": "arm64"}, "Linux on arm64, run under qemu-user emulation"),
    ("Raspberry Pi 4, Raspberry Pi OS 32-bit (Debian 12)\n$ uname -a\n"
     "Linux raspberrypi 6.1.21-v7l+ #1642 SMP armv7l GNU/Linux\n$ pip3 install tensorflow\n",
     {"os": "bookworm", "arch": "armhf"}, "Linux on armhf"),
    ("OS: Windows 10\n$ python -VV\nPython 3.11.4 (tags/v3.11.4:d2340ef, Jun  7 2023) "
     "[MSC v.1934 32 bit (Intel)] on win32\n> pip install tensorflow\n",
     {"platform": "windows-x86", "python": "3.11"}, "windows-x86 cannot run in a container here"),
    ("macOS 14.5 on an Intel MacBook Pro (x86_64)\nPython 3.12.2\n$ pip install -U tensorflow\n",
     {"platform": "macos-x86_64", "python": "3.12"}, "the Python resolved for"),
])
def test_a_reports_machine_and_os_become_the_arch_and_platform_axes(tmp_path, report, axes, said):
    path = tmp_path / "report.md"
    path.write_text(report)
    matrix, text = init(tmp_path, path)
    for name, value in axes.items():
        assert axis(matrix, name) == value, text
    flat = " ".join(" ".join(ln.strip().removeprefix("#") for ln in text.splitlines()).split())
    assert said in flat


def test_several_reports_become_one_cell_each_and_a_shared_cell_is_written_once(tmp_path):
    windows = tmp_path / "win.md"
    windows.write_text(
        "OS: Windows 10\nPython 3.13.0\n```\nC:\\Users\\x> pip install tensorflow\n"
        "ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)\n"
        "ERROR: No matching distribution found for tensorflow\n```\n"
    )
    debian = tmp_path / "debian.md"
    debian.write_text(
        "### OS Platform and Distribution\n\nDebian 11\n\n```\n$ python3 -V\nPython 3.12.1\n"
        "$ pip install tensorflow\nabsl-py==2.1.0\nnumpy==1.26.4\nkeras==3.1.1\n"
        "ERROR: No matching distribution found for tensorflow\n```\n"
    )
    again = tmp_path / "win-again.md"
    again.write_text(windows.read_text())
    freeze = tmp_path / "freeze.txt"  # no command: it belongs to the report before it
    freeze.write_text("protobuf==4.25.3\nml-dtypes==0.3.2\nh5py==3.10.0\n")
    matrix, text = init(tmp_path, windows, debian, freeze, again)
    flat = " ".join(" ".join(ln.strip().removeprefix("#") for ln in text.splitlines()).split())
    assert "3 reports, 2 cells" in flat
    assert matrix["axes"]["platform"] == ["windows-amd64"] and matrix["axes"]["python"] == ["3.13"]
    (debian_cell,) = matrix["include"]
    assert debian_cell["os"] == "bullseye" and debian_cell["python"] == "3.12"
    assert debian_cell["platform"] == "linux" and debian_cell["conflicts"] == "reporter-2"
    assert "protobuf==4.25.3" in matrix["environments"]["reporter-2"]["requirements"]
    assert "win.md, win-again.md describe the same cell: written once" in flat
    # each cell's expectation names the whole cell, so it is that cell's alone
    windows_expect, debian_expect = matrix["expect"]
    assert windows_expect["platform"] == "windows-amd64" and debian_expect["os"] == "bullseye"


def test_reports_with_different_targets_are_refused(tmp_path, capsys):
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    a.write_text("$ pip install tensorflow\n")
    b.write_text("$ pip install torch==2.5.1\n")
    out = tmp_path / "m.yaml"
    assert main(["init", "--from", str(a), str(b), "--out", str(out), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "a.md: tensorflow; b.md: torch ==2.5.1" in err and not out.exists()


AWKWARD = [
    # The template's OS field names Linux on an ARM board; the prose mentions a Mac: the field wins
    ("### OS platform and distribution\n\nUbuntu 22.04 (JetPack 6) on a Jetson Orin\n\n"
     "I'm filing this from my MacBook, the board is headless.\n"
     "```\n$ pip3 install -U tensorflow\n```\n",
     {"os": "ubuntu:22.04", "arch": "arm64"}, ["the report also names macos"]),
    # An OS field filled in with something no pattern knows: said, never "names no OS"
    ("- OS Platform and Distribution: NixOS 24.05\n- Python version: 3.11\n$ pip install tensorflow\n",
     {"os": "other:NixOS 24.05"}, ["QUESTION: the report's OS is NixOS 24.05"]),
    # The empty TensorFlow field is not answered by the next field's line
    ("- TensorFlow version:\n- Python version: 3.10.12\n$ pip install tensorflow\n",
     {"python": "3.10"}, []),
    # The installed version said in a sentence: the version before, as a question
    ("I have tensorflow 2.10.1 installed and want the newest.\n$ pip install -U tensorflow\n",
     {"prior": "2.10.1"}, ["QUESTION: the version before is read only from"]),
    # "Installed using virtualenv? pip? conda?: pip" is pip, not a venv
    ("- Installed using virtualenv? pip? conda?: pip\n$ pip install tensorflow\n",
     {"install": None}, []),
]


@pytest.mark.parametrize("report,facts,says", AWKWARD, ids=[f"awkward-{i}" for i in range(len(AWKWARD))])
def test_awkward_reports_of_our_own(tmp_path, report, facts, says):
    from repromatrix.intake.init import matrix_from

    path = tmp_path / "r.md"
    path.write_text(report)
    written = matrix_from([str(path)])
    reading = written.drafts[0].reading
    for field, value in facts.items():
        assert reading[field].value == value, (field, reading[field])
    flat = " ".join(" ".join(ln.strip().removeprefix("#") for ln in written.text.splitlines()).split())
    assert "the report names no OS" not in flat or reading["os"].value is None
    assert "TensorFlow version is 3.10" not in flat
    for said in says:
        assert said in flat, said
