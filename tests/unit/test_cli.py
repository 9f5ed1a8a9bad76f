"""The command line: exit codes, list/render without Docker, clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from repromatrix.cli import main
from tests.conftest import REPO


def cli(*args: str, env: dict[str, str] | None = None, cwd=REPO) -> subprocess.CompletedProcess[str]:
    import os

    full_env = dict(os.environ) | (env or {})
    return subprocess.run([sys.executable, "-m", "repromatrix", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)


NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_list_json_feeds_ci():
    proc = cli("list", "--matrix", "examples/offline.yaml", "--json", env=NO_DOCKER)
    assert proc.returncode == 0, proc.stderr
    cells = json.loads(proc.stdout)
    ids = [c["id"] for c in cells]
    assert "bookworm-py3.11-system-fresh" in ids and len(ids) == len(set(ids))
    sys_cell = next(c for c in cells if c["id"] == "bookworm-py3.11-system-fresh")
    assert sys_cell["axes"]["install"] == "system" and sys_cell["expect"] == ["externally-managed"]


def test_list_json_is_what_json_dumps_writes(write_matrix, capsys):
    # Streamed cell by cell, yet byte for byte the indented array: cells with no expectation,
    # with one, with several, and a value json must escape (a non-ASCII check name is not an axis;
    # a local version with '+' is, and its id spells it '-').
    path = write_matrix("axes:\n  os: [bookworm, bullseye]\n  prior: [none, '2.15.0+cpu']\n"
                        "expect:\n  - {os: bullseye, outcome: upgraded}\n"
                        "  - {prior: '2.15.0+cpu', outcome: [upgraded, import-error]}\n")
    assert main(["list", "--json", "--matrix", str(path)]) == 0
    out = capsys.readouterr().out
    cells = json.loads(out)
    assert out == json.dumps(cells, indent=2) + "\n"
    assert [c["expect"] for c in cells] == [[], ["upgraded", "import-error"], ["upgraded"],
                                            ["upgraded", "import-error"]]
    assert cells[1]["axes"]["prior"] == "2.15.0+cpu" and cells[1]["id"].endswith("tf2.15.0-cpu")


def test_list_selects(tmp_path):
    proc = cli("list", "--matrix", "examples/offline.yaml", "--only", "trixie-*", "-k", "not system")
    assert proc.stdout.split() == ["trixie-py3.13-venv-fresh", "(expect", "upgraded)",
                                   "trixie-py3.13-venv-tf2.15.0", "(expect", "setup-failed)"]


def test_render_needs_no_docker(tmp_path):
    proc = cli("render", "--matrix", str(REPO / "matrix.yaml"), "--out", str(tmp_path / "df"), env=NO_DOCKER)
    assert proc.returncode == 0, proc.stderr
    contexts = sorted(p.name for p in (tmp_path / "df").iterdir())
    assert "bookworm-py3.11-system-fresh" in contexts
    dockerfile = tmp_path / "df" / "bookworm-py3.11-system-fresh" / "Dockerfile"
    assert dockerfile.read_text().startswith("# repromatrix cell")


def test_bad_matrix_is_exit_2_without_traceback(write_matrix):
    path = write_matrix("axes:\n  os: [bookworm]\n  prior_version: [none]\n")
    proc = cli("list", "--matrix", str(path))
    assert proc.returncode == 2
    assert f"{path}:3: axes.prior_version: unknown key 'prior_version'" in proc.stderr
    assert "did you mean 'prior'?" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["run", "--max-parallel", "0"], ["frobnicate"], ["list", "-k", "a and"]])
def test_usage_errors_are_exit_2(args):
    proc = cli(*args)
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_no_docker_is_exit_3_and_leaves_nothing(tmp_path):
    proc = cli("run", "--matrix", str(REPO / "examples/offline.yaml"), "--out", str(tmp_path / "r"), env=NO_DOCKER)
    assert proc.returncode == 3, proc.stderr
    assert "no Docker engine answers" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def stored_run(tmp_path, outcome: str):
    """A run directory holding only a results.json with one cell."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps({
        "schema": 1, "run_id": "r1", "matrix": "m.yaml", "target": {"package": "tensorflow", "version": "",
        "index": "default"}, "started": "s", "finished": "f",
        "cells": [{"id": "c1", "axes": {"os": "bookworm"}, "outcome": outcome, "evidence": ["why"]}]}))
    return run_dir


def test_report_rerenders_without_docker(tmp_path):
    run_dir = stored_run(tmp_path, "upgraded")
    proc = cli("report", str(run_dir), env=NO_DOCKER)
    assert proc.returncode == 0, proc.stderr
    assert "c1" in (run_dir / "index.html").read_text()


def test_report_of_missing_run_is_exit_2(tmp_path):
    proc = cli("report", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "cannot read results" in proc.stderr


def test_report_formats_and_output(tmp_path):
    run_dir = stored_run(tmp_path, "import-error")
    proc = cli("report", str(run_dir), env=NO_DOCKER)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["index.html", "junit.xml", "results.json", "summary.md",
                                                        "summary.png", "summary.svg"]
    proc = cli("report", str(run_dir), "--format", "md", "-o", str(tmp_path / "comment.md"))
    assert proc.returncode == 0 and "1 unexpected" in (tmp_path / "comment.md").read_text()
    proc = cli("report", str(run_dir), "-o", str(tmp_path / "x"))
    assert proc.returncode == 2 and "name one --format" in proc.stderr


def test_remedies_option_names_a_wrong_remedy_and_suggests_one(capsys):
    assert main(["run", "--remedies", "venv,trust-caa"]) == 2
    err = capsys.readouterr().err
    assert "unknown remedy 'trust-caa'" in err and "did you mean 'trust-ca'?" in err and "Traceback" not in err


def test_remedy_command_on_a_run_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    assert main(["remedy", str(tmp_path / "nope"), "some-cell", "--out", str(tmp_path)]) == 2
    assert "is not a run directory with a run.json" in capsys.readouterr().err


@pytest.mark.parametrize("value, code", [("0", 2), ("false", 2), ("", 2), ("maybe", 2), ("on", 2)])
def test_debug_takes_only_documented_values(tmp_path, value, code):
    # 0/false/"" mean off (the missing run is exit 2 as without the variable); others are refused.
    proc = cli("report", str(tmp_path / "nope"), env={"REPROMATRIX_DEBUG": value})
    assert proc.returncode == code and "Traceback" not in proc.stderr
    refused = value in ("maybe", "on")
    assert ("REPROMATRIX_DEBUG='" in proc.stderr) is refused, proc.stderr


def test_debug_on_shows_an_internal_errors_traceback(monkeypatch, capsys):
    import repromatrix.cli as cli_module

    def broken(args, console):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli_module.COMMANDS, "list", broken)
    monkeypatch.setenv("REPROMATRIX_DEBUG", "0")
    assert main(["list"]) == 4 and "internal error: RuntimeError: a bug" in capsys.readouterr().err
    monkeypatch.setenv("REPROMATRIX_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["list"])


def test_list_and_render_refuse_more_than_max_cells_unless_yes(write_matrix, tmp_path):
    # 3 x 2 x 40 = 240 cells against a limit of 100: refused before a cell is made or written.
    priors = ", ".join(f"'2.{i}.0'" for i in range(40))
    path = write_matrix(f"axes: {{os: [bookworm, bullseye, trixie], install: [venv, system], prior: [{priors}]}}\n"
                        "settings: {max_cells: 100}\n")
    for args in (("list",), ("list", "--json"), ("render", "--out", str(tmp_path / "out"))):
        proc = cli(*args, "--matrix", str(path), env=NO_DOCKER)
        assert proc.returncode == 2, proc.stderr
        assert "the selection has 240 cells, more than 100" in proc.stderr and "--yes to" in proc.stderr
    assert not (tmp_path / "out").exists()
    assert len(cli("list", "--yes", "--matrix", str(path)).stdout.splitlines()) == 240
    narrow = cli("list", "--matrix", str(path), "-k", "bookworm and venv")  # 40 cells: allowed
    assert narrow.returncode == 0 and len(narrow.stdout.splitlines()) == 40


@pytest.mark.parametrize("where", ["a-file", "a-file/below", "/proc/no-such-dir/out"])
def test_an_unwritable_out_is_exit_2_naming_it(tmp_path, where):
    (tmp_path / "a-file").write_text("x")
    out = str(tmp_path / where) if not where.startswith("/") else where
    proc = cli("render", "--matrix", "examples/offline.yaml", "--out", out, env=NO_DOCKER)
    assert proc.returncode == 2, proc.stderr
    named = out.rsplit("/", 1)[0]  # the path, or the part of it that failed
    assert named in proc.stderr and "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_an_unwritable_report_output_is_exit_2(tmp_path):
    run_dir = stored_run(tmp_path, "upgraded")
    proc = cli("report", str(run_dir), "--format", "md", "-o", "/proc/self/no-such/summary.md", env=NO_DOCKER)
    assert proc.returncode == 2 and "/proc/self/no-such" in proc.stderr and "internal error" not in proc.stderr
