"""Several Docker engines in one run, without Docker: settings.hosts, --docker-host, how cells are
spread, and Ctrl-C reaching every engine's scheduler from the run's main thread."""

from __future__ import annotations

import threading
import time

import pytest

from repromatrix.cli import main
from repromatrix.config.matrix import load_matrix
from repromatrix.config.shard import split
from repromatrix.core.errors import MatrixError
from repromatrix.core.model import Cell, HostSpec
from repromatrix.core.outcomes import Outcome
from repromatrix.execute.runner import CellRunner, Finished, run_all
from repromatrix.judge.classify import classify
from tests.unit.fake_engine import FakeEngine
from tests.unit.test_scheduling import make_jobs

BASE = "target: {package: tensorflow}\naxes: {os: [bookworm]}\n"


def test_settings_hosts_are_read_with_their_own_max_parallel(write_matrix):
    matrix = load_matrix(write_matrix(BASE + """settings:
  hosts:
    - default
    - {url: "ssh://ci@build2.example", max_parallel: 6}
    - unix:///run/other/docker.sock
"""))
    assert matrix.settings.hosts == (HostSpec("default"), HostSpec("ssh://ci@build2.example", 6),
                                     HostSpec("unix:///run/other/docker.sock"))
    assert matrix.settings.hosts[1].label == "ssh://build2.example"  # reports never carry a user name


@pytest.mark.parametrize(("hosts", "said"), [
    ('["ftp://x"]', "is not unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST"),
    ('["tcp://admin:hunter2@build2:2376"]', "a password in the address would reach logs"),
    ('["unix://"]', "names no socket path"),
    ('["default", "default"]', "names one engine twice"),
    ('[{url: "tcp://b:2375", max_parallel: 0}]', "is not a positive whole number"),
    ('[{url: "tcp://b:2375", parallel: 2}]', "unknown key 'parallel'"),
    ("[]", "must be a list of Docker engines"),
    ('["tcp://b:2375; rm -rf /"]', "whitespace"),
])
def test_a_bad_host_is_refused_naming_the_file_line_and_key(write_matrix, hosts, said):
    path = write_matrix(BASE + f"settings:\n  hosts: {hosts}\n")
    with pytest.raises(MatrixError, match="settings.hosts") as e:
        load_matrix(path)
    assert said in str(e.value) and f"{path}:4" in str(e.value)
    assert "hunter2" not in str(e.value)


def test_a_bad_docker_host_on_the_command_line_is_a_usage_error(write_matrix, capsys):
    assert main(["run", "--matrix", str(write_matrix(BASE)), "--docker-host", "ssh://u:pw@h"]) == 2
    assert "a password in the address" in capsys.readouterr().err


def test_an_engine_that_runs_more_cells_at_once_gets_more_of_them():
    cells = [Cell(id=f"c{i:02d}", values=()) for i in range(12)]
    shares = split(cells, {c.id: 60.0 for c in cells}, 2, speeds=[4, 2])
    assert [len(s.cells) for s in shares] == [8, 4]
    assert sorted(c.id for s in shares for c in s.cells) == [c.id for c in cells]


def test_ctrl_c_in_the_main_thread_stops_every_engines_scheduler(tmp_path):
    engines = [FakeEngine(quick_runs=1), FakeEngine(quick_runs=1)]  # each finishes a cell, then hangs
    cancel = threading.Event()
    finished: dict[int, Finished] = {}

    def one(i: int) -> None:
        jobs, cache = make_jobs(tmp_path / str(i), engines[i])
        finished[i] = run_all(CellRunner(engines[i], "net", 60, cache=cache), jobs, 2, lambda job: None,
                              lambda run: None, cancel=cancel)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    while sum(len(e.runs) for e in engines) < 4:
        time.sleep(0.01)
    cancel.set()  # what the main thread does on KeyboardInterrupt
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    for i, engine in enumerate(engines):
        assert finished[i].stopped == "interrupted"
        outcomes = [classify(r.observation).outcome for r in finished[i].runs]
        assert Outcome.INTERRUPTED in outcomes and outcomes[0] is not Outcome.INTERRUPTED
        assert engine.removed_containers  # each engine's own cells were killed on it


@pytest.mark.parametrize("engines", [1, 2])
def test_each_engine_starts_its_longest_cells_first(write_matrix, tmp_path, engines):
    """A run ends when its last cell does: the cell that waits out pip's retries (no-route) and
    then tries its remedies starts at once, not after the quick ones the matrix lists first."""
    from types import SimpleNamespace

    from repromatrix.pipeline.hosts import spread
    from repromatrix.pipeline.prepare import load_cells
    from repromatrix.plan.plan import RenderContext, plan_cell

    path = write_matrix("""
        target: {package: tensorflow, index: local}
        axes: {os: [bookworm, bullseye], install: [venv, system], network: [direct]}
        include: [{os: bookworm, install: venv, network: no-route}]
        expect: [{network: no-route, outcome: network-error}]
    """)
    matrix, cells = load_cells(path)
    assert cells[-1].axes["network"] == "no-route"  # the matrix lists it last
    ctx = RenderContext(target=matrix.target)
    plans = [plan_cell(c, ctx) for c in cells]
    options = SimpleNamespace(remedies=None, out=tmp_path)  # no earlier run: the axes' estimates
    scope = SimpleNamespace(prepared=SimpleNamespace(matrix=matrix), options=options)
    hosts = [SimpleNamespace(parallel=2) for _ in range(engines)]
    shares = spread(scope, plans, hosts)  # type: ignore[arg-type]
    assert sorted(p.cell.id for share in shares for p in share) == sorted(c.id for c in cells)
    holder = next(share for share in shares if any(p.cell.axes["network"] == "no-route" for p in share))
    assert holder[0].cell.axes["network"] == "no-route"
