"""Bad and hostile matrix files: each gives exit 2 and its own error (file, line, key, hint), never a traceback.

tests/data/bad-matrices/*.yaml: the first line of each says `# expect: TEXT`, the error it must
give. The property tests generate hostile values for every field and check that `list` and
`render` raise nothing but the project's own errors, and that no accepted value changes the
structure of a rendered Dockerfile.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from repromatrix.cli import main
from repromatrix.config.matrix import MAX_FILE_BYTES, load_matrix
from repromatrix.core.errors import MatrixError
from tests.conftest import DATA, REPO

CORPUS = sorted((DATA / "bad-matrices").glob("*.yaml"))


def expected(path) -> str:
    head = path.read_bytes().split(b"\n", 1)[0].decode()
    assert head.startswith("# expect: "), path
    return head[len("# expect: "):]


def test_the_corpus_is_large():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_each_bad_file_gives_its_own_error(path, capsys):
    from repromatrix.config.expand import expand

    with pytest.raises(MatrixError) as info:
        expand(load_matrix(path))
    message = str(info.value)
    assert expected(path) in message
    assert message.startswith(f"{path}:") and "\n  hint: " in message  # file (and line), then a fix
    assert main(["list", "--matrix", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: " in err


@pytest.mark.parametrize("name", ["08-escape-in-os", "01-alias-bomb", "11-huge-digits-prior"])
def test_through_the_command_line_it_is_exit_2_and_no_traceback(name):
    path = DATA / "bad-matrices" / f"{name}.yaml"
    for command in (["list"], ["render", "--out", "/nonexistent/never-written"]):
        proc = subprocess.run([sys.executable, "-m", "repromatrix", *command, "--matrix", str(path)],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert (proc.returncode, "Traceback" in proc.stderr) == (2, False), proc.stderr


def test_an_oversized_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("axes: {}\n# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(MatrixError, match="larger than 1024 KiB"):
        load_matrix(path)


def test_a_utf8_bom_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfaxes: {os: [bookworm]}\n")
    assert dict(load_matrix(path).axes)["os"] == ("bookworm",)


def test_quoted_yes_is_text(tmp_path):
    path = tmp_path / "quoted.yaml"
    path.write_text("target: {pre: yes}\naxes: {os: ['yes']}\n")
    with pytest.raises(MatrixError, match="target.pre: 'yes' is not true or false"):
        load_matrix(path)
    path.write_text("target: {pre: true}\naxes: {os: ['yes']}\n")
    assert dict(load_matrix(path).axes)["os"] == ("yes",)


@pytest.mark.parametrize("expression, problem", [
    ("(" * 300 + "venv" + ")" * 300, "nested more than 32 deep"),
    ("(" * 3000 + "venv" + ")" * 3000, "at most 1000"),
    (" or ".join(["venv"] * 600), "at most 1000"),
])
def test_keyword_expressions_are_bounded(expression, problem, capsys):
    assert main(["list", "--matrix", str(REPO / "examples" / "offline.yaml"), "-k", expression]) == 2
    assert problem in capsys.readouterr().err


def test_a_bug_is_exit_4_not_1(monkeypatch, capsys):
    import repromatrix.cli as cli

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setitem(cli.COMMANDS, "list", boom)
    monkeypatch.delenv("REPROMATRIX_DEBUG", raising=False)
    assert main(["list"]) == 4
    err = capsys.readouterr().err
    assert re.search(r"internal error: RuntimeError: simulated bug", err) and "Traceback" not in err
