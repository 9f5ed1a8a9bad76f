"""An attached run directory names a run id; only its owner token proves which Docker objects
are its own (issue 20, item 3). `run --resume` and `remedy` pointed at a fake engine (a real
HTTP server on a unix socket, spoken to by the real docker SDK) that also holds another run's
objects under the same run id: the requests it records show what they touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from repromatrix.core.result import CellResult
from repromatrix.infra.engine import LABEL_OWNER, LABEL_ROLE, LABEL_RUN
from repromatrix.pipeline.prepare import load_cells
from repromatrix.plan.plan import RenderContext, plan_cell
from repromatrix.plan.render import render_cell
from repromatrix.results.journal import OWNER, Journal, RunHeader, matrix_hash, new_owner, owner_label
from tests.conftest import REPO
from tests.unit.fake_dockerd import FakeDockerd, Thing, fake_dockerd

RUN_ID = "20261202-101500-beef"
# Two cells, no CA, no local index, no remedies: nothing but the housekeeping asks for Docker
MATRIX = "target: {package: tensorflow}\naxes: {os: [bookworm], install: [venv, system], ca: [none]}\nremedies: none\n"


@pytest.fixture
def engine() -> Iterator[FakeDockerd]:
    folder = Path(tempfile.mkdtemp(prefix="rm-", dir="/tmp"))  # a socket's path is short
    try:
        with fake_dockerd(folder / "docker.sock") as fake:
            fake.add("image", "debian:bookworm", {})
            yield fake
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def objects_of(engine: FakeDockerd, owner: str) -> list[Thing]:
    """A container, a network and an image of run RUN_ID, labelled with `owner`."""
    labels = {LABEL_RUN: RUN_ID, LABEL_OWNER: owner, LABEL_ROLE: "cell"}
    return [engine.add("container", f"repromatrix-{RUN_ID}-{owner[:6]}", labels),
            engine.add("network", f"repromatrix-{RUN_ID}-{owner[:6]}", labels),
            engine.add("image", f"repromatrix/cell-{owner[:6]}:{RUN_ID}", labels)]


def stopped_run(tmp_path: Path, token: str | None) -> Path:
    """A run directory as a stopped run (or an attacker) leaves it: one cell finished, with its
    build context, one not; with `token` in its .owner, or none."""
    matrix = tmp_path / "m.yaml"
    matrix.write_text(MATRIX)
    _, cells = load_cells(matrix)
    journal = Journal(tmp_path / "reports" / RUN_ID)
    journal.start(RunHeader(run_id=RUN_ID, matrix=str(matrix), matrix_sha256=matrix_hash(matrix),
                            cells=[c.id for c in cells], started="2026-12-02T10:15:00+00:00",
                            target={"package": "tensorflow", "version": "", "index": "default"},
                            matrix_file=str(matrix)))
    ctx = RenderContext(target=load_cells(matrix)[0].target)
    render_cell(plan_cell(cells[0], ctx), ctx, journal.run_dir / "cells")
    journal.record(CellResult(id=cells[0].id, axes=dict(cells[0].axes), outcome="upgraded", evidence=["..."]))
    if token:
        journal.claim(token)
    return journal.run_dir


def repromatrix(engine: FakeDockerd, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=f"unix://{engine.socket}")  # the engine both commands use
    return subprocess.run([sys.executable, "-m", "repromatrix", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env=env)


def cell_of(run_dir: Path) -> str:
    return json.loads((run_dir / "cells.jsonl").read_text().splitlines()[0])["id"]


COMMANDS = {
    "resume": lambda run_dir: ("run", "--resume", str(run_dir)),
    "remedy": lambda run_dir: ("remedy", str(run_dir), cell_of(run_dir), "--remedies", "upgrade-pip"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("attached", ["no token", "a token of its own"])
def test_an_attached_run_naming_another_runs_id_touches_none_of_its_objects(engine, tmp_path, command, attached):
    victims = objects_of(engine, owner_label(new_owner()))  # a run of this machine, same id
    run_dir = stopped_run(tmp_path, None if attached == "no token" else new_owner())
    proc = repromatrix(engine, *COMMANDS[command](run_dir))
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1, 3), proc.stderr
    assert all(engine.present(v) for v in victims), engine.removed
    mine = owner_label(Journal(run_dir).owner() or "")
    assert all(t.labels.get(LABEL_OWNER) == mine for t in engine.removed)  # only what it made
    for r in engine.requests:  # every listing it removed from asked for its own token's objects
        if r.method == "GET" and r.path in ("/containers/json", "/networks", "/images/json"):
            labels = r.filters.get("label", [])
            assert any(x.startswith(f"{LABEL_RUN}=") for x in labels) <= (f"{LABEL_OWNER}={mine}" in labels), r
    if attached == "no token":
        assert "no owner token" in proc.stderr and (run_dir / OWNER).is_file()  # claimed from now on


def test_the_owners_own_directory_removes_what_its_stopped_process_left(engine, tmp_path):
    """The control: the same resume, from the directory whose token the objects carry."""
    token = new_owner()
    left = objects_of(engine, owner_label(token))
    others = objects_of(engine, owner_label(new_owner()))
    proc = repromatrix(engine, "run", "--resume", str(stopped_run(tmp_path, token)))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not any(engine.present(t) for t in left), engine.things
    assert all(engine.present(t) for t in others)
    # The resumed run is not under the output directory (reports/ of the working directory): no
    # `latest` is pointed at it there, where its name would be a dangling link.
    latest = REPO / "reports" / "latest"
    assert not latest.is_symlink() or os.readlink(latest) != RUN_ID


@pytest.mark.parametrize("command", COMMANDS)
def test_a_run_live_on_this_machine_is_not_acted_on_from_any_directory(engine, tmp_path, command):
    token = new_owner()
    live = Journal(tmp_path / "live" / RUN_ID)
    live.run_dir.mkdir(parents=True)
    objects = objects_of(engine, owner_label(token))
    copy = stopped_run(tmp_path, token)  # even with the live run's own token
    with live.lock(RUN_ID):
        proc = repromatrix(engine, *COMMANDS[command](copy))
    assert proc.returncode == 2 and f"run {RUN_ID} is live in another repromatrix process" in proc.stderr
    assert engine.changes() == [] and all(engine.present(t) for t in objects)


def test_an_engine_that_answers_500_is_an_engine_error_exit_3(engine, tmp_path):
    """Infrastructure, not the user's input (2) and not a crash (4)."""
    engine.broken = True
    matrix = tmp_path / "m.yaml"
    matrix.write_text(MATRIX)
    proc = repromatrix(engine, "run", "--matrix", str(matrix), "--out", str(tmp_path / "reports"))
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
