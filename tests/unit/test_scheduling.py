"""The scheduler, the setup cache, Ctrl-C, engine loss and the disk guard, on a fake engine (no Docker).

The same behaviours are exercised on real containers in tests/integration/test_resume.py; these
tests pin down the logic in a fraction of a second each.
"""

from __future__ import annotations

import _thread
import functools
import signal
import threading
import time
from pathlib import Path

import pytest

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.model import CacheMode
from repromatrix.core.outcomes import Outcome
from repromatrix.execute import runner as runner_module
from repromatrix.execute.runner import CellJob, CellRun, CellRunner, run_all
from repromatrix.infra.setupcache import INDEX_STATE_ARG, SetupCache
from repromatrix.judge.classify import classify
from repromatrix.pipeline.hosts import _jobs
from repromatrix.plan.plan import RenderContext, plan_cell
from tests.unit.fake_engine import FakeEngine

MATRIX = """
target: {package: tensorflow}
axes:
  os: [bookworm, trixie]
  install: [venv, system]
  prior: [none, "2.15.0"]
  ca: [none]
"""


def make_jobs(tmp_path: Path, engine: FakeEngine, mode: CacheMode = CacheMode.REUSE,
              text: str = MATRIX) -> tuple[list[CellJob], SetupCache]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.yaml"
    path.write_text(text)
    matrix = load_matrix(path)
    ctx = RenderContext(target=matrix.target, index_url="https://idx.example/simple/")
    plans = [plan_cell(c, ctx) for c in expand(matrix)]
    cache = SetupCache(engine, mode, "index https://idx.example/simple/")
    return _jobs(matrix, plans, ctx, tmp_path / "run", {}, cache), cache


def run(engine: FakeEngine, jobs: list[CellJob], cache: SetupCache, parallel: int = 4,
        on_done=lambda run: None):  # noqa: ANN001, ANN202
    runner = CellRunner(engine, "net", 60, cache=cache)
    return run_all(runner, jobs, parallel, lambda job: None, on_done)


def setup_builds(engine: FakeEngine) -> list[str]:
    return [tag for tag, target in engine.builds if target == "setup"]


def test_each_setup_is_built_once_and_a_second_run_builds_none(tmp_path):
    engine = FakeEngine()
    jobs, cache = make_jobs(tmp_path, engine)
    first = run(engine, jobs, cache)
    assert len(first.runs) == 8 and not first.stopped
    distinct = {cache.key(job.context, job.plan.base_image) for job in jobs}
    assert len(setup_builds(engine)) == len(distinct) == cache.built
    assert all(tag.startswith("repromatrix-cache/setup:") for tag in setup_builds(engine))
    assert max(engine.concurrent_setups[t] for t in setup_builds(engine)) == 1

    engine.builds.clear()
    jobs, cache = make_jobs(tmp_path / "again", engine)
    second = run(engine, jobs, cache)
    assert setup_builds(engine) == [] and cache.built == 0
    assert {r.setup for r in second.runs} == {"cached"}
    assert len([b for b in engine.builds if b[1] is None]) == 8  # every cell still gets its own image


def test_cells_with_the_same_setup_wait_for_the_first_and_others_run_in_parallel(tmp_path):
    # Two cells share one setup (they differ only in the network, which is not part of the setup
    # here: proxy cells' ENV is), and a third shares nothing with them but the base image.
    engine = FakeEngine(build_seconds=0.3)
    text = MATRIX.replace("install: [venv, system]", "install: [venv]").replace('prior: [none, "2.15.0"]',
                                                                               "prior: [none]")
    text += "  conflicts: [none, constraints]\n"
    jobs, cache = make_jobs(tmp_path, engine, text=text)
    started: list[tuple[float, str]] = []
    runner = CellRunner(engine, "net", 60, cache=cache)
    run_all(runner, jobs, 8, lambda job: started.append((time.monotonic(), job.plan.cell.id)), lambda run: None)
    assert len(setup_builds(engine)) == len({cache.key(j.context, j.plan.base_image) for j in jobs})
    # Cells on bookworm share the venv prefix: the second starts only after the first's setup.
    by_share: dict[str | None, list[float]] = {}
    for job in jobs:
        when = next(t for t, cid in started if cid == job.plan.cell.id)
        by_share.setdefault(job.share, []).append(when)
    shared = [times for share, times in by_share.items() if share is not None]
    assert shared and all(max(t) - min(t) >= 0.25 for t in shared)
    # ... and cells of different shares started together.
    firsts = sorted(min(t) for t in by_share.values())
    assert firsts[-1] - firsts[0] < 0.25


def test_refresh_rebuilds_each_setup_once_and_off_builds_each_cell_whole(tmp_path):
    engine = FakeEngine()
    jobs, cache = make_jobs(tmp_path, engine)
    run(engine, jobs, cache)
    engine.builds.clear()
    jobs, cache = make_jobs(tmp_path / "fresh", engine, CacheMode.REFRESH)
    run(engine, jobs, cache)
    assert len(setup_builds(engine)) == len(set(setup_builds(engine))) == cache.built > 0
    engine.builds.clear()
    jobs, cache = make_jobs(tmp_path / "off", engine, CacheMode.OFF)
    finished = run(engine, jobs, cache)
    # Off: each cell one whole build of its own, like `docker build --no-cache` by hand.
    assert setup_builds(engine) == [] and len(engine.builds) == len(jobs) == cache.built
    assert {r.setup for r in finished.runs} == {"uncached"}


def test_ctrl_c_stops_starting_cells_and_marks_the_running_ones_interrupted(tmp_path):
    engine = FakeEngine(quick_runs=1)  # the first cell finishes; the next ones are still running ...
    jobs, cache = make_jobs(tmp_path, engine)

    def press_ctrl_c(run: CellRun) -> None:
        raise KeyboardInterrupt  # ... when the user presses Ctrl-C

    finished = run(engine, jobs, cache, parallel=2, on_done=press_ctrl_c)
    assert finished.stopped == "interrupted"
    outcomes = [classify(r.observation).outcome for r in finished.runs]
    assert outcomes[0] is not Outcome.INTERRUPTED and not finished.runs[0].rerun  # finished: kept as it is
    assert outcomes[1:] == [Outcome.INTERRUPTED] and finished.runs[1].rerun
    assert len(finished.runs) == 2 < len(jobs)  # the queued cells were never started
    assert engine.removed_containers and "org.repromatrix.role=cell" in engine.removed_containers[0]["label"]
    assert engine.stopped_builds == ["net"]  # and the builds on the run's network


def test_a_lost_engine_turns_running_and_waiting_cells_into_infra_errors_without_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "WATCH_EVERY", 0.2)
    engine = FakeEngine()
    jobs, cache = make_jobs(tmp_path, engine)
    engine.hang.set()  # cell runs never return, as on an engine that stopped answering
    engine.answering = False
    began = time.monotonic()
    finished = run(engine, jobs, cache, parallel=2)
    assert time.monotonic() - began < 10
    assert finished.stopped == "engine-lost"
    assert len(finished.runs) == len(jobs)
    verdicts = [classify(r.observation) for r in finished.runs]
    assert {v.outcome for v in verdicts} == {Outcome.INFRA_ERROR}
    assert all(r.rerun for r in finished.runs)
    assert any("while this cell ran" in v.evidence[0] for v in verdicts)
    assert any("before this cell started" in v.evidence[0] for v in verdicts)
    engine.killed.set()


def test_the_disk_guard_fails_a_cell_with_the_numbers_instead_of_filling_the_disk(tmp_path):
    engine = FakeEngine(disk=200 * 10**6)
    jobs, cache = make_jobs(tmp_path, engine)
    finished = run(engine, jobs[:1], cache)
    verdict = classify(finished.runs[0].observation)
    assert verdict.outcome is Outcome.INFRA_ERROR
    assert "200.0 MB free" in verdict.evidence[0] and "needs about 3.0 GB" in verdict.evidence[0]
    assert engine.builds == []


def test_cells_being_built_count_against_free_disk(tmp_path):
    engine = FakeEngine(disk=int(4.5 * 10**9), build_seconds=0.3)
    jobs, cache = make_jobs(tmp_path, engine)
    fresh = [j for j in jobs if j.plan.prior is None][:2]  # 3 GB each: only one fits at once
    finished = run(engine, fresh, cache, parallel=2)
    outcomes = sorted(classify(r.observation).outcome.value for r in finished.runs)
    assert outcomes.count("infra-error") >= 1
    short = next(classify(r.observation) for r in finished.runs
                 if classify(r.observation).outcome is Outcome.INFRA_ERROR and "promised" in
                 classify(r.observation).evidence[0])
    assert "3.0 GB of it promised to cells being built" in short.evidence[0]


@pytest.mark.parametrize("budget,kept", [(250, 2), (10**9, 4), (0, 0)])
def test_eviction_keeps_the_most_recently_used_within_budget(budget, kept):
    from repromatrix.infra.engine import CachedImage
    from repromatrix.infra.setupcache import to_evict

    images = [CachedImage(f"c:{i}", 100, f"2026-11-2{i}T00:00:00", "") for i in range(4)]
    gone = to_evict(images, budget)
    assert len(images) - len(gone) == kept
    assert all(g.last_used <= min(i.last_used for i in images if i not in gone) for g in gone) if gone and kept \
        else True
    assert to_evict(images, 0, keep=["c:0"]) == [i for i in reversed(images) if i.ref != "c:0"]


def test_a_setup_a_refresh_replaced_is_removed_whatever_the_budget():
    from repromatrix.infra.engine import LABEL_CACHE

    engine = FakeEngine()
    engine.images = {"repromatrix-cache/setup:new": {LABEL_CACHE: "setup"}, "sha256:0ld": {LABEL_CACHE: "setup"}}
    gone = SetupCache(engine, CacheMode.REUSE, "x").evict(10**12)
    assert [g.ref for g in gone] == ["sha256:0ld"] and list(engine.images) == ["repromatrix-cache/setup:new"]


def test_a_setup_another_live_run_may_use_is_not_evicted_from_under_it(tmp_path, monkeypatch):
    """Found when one run's eviction removed 37 setups a concurrent nox -s matrix was using."""
    import fcntl
    import os

    from repromatrix.core.files import live_lock
    from repromatrix.infra.engine import LABEL_CACHE

    monkeypatch.setenv("REPROMATRIX_CACHE_DIR", str(tmp_path))
    engine = FakeEngine()
    engine.images = {"repromatrix-cache/setup:a": {LABEL_CACHE: "setup"}}  # last used 2026-11-24
    lock = live_lock("20261123-000000-other")
    lock.parent.mkdir(parents=True)
    lock.touch()
    os.utime(lock, (1795392000, 1795392000))  # 2026-11-23T00:00:00Z: before that use
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held as a live run holds it (another process, in the field)
    try:
        assert SetupCache(engine, CacheMode.REUSE, "x").evict(0) == []
    finally:
        os.close(fd)
    assert [g.ref for g in SetupCache(engine, CacheMode.REUSE, "x").evict(0)] == ["repromatrix-cache/setup:a"]


def test_services_start_wired_and_are_removed_also_when_one_never_gets_ready(tmp_path, monkeypatch):
    from rich.console import Console

    from repromatrix.core.axes import RunNeeds, Service
    from repromatrix.core.errors import InfraError
    from repromatrix.infra import services

    needs = RunNeeds(services=frozenset({Service.PROXY, Service.FAULT_INJECTOR}))
    quiet = Console(quiet=True)
    engine = FakeEngine(service_says="Accepting HTTP Socket connections\nfault injector listening\n")
    with services.proxy_service(engine, "net", needs, None, {}, tmp_path, quiet) as proxy:
        assert proxy is not None and proxy.network.endswith("-internal")
        assert sorted(engine.boxes) == ["repromatrix-fake-flaky", "repromatrix-fake-proxy"]
        assert all(box.networks == ["net", proxy.network] for box in engine.boxes.values())
    assert engine.boxes == {}
    assert (tmp_path / "proxy-access.log").exists() and (tmp_path / "faults.log").exists()

    monkeypatch.setattr(services, "wait_until", functools.partial(services.wait_until, timeout=0.5))
    engine = FakeEngine(service_says="squid: FATAL: no port\n")
    with pytest.raises(InfraError, match="did not start: squid: FATAL"):
        with services.proxy_service(engine, "net", needs, None, {}, tmp_path, quiet):
            pass
    assert engine.started and engine.boxes == {}


def _attempts_for_every_cell(names: tuple[str, ...]):  # noqa: ANN202
    """A remedy planner that tries `names` on every cell (the fake cells all upgrade)."""
    from repromatrix.execute.runner import AttemptJob
    from repromatrix.installers import installer
    from repromatrix.judge.remedies import Facts, plan_one
    pip = installer("pip")
    remedies = {r.name: r for r in pip.remedies}

    def plan(run: CellRun) -> list[AttemptJob]:
        facts = Facts(package="tensorflow", requirement="tensorflow", upgrade=("python3", "-m", "pip", "install",
                      "--upgrade", "tensorflow"), upgrader="root", home="/root", version="25.1", has_proxy=True)
        plans = [plan_one(remedies[n], facts, pip) for n in names]
        return [AttemptJob(run, p) for p in plans if p is not None]
    return plan


def test_remedy_attempts_share_the_slots_and_a_cell_is_done_only_after_its_attempts(tmp_path):
    engine = FakeEngine(run_seconds=0.1)
    jobs, cache = make_jobs(tmp_path, engine)
    runner = CellRunner(engine, "net", 60, cache=cache)
    seen: list[tuple[str, int]] = []
    finished = run_all(runner, jobs, 3, lambda job: None, lambda r: seen.append((r.job.plan.cell.id, len(r.attempts))),
                       _attempts_for_every_cell(("upgrade-pip", "purge-cache", "venv")))
    assert not finished.stopped and len(finished.runs) == len(jobs)
    assert [n for _, n in seen] == [3] * len(jobs)  # reported once each, with every attempt
    attempts = [name for name in engine.runs if "-fix-" in name]
    assert len(attempts) == 3 * len(jobs)
    assert engine.most_running == 3  # cells and attempts together stay within max_parallel
    assert setup_builds(engine) and all(b[1] in ("setup", None) for b in engine.builds)
    assert len([b for b in engine.builds if b[1] is None]) == len(jobs)  # attempts build nothing
    venv = engine.envs[next(n for n in attempts if n.endswith("-fix-venv"))]
    assert venv["REPROMATRIX_PATH"] == "/root/fix-venv/bin" and '"venv"' in venv["REPROMATRIX_BEFORE"]
    cell = finished.runs[0]
    assert (cell.job.context / "remedies" / "venv.log").read_text().startswith("$ python3 -m venv /root/fix-venv")


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler for the test: interrupt_main() does nothing where SIGINT is ignored
    (a suite started as a shell's background job) and the test would wait forever."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_attempts_keeps_the_cell_and_marks_its_attempts_not_tried(tmp_path, python_sigint_handler):
    engine = FakeEngine(quick_runs=2)  # the cell and its first attempt finish; the second never does
    jobs, cache = make_jobs(tmp_path, engine)

    runner = CellRunner(engine, "net", 60, cache=cache)
    done: list[CellRun] = []
    planner = _attempts_for_every_cell(("upgrade-pip", "purge-cache", "venv"))

    def ctrl_c_soon() -> None:  # the user presses Ctrl-C while the second attempt runs
        while len([n for n in engine.runs if "-fix-" in n]) < 2:
            time.sleep(0.01)
        time.sleep(0.1)
        _thread.interrupt_main()

    threading.Thread(target=ctrl_c_soon, daemon=True).start()
    finished = run_all(runner, jobs[:1], 1, lambda job: None, done.append, planner)
    assert finished.stopped == "interrupted"
    (cell,) = finished.runs
    assert not cell.rerun and classify(cell.observation).outcome is not Outcome.INTERRUPTED  # kept as it ran
    outcomes = [classify(a.observation).outcome for a in cell.attempts]
    assert len(cell.attempts) == 3 and outcomes.count(Outcome.INTERRUPTED) == 2  # the running one, the queued one
    assert done == [cell]  # reported once, with its attempts


# -- a fault is never a verdict ---------------------------------------------------------------
def test_a_setup_build_the_interruption_killed_is_interrupted_not_setup_failed(tmp_path):
    """Seen on the real index: SIGTERM during a setup build removed its step container, the
    builder said "returned a non-zero code: 137", and the cell was kept as setup-failed."""
    engine = FakeEngine(setup_hangs=True)
    jobs, cache = make_jobs(tmp_path, engine)
    cancel = threading.Event()

    def stop_while_building() -> None:
        while not engine.builds:
            time.sleep(0.01)
        cancel.set()  # what the SIGTERM handler does

    threading.Thread(target=stop_while_building, daemon=True).start()
    runner = CellRunner(engine, "net", 60, cache=cache)
    finished = run_all(runner, jobs, 2, lambda job: None, lambda run: None, cancel=cancel)
    assert finished.stopped == "interrupted" and engine.stopped_builds == ["net"]
    assert finished.runs and all(r.rerun for r in finished.runs)  # --resume runs them again
    assert {classify(r.observation).outcome for r in finished.runs} == {Outcome.INTERRUPTED}


ENGINE_FAULTS = [  # build errors that are the engine's, not the Dockerfile's
    "failed to register layer: write /usr/lib/x86_64-linux-gnu/libLLVM.so.15: no space left on device",
    "Error removing intermediate container 4c1f2e: removal of container 4c1f2e is already in progress",
    "unknown parent image ID sha256:8e1d",
]


@pytest.mark.parametrize("fault", ENGINE_FAULTS)
def test_a_build_the_engine_failed_is_infra_error_and_is_run_again(tmp_path, fault):
    from repromatrix.infra.docker_engine import engine_fault_in
    from repromatrix.infra.engine import BuildResult

    engine = FakeEngine(setup_result=BuildResult(False, "Step 2/9 : RUN apt-get update\n",
                                                 "RUN apt-get update", fault, engine_fault_in(fault)))
    jobs, cache = make_jobs(tmp_path, engine)
    finished = run(engine, jobs[:1], cache)
    verdict = classify(finished.runs[0].observation)
    assert verdict.outcome is Outcome.INFRA_ERROR
    assert fault in verdict.evidence[0]


def test_a_setup_step_whose_own_command_failed_stays_a_verdict(tmp_path):
    """The control: pip failing in the setup (captured from a real build) is setup-failed."""
    from repromatrix.infra.docker_engine import engine_fault_in
    from repromatrix.infra.engine import BuildResult

    log = (Path(__file__).parents[1] / "data" / "records"
           / "local-trixie-py3.13-venv-tf2.15.0.build.txt").read_text()
    said = next(line for line in log.splitlines() if "returned a non-zero code" in line)
    step = 'RUN : repromatrix-setup && python3 -m pip install "tensorflow==2.15.0"'
    assert engine_fault_in(said) == ""
    engine = FakeEngine(setup_result=BuildResult(False, log, step, said, engine_fault_in(said)))
    jobs, cache = make_jobs(tmp_path, engine)
    finished = run(engine, jobs[:1], cache)
    assert classify(finished.runs[0].observation).outcome is Outcome.SETUP_FAILED
    assert not finished.runs[0].rerun


LOCAL = """
target: {package: tensorflow, index: local}
axes:
  os: [bookworm]
  install: [venv]
  prior: ["2.15.0"]
  ca: [none]
  pip: [PIPS]
"""


def test_a_setup_is_keyed_to_the_index_it_reads_not_to_the_other_cells_of_its_run(tmp_path):
    # The local index serves the real wheels every cell's pins name. A cell's setup reads only its
    # own: the same cell keeps its key in a run with more pins (a shard, a bigger matrix), and a
    # build of it is told what it reads, so Docker's layer cache cannot take layers made against
    # another index (their logs would say only "Using cache").
    engine = FakeEngine()
    alone, cache = make_jobs(tmp_path / "alone", engine, text=LOCAL.replace("PIPS", "os"))
    wider, wider_cache = make_jobs(tmp_path / "wider", engine, text=LOCAL.replace("PIPS", 'os, "23.0"'))
    same = {job.plan.cell.id: job for job in wider}[alone[0].plan.cell.id]
    assert cache.key(alone[0].context, alone[0].plan.base_image, alone[0].reads) == \
        wider_cache.key(same.context, same.plan.base_image, same.reads)
    pinned = next(job for job in wider if job is not same)
    assert "pip==23.0" in pinned.reads and "pip==23.0" not in same.reads
    run(engine, wider, wider_cache)
    states = {args[INDEX_STATE_ARG] for tag, args in engine.buildargs.items() if tag.startswith("repromatrix-cache/")}
    assert states == {wider_cache.index_state(same.reads), wider_cache.index_state(pinned.reads)}
    assert len(states) == 2
