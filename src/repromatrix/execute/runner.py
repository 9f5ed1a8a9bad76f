"""Stage 4: build and run one fresh container per cell; report what was observed.

Each cell's setup comes from the setup cache (setupcache.py): reused, or built once per run by
the first cell that needs it while the cells sharing it wait; everything else runs in parallel
within max_parallel. Each cell's log (build + run output) is written next to its Dockerfile.

The scheduler (`run_all`) never hangs on a lost engine: a watchdog pings it, and when it stops
answering the running and waiting cells become infra-error at once. Ctrl-C stops starting
cells, kills the running ones (they become `interrupted`) and returns what finished.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..cell import contract
from ..cell.contract import parse_record
from ..cell.fields import RecordError
from ..cell.observation import Observation
from ..core.files import size_said, write_atomic
from ..core.model import CacheMode
from ..core.platforms import EMULATION_SLOWDOWN
from ..core.result import Verdict
from ..infra.credentials import redact
from ..infra.downloadcache import DownloadCache
from ..infra.engine import BuildResult, Engine, run_filter
from ..infra.services import ProxySetup
from ..infra.setupcache import SetupCache, scenario_dockerfile
from ..installers.remedy import AttemptPlan, Resource
from ..plan.plan import CellPlan


def observed(
    output: str, exit_code: int | None, timed_out: bool, build_log: str = ""
) -> Observation:
    """What a container left: its output, and the record parsed from it once (or why it is none)."""
    try:
        record, problem = parse_record(output), ""
    except RecordError as e:
        record, problem = None, str(e)
    return Observation(
        build_log=build_log,
        record=record,
        record_error=problem,
        output=output,
        exit_code=exit_code,
        timed_out=timed_out,
    )


def build_failed(build: BuildResult, log: str) -> Observation:
    """A failed build as evidence: only a step's own command failing (pip's, in the setup) is a
    verdict; the engine failing the build (connection lost, an API error, a layer it could not
    write) is infra-error, which `run --resume` runs again."""
    if build.engine_fault:
        return Observation(infra_reason=f"the Docker engine failed the build: {build.engine_fault}")
    setup_step = contract.is_setup_step(build.failed_step)
    return Observation(build_ok=False, build_log=log, setup_failed=setup_step)


@dataclass(frozen=True)
class CellJob:
    plan: CellPlan
    context: Path  # the rendered build context
    base_error: str = ""  # why the base image is unavailable, if it is
    # The setup prefix it shares with other cells (setupcache.share_points)
    share: str | None = None
    reads: str = ""  # what its setup reads of the index beyond the run's fingerprint
    # Its architecture runs under qemu-user on this engine: its time limits are scaled for it
    emulated: bool = False

    @property
    def slowdown(self) -> float:
        return EMULATION_SLOWDOWN if self.emulated else 1.0


@dataclass
class CellRun:
    job: CellJob
    observation: Observation
    durations: dict[str, float] = field(default_factory=dict)
    log_path: Path | None = None
    # "cached", "built", "failed", or "uncached" (cache: off): what the setup cache did
    setup: str = ""
    setup_image: str = ""
    rerun: bool = False  # the run stopped before the cell finished
    verdict: Verdict | None = None  # the classifier's, decided once when the cell finished
    attempts: list[AttemptRun] = field(default_factory=list)  # remedies tried on the cell's image
    # What of its downloads went through the run's download cache: "", "setup" or "all"
    downloads: str = ""


@dataclass(frozen=True)
class AttemptJob:
    """One remedy to try in a fresh container of a finished cell's image."""

    cell: CellRun
    plan: AttemptPlan

    @property
    def id(self) -> str:
        return f"{self.cell.job.plan.cell.id}~{self.plan.remedy.name}"


@dataclass
class AttemptRun:
    job: AttemptJob
    observation: Observation
    seconds: float = 0.0
    log_path: Path | None = None


@dataclass(frozen=True)
class IndexSecret:
    """The index URL with credentials, as a file every cell mounts read-only; what to redact."""

    path: Path
    redact: tuple[str, ...]


class CellRunner:
    def __init__(
        self,
        engine: Engine,
        network: str | None,
        timeout: int,
        proxy: ProxySetup | None = None,
        index_secret: IndexSecret | None = None,
        cache: SetupCache | None = None,
        remedy_ca: Path | None = None,
        downloads: DownloadCache | None = None,
    ) -> None:
        self.engine, self.network, self.timeout, self.proxy = engine, network, timeout, proxy
        self.downloads = downloads  # the run's download cache, if it has one running
        self.index_secret = index_secret
        self.remedy_ca = remedy_ca  # the CA bundle an attempt that trusts the CA mounts
        self.cache = cache or SetupCache(engine)
        self.stop = threading.Event()
        # Told when a cell's setup image is ready (or failed): cells sharing its prefix may start.
        self.setup_ready: Callable[[CellJob], None] = lambda job: None
        self._reserved = 0  # disk the cells now building may still fill
        self._disk_lock = threading.Lock()

    def run(self, job: CellJob) -> CellRun:
        if job.base_error:
            return self.finish(job, Observation(infra_reason=job.base_error), {}, "")
        if self.stop.is_set():
            return self.interrupted(job, {}, "")
        with self._disk(job) as short:
            if short:
                return self.finish(job, Observation(infra_reason=short), {}, "")
            return self._build_and_run(job)

    def through_cache(self, job: CellJob) -> str:
        """What of the cell's downloads go through the download cache now: its plan's route,
        if the run has the cache running."""
        return job.plan.downloads if self.downloads is not None else ""

    def _proxy(self, job: CellJob, when: str) -> dict[str, str]:
        """The download cache's proxy variables for the cell's builds (`when` "setup") or for
        its upgrade and remedies ("all"); none where its route does not cover them."""
        route = self.through_cache(job)
        covered = route == "all" or (route == "setup" and when == "setup")
        return self.downloads.variables() if covered and self.downloads else {}

    def _build_and_run(self, job: CellJob) -> CellRun:
        tag = f"{job.plan.image_tag}:{self.engine.run_id}"
        durations: dict[str, float] = {}
        built_with = self._proxy(job, "setup")  # Docker's predefined proxy build arguments
        if self.cache.mode is CacheMode.OFF:
            # Like `docker build --no-cache` of the context by hand: nothing shared, nothing kept.
            started = time.monotonic()
            build = self.engine.build(
                job.context,
                tag,
                self.network,
                self.engine.labels("cell-image"),
                nocache=True,
                buildargs=built_with or None,
            )
            self.cache.built += 1
            setup_how, setup_image, setup_log = "uncached", "", ""
        else:
            setup = self.cache.ensure(
                job.context, job.plan.base_image, self.network, job.reads, built_with
            )
            self.setup_ready(job)
            setup_how, setup_image = setup.how, setup.image
            durations = {"setup": setup.seconds} if setup.build else {}
            setup_log = self._redact(setup.build.log) if setup.build else self.cache.kept_log(setup)
            self.cache.keep_log(setup, setup_log)
            if self.stop.is_set():  # a build the interruption killed says nothing about pip
                return self.interrupted(job, durations, setup_log, setup.how)
            if setup.how == "failed" and setup.build:
                obs = build_failed(setup.build, setup_log)
                return self.finish(job, obs, durations, setup_log, setup.how)
            started = time.monotonic()  # the cell's own build: its setup comes from the cache now
            scenario = scenario_dockerfile((job.context / "Dockerfile").read_text(), setup.image)
            build = self.engine.build(
                job.context,
                tag,
                self.network,
                self.engine.labels("cell-image"),
                dockerfile=scenario,
                buildargs=built_with or None,
            )
        build = replace(build, log=self._redact(build.log))
        log = (setup_log + "\n== cell image ==\n" if setup_log else "") + build.log
        durations["build"] = round(time.monotonic() - started, 1)
        if self.stop.is_set():
            return self.interrupted(job, durations, log, setup_how)
        if not build.ok:
            return self.finish(job, build_failed(build, build.log), durations, log, setup_how)
        started = time.monotonic()
        name = f"repromatrix-{self.engine.run_id}-{job.plan.cell.name}"
        network, mounts = self._network_for(job)
        limits = job.plan.limits
        result = self.engine.run_to_end(
            tag,
            name=name,
            network=network,
            timeout=self.timeout * job.slowdown,
            mounts=mounts,
            env=limits.env() | self._proxy(job, "all") or None,
            tmpfs=dict(limits.tmpfs) or None,
            memory=limits.memory or None,
        )
        durations["run"] = round(time.monotonic() - started, 1)
        if self.stop.is_set():
            return self.interrupted(job, durations, log, setup_how)
        output = self._redact(result.output)
        obs = observed(output, result.exit_code, result.timed_out, build_log=build.log)
        run = self.finish(
            job, obs, durations, log + "\n== container output ==\n" + output, setup_how
        )
        run.setup_image = setup_image
        return run

    def attempt(self, job: AttemptJob) -> AttemptRun:
        """Try one remedy in a fresh container of the cell's image: no setup is built again."""
        cell = job.cell.job
        log_path = cell.context / "remedies" / f"{job.plan.remedy.name}.log"
        if self.stop.is_set():
            return self._attempt_done(
                job, Observation(interrupted=True), 0.0, log_path, "(interrupted)\n"
            )
        with self._disk(cell) as short:
            if short:
                return self._attempt_done(
                    job, Observation(infra_reason=short), 0.0, log_path, short
                )
            network, mounts = self._network_for(cell)
            mounts = dict(mounts or {})
            env = job.plan.container_env()
            if Resource.CA in job.plan.needs and self.remedy_ca:
                mounts[str(self.remedy_ca)] = contract.REMEDY_CA_PATH
            if Resource.PROXY_CREDENTIALS in job.plan.needs and self.proxy:
                mounts[str(self.proxy.url_file)] = contract.PROXY_SECRET_PATH
                env[contract.PROXY_SECRET] = contract.PROXY_SECRET_PATH
            started = time.monotonic()
            name = (
                f"repromatrix-{self.engine.run_id}-{cell.plan.cell.name}-fix-{job.plan.remedy.name}"
            )
            limits = job.plan.limits(cell.plan.limits)
            env = limits.env() | self._proxy(cell, "all") | env  # the remedy's own win
            result = self.engine.run_to_end(
                f"{cell.plan.image_tag}:{self.engine.run_id}",
                name=name,
                network=network,
                timeout=self.timeout * cell.slowdown,
                mounts=mounts or None,
                env=env,
                tmpfs=dict(limits.tmpfs) or None,
                memory=limits.memory or None,
            )
            seconds = round(time.monotonic() - started, 1)
        if self.stop.is_set():
            return self._attempt_done(
                job, Observation(interrupted=True), seconds, log_path, "(interrupted)\n"
            )
        output = self._redact(result.output)
        obs = observed(output, result.exit_code, result.timed_out)
        said = "\n".join(f"$ {line}" for line in job.plan.commands)
        return self._attempt_done(
            job, obs, seconds, log_path, f"{said}\n\n== container output ==\n{output}"
        )

    def _attempt_done(
        self, job: AttemptJob, obs: Observation, seconds: float, log_path: Path, log: str
    ) -> AttemptRun:
        write_atomic(log_path, self._redact(log))
        return AttemptRun(job, obs, seconds, log_path)

    @contextlib.contextmanager
    def _disk(self, job: CellJob) -> Iterator[str]:
        """Refuse to start a cell the engine's disk cannot hold, counting what the cells being built
        may still fill; yields why, or ''. dockerd filling its disk would fail every cell and
        more."""
        need, free = job.plan.disk_need, self.engine.free_disk()
        with self._disk_lock:
            promised = self._reserved
            fits = free is None or free - promised >= need
            if fits:
                self._reserved += need
        if not fits:
            assert free is not None
            held = (
                f", {size_said(promised)} of it promised to cells being built" if promised else ""
            )
            yield (
                "not enough free disk for this cell: the Docker engine's data root has "
                f"{size_said(free)} free{held}; this cell needs about {size_said(need)} "
                f"({job.plan.disk_need_why}). Free space (e.g. 'repromatrix clean --cache', "
                "'docker system prune') or lower max_parallel"
            )
            return
        try:
            yield ""
        finally:
            with self._disk_lock:
                self._reserved -= need

    def interrupted(
        self, job: CellJob, durations: dict[str, float], log: str, setup: str = ""
    ) -> CellRun:
        run = self.finish(
            job, Observation(interrupted=True), durations, log + "\n(interrupted)\n", setup
        )
        run.rerun = True
        return run

    def _network_for(self, job: CellJob) -> tuple[str | None, dict[str, str] | None]:
        """Where the cell runs, and the secret it gets (builds always use the run's own network)."""
        mode = job.plan.network
        mounts = (
            {str(self.index_secret.path): contract.INDEX_SECRET_PATH} if self.index_secret else {}
        )
        if not mode.internal or self.proxy is None:
            return self.network, mounts or None
        if mode.credentials:
            mounts[str(self.proxy.url_file)] = contract.PROXY_SECRET_PATH
        return self.proxy.network, mounts or None

    def _redact(self, text: str) -> str:
        secrets = (self.proxy.password,) if self.proxy else ()
        return redact(text, secrets + (self.index_secret.redact if self.index_secret else ()))

    def finish(
        self, job: CellJob, obs: Observation, durations: dict[str, float], log: str, setup: str = ""
    ) -> CellRun:
        log_path = job.context / "log.txt"
        write_atomic(log_path, self._redact(log or (obs.infra_reason + "\n")))
        run = CellRun(job, obs, durations, log_path, setup)
        run.downloads = self.through_cache(job)
        return run


@dataclass
class Finished:
    runs: list[CellRun]
    stopped: str = ""  # "interrupted" (Ctrl-C) or "engine-lost"


WATCH_EVERY = 5.0  # seconds between pings of the engine while cells run
LOST_AFTER = 2  # consecutive unanswered pings: the engine is lost


Job = CellJob | AttemptJob
Remedies = Callable[[CellRun], list[AttemptJob]]


def _id(job: Job) -> str:
    return job.id if isinstance(job, AttemptJob) else job.plan.cell.id


class _Scheduler:
    """Start cells within max_parallel; a cell whose shared setup another cell is building waits in
    the queue (not in a slot) until that build is done. A cell that failed gets its remedy attempts
    (`remedies`) at the front of the queue, sharing the same slots; it is done when they are."""

    def __init__(
        self,
        runner: CellRunner,
        jobs: list[CellJob],
        max_parallel: int,
        on_start: Callable[[CellJob], None],
        on_done: Callable[[CellRun], None],
        remedies: Remedies | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.runner, self.max_parallel = runner, max_parallel
        # Set by another thread (the run's main thread, on Ctrl-C, when several engines run cells):
        # the same as a KeyboardInterrupt in this one.
        self.cancel = cancel or threading.Event()
        self.queue: list[Job] = list(jobs)
        self.on_start, self.on_done = on_start, on_done
        self.remedies: Remedies = remedies or (lambda run: [])
        self.running: dict[str, Job] = {}
        self.trying: dict[str, int] = {}  # cell id → attempts it waits for
        self.building: dict[str, str] = {}  # share point → the cell building it
        self.built: set[str] = set()
        self.results: queue.Queue[CellRun | AttemptRun] = queue.Queue()
        self.done: list[CellRun] = []
        self.lost = (
            threading.Event()
        )  # a cell's call to the engine failed and the engine does not answer
        self.setups: queue.Queue[CellJob] = queue.Queue()  # cells whose setup is ready
        runner.setup_ready = self.setups.put

    def _next(self) -> Job | None:
        for i, job in enumerate(self.queue):
            if isinstance(job, AttemptJob):
                return self.queue.pop(i)
            if job.share is None or job.share in self.built or job.share not in self.building:
                if job.share is not None and job.share not in self.built:
                    self.building[job.share] = job.plan.cell.id
                return self.queue.pop(i)
        return None

    def _start(self, job: Job) -> None:
        self.running[_id(job)] = job
        if isinstance(job, AttemptJob):
            threading.Thread(
                target=self._attempt, args=(job,), name=f"fix-{job.id}", daemon=True
            ).start()
            return
        self.on_start(job)

        def work() -> None:
            try:
                run = self.runner.run(job)
            except Exception as e:  # noqa: BLE001 - the engine's client failed under us: an infra error
                if not self.runner.engine.alive():
                    self.lost.set()  # the scheduler says so for this cell and the rest
                    return
                why = f"the Docker engine's client failed: {type(e).__name__}: {e}"[:2000]
                run = self.runner.finish(job, Observation(infra_reason=why), {}, "")
                run.rerun = True  # nothing was learnt about pip: --resume runs it again
            if run.observation.record is None and not run.rerun and not self.runner.engine.alive():
                self.lost.set()  # its build or container failed because the engine went away
                return
            self.results.put(run)

        # Daemon threads: a call stuck on a hung engine must not keep the process alive.
        threading.Thread(target=work, name=f"cell-{job.plan.cell.id}", daemon=True).start()

    def _attempt(self, job: AttemptJob) -> None:
        try:
            self.results.put(self.runner.attempt(job))
        except Exception as e:  # noqa: BLE001 - as for cells: the engine's client failed under us
            if not self.runner.engine.alive():
                self.lost.set()
                return
            why = f"the Docker engine's client failed: {type(e).__name__}: {e}"[:2000]
            self.results.put(AttemptRun(job, Observation(infra_reason=why)))

    def _setup_ready(self, job: CellJob) -> None:
        if job.share is not None and self.building.get(job.share) == job.plan.cell.id:
            del self.building[job.share]
            self.built.add(job.share)  # built or failed: either way the others may go (and see)

    def _take(self, run: CellRun | AttemptRun) -> None:
        if isinstance(run, AttemptRun):
            self.running.pop(run.job.id)
            run.job.cell.attempts.append(run)
            self._maybe_done(run.job.cell)
            return
        job = self.running.pop(run.job.plan.cell.id)
        assert isinstance(job, CellJob)
        self._setup_ready(
            job
        )  # a cell that ended before its setup (disk, engine) frees its share too
        attempts = [] if run.rerun or self.runner.stop.is_set() else self.remedies(run)
        if attempts:
            self.trying[job.plan.cell.id] = len(attempts)
            # Before other cells: the person waits for this cell's answer
            self.queue[0:0] = attempts
            return
        self.done.append(run)
        self.on_done(run)

    def _maybe_done(self, cell: CellRun) -> None:
        cid = cell.job.plan.cell.id
        if len(cell.attempts) < self.trying[cid]:
            return
        del self.trying[cid]
        self.done.append(cell)
        self.on_done(cell)

    def _abandon_attempts(self, why: Observation) -> None:
        """Attempts that never ran (Ctrl-C, engine lost): their cells finish with them as not
        tried."""
        for job in [j for j in self.queue if isinstance(j, AttemptJob)]:
            self.queue.remove(job)
            self.running[job.id] = job
            self._take(AttemptRun(job, why))

    def run(self) -> Finished:
        unanswered, next_ping = 0, time.monotonic() + WATCH_EVERY
        try:
            while self.queue or self.running:
                while not self.setups.empty():
                    self._setup_ready(self.setups.get())
                while len(self.running) < self.max_parallel and (job := self._next()) is not None:
                    self._start(job)
                try:
                    self._take(self.results.get(timeout=0.2))
                    continue
                except queue.Empty:
                    pass
                if self.cancel.is_set():
                    return self._interrupt()
                if self.lost.is_set():
                    return self._engine_lost()
                if time.monotonic() >= next_ping:
                    unanswered = 0 if self.runner.engine.alive() else unanswered + 1
                    next_ping = time.monotonic() + WATCH_EVERY
                    if unanswered >= LOST_AFTER:
                        return self._engine_lost()
        except KeyboardInterrupt:
            return self._interrupt()
        return Finished(self.done)

    def _engine_lost(self) -> Finished:
        self.runner.stop.set()
        while not self.results.empty():  # cells that finished before it went
            self._take(self.results.get())
        at = time.strftime("%H:%M:%S")
        gone = Observation(infra_reason=f"the Docker engine stopped answering at {at}")
        for attempt in [j for j in self.running.values() if isinstance(j, AttemptJob)]:
            self._take(AttemptRun(attempt, gone))
        self._abandon_attempts(gone)
        for job in [j for j in self.running.values() if isinstance(j, CellJob)]:
            self._lost(job, f"the Docker engine stopped answering at {at} while this cell ran")
        for job in [j for j in self.queue if isinstance(j, CellJob)]:
            self.on_start(job)
            self.running[job.plan.cell.id] = job
            self._lost(
                job, f"the Docker engine stopped answering at {at}, before this cell started"
            )
        self.queue.clear()
        return Finished(self.done, "engine-lost")

    def _lost(self, job: CellJob, why: str) -> None:
        run = self.runner.finish(
            job, Observation(infra_reason=why + " (`run --resume` runs it again)"), {}, ""
        )
        run.rerun = True
        self._take(run)

    def _interrupt(self) -> Finished:
        """Ctrl-C: start nothing more, kill the running cells' containers, collect them as
        interrupted."""
        self.runner.stop.set()
        self._abandon_attempts(Observation(interrupted=True))
        self.queue.clear()
        with contextlib.suppress(Exception):
            engine = self.runner.engine
            engine.remove_containers(run_filter(engine.run_id, engine.owner, "cell"))
            if self.runner.network:
                self.runner.engine.stop_builds(self.runner.network)
        deadline = time.monotonic() + 20  # a cell stuck in a build step is not waited for longer
        while self.running and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty, KeyboardInterrupt):
                self._take(self.results.get(timeout=0.5))
        for job in list(self.running.values()):
            if isinstance(job, AttemptJob):
                self._take(AttemptRun(job, Observation(interrupted=True)))
            else:
                self._take(self.runner.interrupted(job, {}, ""))
        return Finished(self.done, "interrupted")


def run_all(
    runner: CellRunner,
    jobs: list[CellJob],
    max_parallel: int,
    on_start: Callable[[CellJob], None],
    on_done: Callable[[CellRun], None],
    remedies: Remedies | None = None,
    cancel: threading.Event | None = None,
) -> Finished:
    """Run jobs with at most max_parallel at once; see _Scheduler."""
    return _Scheduler(runner, jobs, max_parallel, on_start, on_done, remedies, cancel).run()
