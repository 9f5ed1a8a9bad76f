"""Resource lifecycle: Ctrl-C cleans up; base images are built with debootstrap when missing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from repromatrix.infra.baseimages import build_debian_image, provision_one
from repromatrix.infra.docker_engine import LABEL_BASE, LABEL_RUN, DockerEngine
from tests.conftest import REPO
from tests.support import default_sigint


def start_run(matrix, out, *options: str):  # noqa: ANN001, ANN201
    """A child `repromatrix run` with SIGINT's default disposition, and its run id."""
    proc = subprocess.Popen([sys.executable, "-m", "repromatrix", "run", "--matrix", str(matrix),
                             "--out", str(out), *options], cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ), preexec_fn=default_sigint)
    return proc, re.search(r"run (\S+):", proc.stderr.readline()).group(1)


def stop_when(proc, ready, what: str, stop: int = signal.SIGTERM) -> str:  # noqa: ANN001
    """Send `stop` once `ready()` holds (within 10 minutes); the run must exit 130. Its stderr."""
    deadline = time.monotonic() + 600
    while not ready():
        assert proc.poll() is None and time.monotonic() < deadline, f"no {what} ever ran"
        time.sleep(0.1)
    proc.send_signal(stop)
    rest = proc.communicate(timeout=600)[1]
    assert proc.returncode == 130, rest
    return rest


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; a cancelled CI job, docker stop
def test_ctrl_c_removes_everything_of_the_run(docker_client, tmp_path, stop):
    # Cells whose pip spends seconds in retries, so the interrupt surely lands mid-cell; the
    # run also has the proxy, its internal network and the local index to clean up.
    matrix = tmp_path / "slow.yaml"
    matrix.write_text("target: {index: local}\naxes: {os: [bookworm], network: [proxy-down, no-route]}\n"
                      "remedies: none\n")
    out = tmp_path / "reports"
    proc, run_id = start_run(matrix, out, "--max-parallel", "1")

    def a_cell_runs() -> bool:
        return bool(docker_client.containers.list(filters={"label": [f"{LABEL_RUN}={run_id}",
                                                                     "org.repromatrix.role=cell"]}))

    rest = stop_when(proc, a_cell_runs, "cell container", stop)
    assert "interrupted" in rest and "Traceback" not in rest
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}) == []
    assert docker_client.networks.list(filters={"label": f"{LABEL_RUN}={run_id}"}) == []
    assert docker_client.images.list(filters={"label": f"{LABEL_RUN}={run_id}"}) == []
    # What finished is kept, with the reports, and says the run was interrupted.
    stopped = json.loads((out / run_id / "results.json").read_text())
    assert stopped["stopped"] == "interrupted" and stopped["planned"] == 2
    assert "interrupted" in [c["outcome"] for c in stopped["cells"]]


def test_sigterm_during_a_setup_build_is_interrupted_and_left_for_resume(docker_client, tmp_path):
    """Seen on the real index: SIGTERM while a cell's setup built recorded it as setup-failed
    ("returned a non-zero code: 137"), a verdict --resume then kept."""
    matrix = tmp_path / "setup.yaml"
    matrix.write_text("target: {index: local}\naxes: {os: [bookworm]}\nremedies: none\n")
    out = tmp_path / "reports"
    # --fresh: the setup is built now (apt-get from Debian's mirror, seconds), not reused
    proc, run_id = start_run(matrix, out, "--fresh")
    network = f"repromatrix-{run_id}"

    def setup_step_running() -> bool:  # the builder's step container: on the run's network, unlabelled
        return any("python3-venv" in " ".join(box.attrs["Config"]["Cmd"] or [])
                   for box in docker_client.containers.list(filters={"network": network}))

    stop_when(proc, setup_step_running, "setup build step")
    (cell,) = json.loads((out / run_id / "results.json").read_text())["cells"]
    assert cell["outcome"] == "interrupted", cell
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}) == []
    journal = [json.loads(line) for line in (out / run_id / "cells.jsonl").read_text().splitlines()]
    assert [c["outcome"] for c in journal] == ["interrupted"] and journal[0].get("rerun")


def test_sigterm_during_a_remedy_attempt_keeps_the_cell_and_marks_its_attempts_not_tried(docker_client, tmp_path):
    """The cell's own answer (proxy-error, in seconds) is kept; the attempt the signal stopped
    (a remedy against a dead proxy waits out pip's retries: a minute), and those not started,
    are `interrupted`, never a remedy's verdict."""
    matrix = tmp_path / "attempts.yaml"
    matrix.write_text("target: {index: local}\naxes: {os: [bookworm], network: [proxy-down]}\n"
                      "remedies: auto\n")
    out = tmp_path / "reports"
    proc, run_id = start_run(matrix, out)

    def an_attempt_runs() -> bool:
        boxes = docker_client.containers.list(filters={"label": f"{LABEL_RUN}={run_id}"})
        return any("-fix-" in box.name for box in boxes)

    stop_when(proc, an_attempt_runs, "remedy attempt")
    (cell,) = json.loads((out / run_id / "results.json").read_text())["cells"]
    assert cell["outcome"] == "proxy-error" and not cell.get("rerun"), cell  # its own answer, kept
    attempts = [a["outcome"] for a in cell["attempts"]]
    assert "interrupted" in attempts, attempts  # the one the signal stopped
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}) == []


def test_debootstrap_builds_a_missing_debian_image(docker_client):
    engine = DockerEngine("test-debootstrap")
    tag = "repromatrix-test/debian:bookworm"
    try:
        build_debian_image(engine, "bookworm", tag)
        image = docker_client.images.get(tag)
        assert image.labels[LABEL_BASE] == "debootstrap bookworm"
        release = docker_client.containers.run(tag, ["cat", "/etc/os-release"], remove=True).decode()
        assert 'VERSION_CODENAME=bookworm' in release
    finally:
        docker_client.images.remove(tag, force=True)


def test_present_image_is_used_as_is(offline_run, docker_client):
    said: list[str] = []
    assert provision_one(DockerEngine("test-present"), "debian:bookworm", said.append).how == "present"
    assert said == []


def test_a_container_is_only_on_the_network_it_asks_for(docker_client):
    """No second way out: internal networks are only worth something if the cell has no other."""
    engine = DockerEngine("test-networks")
    try:
        internal = engine.create_network("repromatrix-test-networks-internal", internal=True)
        with engine.container("debian:bookworm", name="repromatrix-test-networks", role="cell", network=internal,
                              aliases=("probe",)) as box:
            networks = docker_client.containers.get(box.name).attrs["NetworkSettings"]["Networks"]
            assert list(networks) == [internal]
            assert "probe" in networks[internal]["Aliases"]
    finally:
        engine.cleanup()


def test_clean_removes_what_a_killed_run_left_behind(docker_client):
    """A run killed with SIGKILL cleans nothing; `repromatrix clean --run` does."""
    leftover = DockerEngine("test-clean-killed")
    leftover.create_network("repromatrix-test-clean-killed")
    box = docker_client.containers.create("debian:bookworm", labels=leftover.labels("cell"))
    other = DockerEngine("test-clean-other")
    other.create_network("repromatrix-test-clean-other")
    try:
        proc = subprocess.run([sys.executable, "-m", "repromatrix", "clean", "--run", "test-clean-killed"],
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        assert proc.returncode == 0 and "removed 1 containers, 1 networks, 0 images" in proc.stderr
        flt = {"label": f"{LABEL_RUN}=test-clean-killed"}
        assert docker_client.containers.list(all=True, filters=flt) == []
        assert docker_client.networks.list(filters=flt) == []
        assert docker_client.networks.list(filters={"label": f"{LABEL_RUN}=test-clean-other"})  # untouched
    finally:
        other.cleanup()
        with contextlib.suppress(Exception):
            box.remove(force=True)


def test_a_setup_that_a_rebuild_replaced_is_removed_from_the_cache(docker_client, tmp_path):
    from repromatrix.core.model import CacheMode
    from repromatrix.infra.setupcache import SetupCache

    tag = f"repromatrix-cache/setup:test-stale-{os.getpid()}"
    ids = []
    for content in ("old", "new"):  # what `--fresh` does: the same key, built again, takes the tag
        (tmp_path / "Dockerfile").write_text("FROM debian:bookworm\nLABEL org.repromatrix.cache=setup "
                                             f"org.repromatrix.cache.key=test-stale\nRUN echo {content} > /v\n")
        ids.append(docker_client.images.build(path=str(tmp_path), tag=tag, rm=True)[0].id)
    try:
        engine = DockerEngine("test-stale")
        assert any(i.stale and i.ref == ids[0] for i in engine.cached_images("setup"))
        gone = SetupCache(engine, CacheMode.REUSE, "x").evict(10**15)  # a budget nothing exceeds
        assert ids[0] in [g.ref for g in gone]
        left = {i.id for i in docker_client.images.list(filters={"label": "org.repromatrix.cache=setup"})}
        assert ids[0] not in left and ids[1] in left
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)
