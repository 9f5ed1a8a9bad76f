"""One run over two Docker engines, on real containers: both engines are dockerds this test starts
itself (each its own socket, data root, exec root, bridge and address pool; never the shared one).
The cells land on both; when one engine is killed mid-run, the run finishes, its cells that did not
finish are infra-error, the other engine's cells are as they would be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import docker
import pytest

from repromatrix.infra.docker_engine import LABEL_RUN
from tests.conftest import REPO
from tests.integration.conftest import outcomes
from tests.integration.test_resume import dockerd_of_our_own, load_images, setups_of, wait_for_cells


@pytest.fixture
def two_engines(quick, tmp_path):
    matrix, _, _ = quick
    refs = ["debian:bookworm", *sorted(setups_of(matrix, tmp_path))]
    with dockerd_of_our_own("eng1", 215) as one, dockerd_of_our_own("eng2", 217) as two:
        for daemon in (one, two):
            load_images(daemon, refs)
        yield one, two


def run_over(matrix, out, *hosts) -> subprocess.Popen[str]:
    args = [a for host in hosts for a in ("--docker-host", host)]
    return subprocess.Popen([sys.executable, "-m", "repromatrix", "run", "--matrix", str(matrix), "--out", str(out),
                             "--max-parallel", "1", *args], cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


# 123 s of `nox -s tests` on a fresh 2-core machine (its second dockerd), over its 30 minutes: the
# nightly's slow lane runs it (`nox -s slow`); a lost engine's infra-error and resume stay in
# tests/integration/test_resume.py, and the spread over hosts in tests/unit/test_hosts.py
@pytest.mark.slow
def test_cells_spread_over_two_engines_and_one_lost_engine_ends_in_infra_error(quick, two_engines, tmp_path):
    matrix, uninterrupted, _ = quick
    one, two = two_engines

    proc = run_over(matrix, tmp_path / "both", one.host, two.host)
    err = proc.communicate(timeout=900)[1]
    assert proc.returncode == 0, err[-3000:]
    run_dir = (tmp_path / "both" / "latest").resolve()
    cells = json.loads((run_dir / "results.json").read_text())["cells"]
    on = {c["id"]: c["host"] for c in cells}
    assert set(on.values()) == {one.host, two.host}  # cells landed on both engines
    assert outcomes(run_dir) == uninterrupted  # and got what one engine gives
    assert "over 2 Docker hosts" in err and f"on {two.host}" in err
    for daemon in (one, two):  # each engine cleaned up after itself
        client = docker.DockerClient(base_url=daemon.host, timeout=60)
        assert client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_dir.name}"}) == []
        assert client.networks.list(filters={"label": f"{LABEL_RUN}={run_dir.name}"}) == []

    out = tmp_path / "lost"
    proc = run_over(matrix, out, one.host, two.host)
    lost_dir = wait_for_cells(out, 1, proc)
    began = time.monotonic()
    two.kill()
    rest = proc.communicate(timeout=300)[1]
    assert time.monotonic() - began < 150, "the run hung on the lost engine"
    assert proc.returncode == 3, rest[-3000:]
    assert "Traceback" not in rest and "internal error" not in rest
    result = json.loads((lost_dir / "results.json").read_text())
    assert result["stopped"] == "engine-lost" and len(result["cells"]) == len(uninterrupted)
    lost = [c for c in result["cells"] if c["host"] == two.host and c["rerun"]]
    assert lost and all(c["outcome"] == "infra-error" and "the Docker engine stopped answering" in c["evidence"][0]
                        for c in lost)
    kept = [c for c in result["cells"] if c["host"] == one.host]
    assert kept and all(not c["rerun"] and c["outcome"] == "network-error" for c in kept)  # the other engine's
    # What a killed run leaves on an engine is cleaned there by naming it.
    cleaned = subprocess.run([sys.executable, "-m", "repromatrix", "clean", "--run", lost_dir.name, "--docker-host",
                              one.host], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert cleaned.returncode == 0 and f"Docker host {one.host}: removed" in cleaned.stderr, cleaned.stderr
