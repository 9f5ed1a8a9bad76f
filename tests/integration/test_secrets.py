"""Index credentials on real containers: a run against the local index behind HTTP basic auth
(`index: local-auth`) upgrades, and the token is nowhere: not in the run directory (Dockerfiles,
logs, results.json, reports), not in what the run printed, not in any layer or the history of
the cell's image."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import REPO

MATRIX = """
target: {package: tensorflow, index: local-auth}
environments:
  companion: {requirements: [tensorflow==2.15.0, tensorflow-decision-forests==1.8.1]}
axes: {os: [bookworm], install: [venv, user-venv], prior: ["2.15.0"], cache: [clean], conflicts: [none]}
include:
  - {os: bookworm, install: venv, prior: "2.15.0", cache: corrupted}
  # A reporter's environment from the index with credentials: installed when the container starts
  - {os: bookworm, install: user-venv, prior: "2.15.0", conflicts: companion}
expect:
  - {outcome: upgraded}
  - {cache: corrupted, outcome: hash-mismatch}
  - {conflicts: companion, outcome: upgraded-inconsistent}
remedies: [remove-blockers, venv]
"""


@pytest.fixture(scope="module")
def credentialed_run(docker_client, tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    (root / "matrix.yaml").write_text(MATRIX)
    token = "tok-" + secrets.token_hex(16)
    env = dict(os.environ, REPROMATRIX_LOCAL_INDEX_TOKEN=token)
    proc = subprocess.run([sys.executable, "-m", "repromatrix", "run", "--matrix", str(root / "matrix.yaml"),
                           "--out", str(root / "reports")], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run_dir = (root / "reports" / "latest").resolve()
    return token, proc, run_dir, json.loads((run_dir / "results.json").read_text())


def spellings(token: str) -> list[bytes]:
    return [token.encode(), base64.b64encode(f"repromatrix:{token}".encode())]


def test_a_credentialed_index_upgrades(credentialed_run):
    _, _, run_dir, results = credentialed_run
    outcomes = {c["id"]: c["outcome"] for c in results["cells"]}
    assert outcomes == {"bookworm-py3.11-venv-tf2.15.0": "upgraded", "bookworm-py3.11-user-venv-tf2.15.0": "upgraded",
                        "bookworm-py3.11-venv-tf2.15.0-cache-corrupted": "hash-mismatch",
                        "bookworm-py3.11-user-venv-tf2.15.0-companion": "upgraded-inconsistent"}
    # The prior version came from the index with credentials, when the container started.
    log = (run_dir / "cells" / "bookworm-py3.11-user-venv-tf2.15.0" / "log.txt").read_text()
    assert "== repromatrix: setup as user: python3 -m pip install tensorflow==2.15.0" in log
    assert results["target"]["index"] == "local-auth"
    # The environment's requirements file, installed in one resolver call with the credentials, and
    # its remedies: each attempt reads the index with them too
    log = (run_dir / "cells" / "bookworm-py3.11-user-venv-tf2.15.0-companion" / "log.txt").read_text()
    assert "== repromatrix: setup as user: python3 -m pip install -r /opt/repromatrix/environment/requirements.txt" \
        in log
    companion = next(c for c in results["cells"] if c["id"].endswith("-companion"))
    assert {a["remedy"]: a["fix"] for a in companion["attempts"]} == {"remove-blockers": "works", "venv": "works"}


def test_the_token_is_in_no_file_of_the_run_and_nothing_it_printed(credentialed_run):
    token, proc, run_dir, _ = credentialed_run
    files = [p for p in run_dir.parent.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        data = path.read_bytes()
        assert not any(s in data for s in spellings(token)), path
    assert token not in proc.stdout + proc.stderr
    dockerfile = (run_dir / "cells" / "bookworm-py3.11-venv-tf2.15.0" / "Dockerfile").read_text()
    assert "ENV PIP_INDEX_URL='https://repromatrix-index:8443/simple/'" in dockerfile
    assert "REPROMATRIX_INDEX_SECRET='/run/secrets/repromatrix-index-url'" in dockerfile


def test_the_token_is_in_no_layer_or_history_of_the_cells_image(credentialed_run, docker_client, tmp_path):
    token, _, run_dir, _ = credentialed_run
    tag = "repromatrix-test/secrets:latest"
    context = run_dir / "cells" / "bookworm-py3.11-venv-tf2.15.0-cache-corrupted"
    try:
        subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True,
                       timeout=900)
        history = subprocess.run(["docker", "history", "--no-trunc", tag], capture_output=True, text=True,
                                 check=True).stdout
        saved = tmp_path / "image.tar"
        subprocess.run(["docker", "save", "-o", str(saved), tag], check=True, timeout=300)
        data = saved.read_bytes()
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    assert "corrupt_cache.py" in history and token not in history
    assert len(data) > 10_000_000 and not any(s in data for s in spellings(token))


def test_run_redact_writes_the_copy_report_redact_writes(quick):
    """`run --redact` (the quick fixture's run, on real containers): the redacted copy of every format,
    the same as `repromatrix report RUN --redact` makes of the finished run, and no absolute path of
    the run or the workspace in any of its files."""
    from tests.integration.conftest import outcomes, repromatrix

    _, uninterrupted, run_dir = quick
    copy = run_dir / "redacted"
    names = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    assert {"index.html", "results.json", "summary.md", "junit.xml", "summary.svg", "summary.png",
            "report.zip"} <= names
    assert any(n.startswith("cells/") and n.endswith("/log.txt") for n in names)
    assert outcomes(copy) == uninterrupted
    for path in copy.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text(errors="replace")
            assert str(run_dir) not in text and str(REPO) not in text, path
    made_by_run = {n: (copy / n).read_bytes() for n in names if not n.endswith((".png", ".zip"))}
    again = repromatrix("report", str(run_dir), "--redact")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {n: (copy / n).read_bytes() for n in made_by_run} == made_by_run
