"""Integration tests run real containers; they need a Docker engine and fail without one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import docker
import pytest

from tests.conftest import REPO

# How long a real-container test may take (pytest-timeout): its own work, or, for the first test
# that uses a shared run of an example matrix, that whole run too (bounded by RUN_TIMEOUT itself).
TEST_TIMEOUT = 900
RUN_TIMEOUT = 1800
SHARED_RUNS: set[str] = set()  # the session fixtures below that make one, by name
# Shared runs too slow for `nox -s tests` on a fresh machine, and why; their tests are marked slow
# (`nox -s slow`, and the nightly workflow, run them).
SLOW_RUNS = {
    "pythons_run": "builds CPython 3.9, 3.11 and 3.13 from Debian's sources: 13 of its 14 minutes",
    "platforms_slow_run": "armhf debootstrapped and run, and arm64 from a prior version, under "
    "emulation: about 5 minutes",
    "extra_index_run": "two armhf suites under emulation: about 4 minutes",
}


def shared_run(fixture):  # noqa: ANN001, ANN201 - a pytest fixture, before @pytest.fixture
    """Marks a session fixture as one real run of a matrix (see TEST_TIMEOUT)."""
    SHARED_RUNS.add(fixture.__name__)
    return fixture


class BackgroundRun:
    """An example run started when the session starts, beside the tests before the first that
    uses it: its fixture waits for it. For a run that keeps the CPU busy (emulation) while the
    early runs mostly wait on pip's retries and timeouts; a base image both want is built once
    (a machine-wide lock in repromatrix)."""

    def __init__(self, name: str, matrix: str, options: tuple[str, ...]) -> None:
        self.out = Path(tempfile.mkdtemp(prefix=f"repromatrix-{name}-"))
        self.matrix, self.options = matrix, options
        self.stdout, self.stderr = (self.out.parent / f"{self.out.name}.{n}" for n in ("out", "err"))
        args = [sys.executable, "-m", "repromatrix", "run", "--matrix", matrix, "--out", str(self.out / "r"),
                *options]
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.popen = subprocess.Popen(args, stdout=out, stderr=err, cwd=REPO, env=dict(os.environ),
                                          text=True)

    def result(self) -> ExampleRun:
        code = self.popen.wait(timeout=RUN_TIMEOUT)
        done = subprocess.CompletedProcess(self.popen.args, code, self.stdout.read_text(), self.stderr.read_text())
        return ExampleRun(self.matrix, self.out / "r", proc=done)


# Shared runs started in the background as the session starts, when a selected test uses them
BACKGROUND: dict[str, tuple[str, tuple[str, ...]]] = {}
_started: dict[str, BackgroundRun] = {}


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    used = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for name, (matrix, options) in BACKGROUND.items():
        if name in used:
            _started[name] = BackgroundRun(name, matrix, options)


def pytest_sessionfinish(session):
    for run in _started.values():  # a session cut short leaves no run behind
        if run.popen.poll() is None:
            run.popen.terminate()
            run.popen.wait(timeout=120)


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.docker)
        if item.get_closest_marker("timeout"):
            continue  # the test names its own
        uses = set(getattr(item, "fixturenames", ()))
        if uses & set(SLOW_RUNS):
            item.add_marker(pytest.mark.slow)
        shares_a_run = SHARED_RUNS & uses
        item.add_marker(pytest.mark.timeout(RUN_TIMEOUT + TEST_TIMEOUT if shares_a_run else TEST_TIMEOUT))


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"integration tests need a Docker engine ({e}); run them via `nox -s tests` after "
                    "`bash scripts/provision-host`, or deselect them with -m 'not docker'")
    return client


def repromatrix(*args: str, cwd: Path = REPO, timeout: int = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repromatrix", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=dict(os.environ))


class ExampleRun:
    """One real run of an example matrix, shared by the tests that inspect it."""

    def __init__(self, matrix: str, out: Path, *options: str,
                 proc: subprocess.CompletedProcess[str] | None = None) -> None:
        self.proc = proc or repromatrix("run", "--matrix", matrix, "--out", str(out), *options)
        self.out = out
        self.dir = (out / "latest").resolve()
        self.results = json.loads((self.dir / "results.json").read_text()) if self.proc.returncode == 0 else {}
        self.cells = {c["id"]: c for c in self.results.get("cells", [])}

    def log(self, cell_id: str) -> str:
        return (self.dir / self.cells[cell_id]["log"]).read_text()


@pytest.fixture(scope="session")
@shared_run
def offline_run(docker_client, tmp_path_factory) -> ExampleRun:
    run = ExampleRun("examples/offline.yaml", tmp_path_factory.mktemp("reports"))
    assert run.proc.returncode == 0, run.proc.stderr[-5000:]
    return run


@pytest.fixture(scope="session")
@shared_run
def causes_run(docker_client, tmp_path_factory) -> ExampleRun:
    # Setups come from the setup cache when their key (the instructions, the files they copy, the local
    # index's content, the recipe) is there: the same setup, so the same cause; a reusing cell's log
    # starts with its setup's kept build log (the damaged cache entry made there). --fresh rebuilt all
    # 38 with --no-cache: 9 of the suite's minutes. Six cells at a time on two cores: most of a cell's
    # time is pip waiting out its retries, stalls and timeouts, not CPU (measured on 2 cores with the
    # setups cached: 323 s at six, 389 s at four, the same outcomes).
    run = ExampleRun("examples/causes.yaml", tmp_path_factory.mktemp("causes"), "--max-parallel", "6")
    assert run.proc.returncode == 0, run.proc.stderr[-5000:]
    return run



def _example_run(name: str):  # noqa: ANN202 - a pytest fixture
    """A session fixture: one real run of examples/NAME.yaml, which must exit 0."""

    def run(docker_client, tmp_path_factory) -> ExampleRun:
        example = ExampleRun(f"examples/{name}.yaml", tmp_path_factory.mktemp(name))
        assert example.proc.returncode == 0, example.proc.stderr[-5000:]
        return example

    run.__name__ = f"{name.replace('-', '_')}_run"
    return pytest.fixture(scope="session", name=run.__name__)(shared_run(run))


pythons_run = _example_run("pythons")
keras3_run = _example_run("keras3")
nightly_run = _example_run("nightly")
and_cuda_run = _example_run("and-cuda")
renamed_run = _example_run("renamed")
extra_index_run = _example_run("extra-index")


# The cells of examples/platforms.yaml in the slow lane: armhf run for real, arm64 from a prior version
SLOW_PLATFORMS = "(arch=armhf and platform=linux) or (arch=arm64 and prior=2.15.0)"


BACKGROUND["platforms_run"] = ("examples/platforms.yaml", ("-k", f"not ({SLOW_PLATFORMS})"))


@pytest.fixture(scope="session")
@shared_run
def platforms_run(docker_client) -> ExampleRun:
    """examples/platforms.yaml but its slow cells (platforms_slow_run): arm64 under emulation (about 3
    minutes on a fresh machine, in the background from the session's start), i386, and the resolved
    cells."""
    started = _started.get("platforms_run") or BackgroundRun("platforms_run", *BACKGROUND["platforms_run"])
    run = started.result()
    assert run.proc.returncode == 0, run.proc.stderr[-5000:]
    return run


@pytest.fixture(scope="session")
@shared_run
def platforms_slow_run(docker_client, tmp_path_factory) -> ExampleRun:
    run = ExampleRun("examples/platforms.yaml", tmp_path_factory.mktemp("platforms-slow"),
                     "-k", SLOW_PLATFORMS)
    assert run.proc.returncode == 0, run.proc.stderr[-5000:]
    return run
backtracking_run = _example_run("backtracking")
installers_run = _example_run("installers")
environments_run = _example_run("environments")
placeholder_run = _example_run("placeholder")


# Cells whose pip fails fast and the same way every time (the index refuses connections), with
# setups of their own: enough time per cell (pip retries for ~9 s) to stop the run in the middle.
QUICK = """\
target: {package: tensorflow, index: "https://127.0.0.1:9/simple/"}
axes: {os: [bookworm], install: [venv, user-venv], ca: [none, host]}
expect: [{outcome: network-error}]
remedies: none  # what is under test is the run's lifecycle; remedies are tested on examples/causes.yaml
"""


def outcomes(run_dir: Path) -> dict[str, tuple[str, str]]:
    cells = json.loads((run_dir / "results.json").read_text())["cells"]
    return {c["id"]: (c["outcome"], c["evidence"][0][:60]) for c in cells}


@pytest.fixture(scope="session")
@shared_run
def quick(docker_client, tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]], Path]:
    """The QUICK matrix, the outcomes of one uninterrupted run of it, and its run directory (run
    with --redact: its redacted copy is tested too)."""
    root = tmp_path_factory.mktemp("quick")
    matrix = root / "quick.yaml"
    matrix.write_text(QUICK)
    proc = repromatrix("run", "--matrix", str(matrix), "--out", str(root / "reports"), "--redact")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = (root / "reports" / "latest").resolve()
    return matrix, outcomes(run_dir), run_dir
