"""Fast, resumable runs on real containers: a warm run builds no setup; Ctrl-C, SIGKILL and a lost
Docker engine keep every finished cell, and `run --resume` finishes the run with the same results
as a run that was never stopped.

The lost engine is a dockerd this test starts itself, on its own socket, data root and address
pool (no default bridge, no iptables: it touches nothing of the shared engine), and kills.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from repromatrix.core.result import RunResult
from repromatrix.infra.docker_engine import LABEL_RUN
from repromatrix.results.formats import md
from tests.conftest import REPO
from tests.integration.conftest import ExampleRun, outcomes, repromatrix
from tests.support import default_sigint


def start(matrix: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "repromatrix", "run", "--matrix", str(matrix), "--out", str(out),
                             "--max-parallel", "1"], cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env=env or dict(os.environ), preexec_fn=default_sigint)


def wait_for_cells(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 600) -> Path:
    """The run directory, once its journal holds n finished cells."""
    deadline = time.monotonic() + timeout
    while True:
        journals = list(out.glob("*/cells.jsonl"))
        if journals and len(journals[0].read_text().splitlines()) >= n:
            return journals[0].parent
        assert proc.poll() is None, f"the run ended before {n} cells: {proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no {n} finished cells within {timeout}s"
        time.sleep(0.3)


def test_a_warm_run_builds_no_setup_and_gets_the_same_results(offline_run, tmp_path):
    # One setup rebuilt now (--fresh), so its build log is surely kept, whatever ran before.
    fresh = repromatrix("run", "--matrix", "examples/offline.yaml", "--only", "bookworm-py3.11-venv-tf2.15.0",
                        "--fresh", "--out", str(tmp_path / "fresh"))
    assert fresh.returncode == 0 and "setup built" in fresh.stderr, fresh.stderr[-3000:]
    # Remedies add nothing to what is compared here (outcomes, setups, logs): the warm run skips them.
    warm = ExampleRun("examples/offline.yaml", tmp_path / "warm", "--remedies", "none")
    assert warm.proc.returncode == 0, warm.proc.stderr[-3000:]
    setups = {cid: cell["setup"] for cid, cell in warm.cells.items()}
    # A setup that failed is not cached (it is tried again); every other cell reuses its setup.
    assert {s for cid, s in setups.items() if warm.cells[cid]["outcome"] != "setup-failed"} == {"cached"}, setups
    assert all(warm.cells[cid]["setup_image"].startswith("repromatrix-cache/setup:") for cid in setups
               if setups[cid] == "cached")
    assert {cid: c["outcome"] for cid, c in warm.cells.items()} == {
        cid: c["outcome"] for cid, c in offline_run.cells.items()}
    assert "setup built" not in warm.proc.stderr
    # A reusing cell's log still shows how its setup was made: the kept build log of its image.
    log = warm.log("bookworm-py3.11-venv-tf2.15.0")
    assert log.startswith("== setup: reused the cached image repromatrix-cache/setup:")
    assert "python3 -m pip install tensorflow==2.15.0" in log


def test_ctrl_c_keeps_finished_cells_and_resume_completes_the_run(quick, docker_client, tmp_path):
    matrix, uninterrupted, _ = quick
    out = tmp_path / "reports"
    proc = start(matrix, out)
    run_dir = wait_for_cells(out, 1, proc)
    time.sleep(2)  # the next cell is in its container now
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, rest
    assert "incomplete:" in rest and "Traceback" not in rest
    run_id = run_dir.name
    flt = {"label": f"{LABEL_RUN}={run_id}"}
    assert docker_client.containers.list(all=True, filters=flt) == []
    assert docker_client.networks.list(filters=flt) == []
    assert docker_client.images.list(filters=flt) == []
    stopped = json.loads((run_dir / "results.json").read_text())
    assert stopped["stopped"] == "interrupted" and stopped["planned"] == 4
    kept = [c for c in stopped["cells"] if not c["rerun"]]
    assert kept and all(c["outcome"] == "network-error" for c in kept)
    assert [c["outcome"] for c in stopped["cells"] if c["rerun"]] == ["interrupted"]
    said = RunResult.from_json(stopped).incomplete
    assert said.startswith("incomplete: ") and said.count(" of 4 cells (interrupted; ") == 1
    assert md(said) in (run_dir / "summary.md").read_text() and html.escape(said) in (
        run_dir / "index.html").read_text()

    resumed = repromatrix("run", "--resume", run_id, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{4 - len(kept)} of 4 cells left" in resumed.stderr
    assert outcomes(run_dir) == uninterrupted
    final = json.loads((run_dir / "results.json").read_text())
    assert final["stopped"] == "" and not any(c["rerun"] for c in final["cells"])
    # The cells finished before Ctrl-C were not run again.
    for cell in kept:
        assert f"] {cell['id']}: " not in resumed.stderr


def test_sigkill_then_resume_completes_the_run(quick, docker_client, tmp_path):
    matrix, uninterrupted, _ = quick
    out = tmp_path / "reports"
    proc = start(matrix, out)
    run_dir = wait_for_cells(out, 1, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert not (run_dir / "results.json").exists()
    # What a killed process leaves is readable as it is: a report of the journal, marked incomplete.
    partial = repromatrix("report", str(run_dir), "--format", "md", "-o", "-")
    assert partial.returncode == 0 and md("incomplete: 1 of 4 cells") in partial.stdout, partial.stderr
    resumed = repromatrix("run", "--resume", str(run_dir), "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "3 of 4 cells left" in resumed.stderr
    assert outcomes(run_dir) == uninterrupted
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_dir.name}"}) == []


class OwnDockerd:
    """A dockerd of the test's own: its socket, data root, exec root, default bridge and address pool.

    What would touch the shared engine is avoided: with `--bridge none` a dockerd deletes the host's
    docker0 (the shared engine's), and so does a restart on a data root whose network store holds
    its default network (which is why that store is removed before a restart; images and
    containers stay). No iptables: it adds no rules to the host's.
    """

    def __init__(self, root: Path, bridge: str, net: int = 213) -> None:
        # Its addresses: the bridge 10.<net+1>.0.1/24, networks from the pool 10.<net>.0.0/16.
        self.root, self.bridge, self.net = root, bridge, net
        self.host = f"unix://{root}/docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.root.mkdir(exist_ok=True)
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode:
            for command in (["ip", "link", "add", self.bridge, "type", "bridge"],
                            ["ip", "addr", "add", f"10.{self.net + 1}.0.1/24", "dev", self.bridge],
                            ["ip", "link", "set", self.bridge, "up"]):
                subprocess.run(command, check=True, capture_output=True)
        (self.root / "data" / "network" / "files" / "local-kv.db").unlink(missing_ok=True)
        log = (self.root / "dockerd.log").open("ab")
        self.starts += 1
        # A fresh exec root per start: what a killed engine left there (its containerd's state, the
        # shims of the containers it ran) would make the new containerd wait on their clean-up.
        self.proc = subprocess.Popen(
            ["dockerd", "--host", self.host, "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / f"exec{self.starts}"), "--pidfile", str(self.root / "docker.pid"),
             "--bridge", self.bridge, "--iptables=false", "--ip-masq=false", "--ip6tables=false",
             "--default-address-pool", f"base=10.{self.net}.0.0/16,size=24"], stdout=log, stderr=log,
            start_new_session=True)  # its own process group: dockerd and the containerd it starts
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(Exception):
                if docker.DockerClient(base_url=self.host, timeout=5).ping():
                    return
            assert self.proc.poll() is None and time.monotonic() < deadline, (self.root / "dockerd.log").read_text()
            time.sleep(0.5)

    def kill(self) -> None:
        """The engine dies at once: dockerd and its containerd, with SIGKILL."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        # The shims of its containers run in sessions of their own; they go with it too.
        subprocess.run(["pkill", "-KILL", "-f", f"{self.root}/exec{self.starts}/"], capture_output=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=60)


@contextlib.contextmanager
def dockerd_of_our_own(name: str, net: int) -> Iterator[OwnDockerd]:
    """A started OwnDockerd, stopped and removed afterwards (with its bridge)."""
    # A short path: unix socket paths are limited to 108 bytes.
    root = Path(f"/tmp/rm-{name}-{os.getpid()}")
    daemon = OwnDockerd(root, f"rm{name[:4]}{os.getpid() % 100000}", net)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        subprocess.run(["umount", "-R", str(root / "data")], capture_output=True)
        subprocess.run(["ip", "link", "del", daemon.bridge], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    assert subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0, \
        "the shared engine's docker0 is gone"


@pytest.fixture
def own_dockerd():
    with dockerd_of_our_own("dockerd", 213) as daemon:
        yield daemon


def load_images(daemon: OwnDockerd, refs: list[str]) -> None:
    """What the shared engine has for these cells, as `docker save | docker load` (the same image ids),
    so the test's engine needs no network."""
    subprocess.run(f"docker save {' '.join(refs)} | DOCKER_HOST={daemon.host} docker load", shell=True,
                   check=True, capture_output=True, timeout=600)


def test_a_lost_engine_gives_infra_error_and_exit_3_and_resume_finishes(quick, docker_client, own_dockerd, tmp_path):
    matrix, uninterrupted, _ = quick
    # The engine starts with what the shared one has for these cells: their base image and cached setups.
    ours = docker.DockerClient(base_url=own_dockerd.host, timeout=600)
    load_images(own_dockerd, ["debian:bookworm", *sorted(setups_of(matrix, tmp_path))])
    env = dict(os.environ, DOCKER_HOST=own_dockerd.host)
    out = tmp_path / "reports"
    proc = start(matrix, out, env)
    run_dir = wait_for_cells(out, 1, proc)
    began = time.monotonic()
    own_dockerd.kill()
    rest = proc.communicate(timeout=180)[1]
    assert time.monotonic() - began < 120, "the run hung on the lost engine"
    assert proc.returncode == 3, rest
    assert "Traceback" not in rest and "internal error" not in rest
    lost = json.loads((run_dir / "results.json").read_text())
    assert lost["stopped"] == "engine-lost"
    unfinished = [c for c in lost["cells"] if c["rerun"]]
    assert unfinished and all(c["outcome"] == "infra-error" and "the Docker engine stopped answering"
                              in c["evidence"][0] for c in unfinished)
    assert [c["outcome"] for c in lost["cells"] if not c["rerun"]] == ["network-error"]

    own_dockerd.start()
    resumed = subprocess.run([sys.executable, "-m", "repromatrix", "run", "--resume", run_dir.name,
                              "--out", str(out)], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outcomes(run_dir) == uninterrupted
    assert ours.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_dir.name}"}) == []


def setups_of(matrix: Path, tmp_path: Path) -> set[str]:
    """The cached setup images the QUICK cells use on the shared engine (a warm run says which)."""
    proc = repromatrix("run", "--matrix", str(matrix), "--out", str(tmp_path / "warm"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = json.loads(((tmp_path / "warm" / "latest").resolve() / "results.json").read_text())["cells"]
    return {c["setup_image"] for c in cells}
