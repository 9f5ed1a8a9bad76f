"""Stage 5: build and run one fresh container per cell; report what was observed.

Builds of cells on the same base image are serialised so the first one fills the layer
cache the others reuse; runs go in parallel. Each cell's log (build + run output) is
written next to its Dockerfile.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .classify import Observation
from .credentials import INDEX_SECRET, redact
from .docker_engine import Engine
from .plan import CellPlan
from .render import PROXY_SECRET, SETUP_MARKER
from .results import write_atomic

RECORD_PREFIX = "REPROMATRIX-RECORD "


@dataclass(frozen=True)
class ProxySetup:
    """The run's test proxy: cells behind it run on `network`, which has no other way out."""

    network: str
    url_file: Path  # the proxy URL with credentials, mounted into cells that get it as a secret
    password: str  # redacted from every log we write


@dataclass(frozen=True)
class CellJob:
    plan: CellPlan
    context: Path  # the rendered build context
    base_error: str = ""  # why the base image is unavailable, if it is


@dataclass
class CellRun:
    job: CellJob
    observation: Observation
    durations: dict[str, float] = field(default_factory=dict)
    log_path: Path | None = None


def parse_record(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(RECORD_PREFIX):
            try:
                record: dict[str, Any] = json.loads(line[len(RECORD_PREFIX):])
                return record
            except json.JSONDecodeError:
                return None
    return None


@dataclass(frozen=True)
class IndexSecret:
    """The index URL with credentials, as a file every cell mounts read-only; what to redact."""

    path: Path
    redact: tuple[str, ...]


class CellRunner:
    def __init__(self, engine: Engine, network: str | None, timeout: int, proxy: ProxySetup | None = None,
                 index_secret: IndexSecret | None = None) -> None:
        self.engine, self.network, self.timeout, self.proxy = engine, network, timeout, proxy
        self.index_secret = index_secret
        self.stop = threading.Event()
        self._build_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _build_lock(self, base: str) -> threading.Lock:
        with self._locks_guard:
            return self._build_locks.setdefault(base, threading.Lock())

    def run(self, job: CellJob) -> CellRun:
        if job.base_error:
            return self._finish(job, Observation(infra_reason=job.base_error), {}, "")
        tag = f"{job.plan.image_tag}:{self.engine.run_id}"
        started = time.monotonic()
        with self._build_lock(job.plan.base_image):
            if self.stop.is_set():
                return self._finish(job, Observation(infra_reason="run interrupted"), {}, "")
            build = self.engine.build(job.context, tag, self.network, self.engine.labels("cell-image"))
        build = replace(build, log=self._redact(build.log))
        durations = {"build": round(time.monotonic() - started, 1)}
        if self.stop.is_set():
            return self._finish(job, Observation(infra_reason="run interrupted"), durations, build.log)
        if not build.ok:
            obs = Observation(build_ok=False, build_log=build.log,
                              setup_failed=build.failed_step.startswith(f"RUN {SETUP_MARKER}"))
            return self._finish(job, obs, durations, build.log)
        started = time.monotonic()
        name = f"repromatrix-{self.engine.run_id}-{job.plan.cell.id}"
        network, mounts = self._network_for(job)
        result = self.engine.run_to_end(tag, name=name, network=network, timeout=self.timeout, mounts=mounts)
        durations["run"] = round(time.monotonic() - started, 1)
        output = self._redact(result.output)
        obs = Observation(build_log=build.log, record=parse_record(output), output=output,
                          exit_code=result.exit_code, timed_out=result.timed_out)
        return self._finish(job, obs, durations, build.log + "\n== container output ==\n" + output)

    def _network_for(self, job: CellJob) -> tuple[str | None, dict[str, str] | None]:
        """Where the cell runs, and the secret it gets (builds always use the run's own network)."""
        mode = job.plan.network
        mounts = {str(self.index_secret.path): INDEX_SECRET} if self.index_secret else {}
        if not mode.internal or self.proxy is None:
            return self.network, mounts or None
        if mode.credentials:
            mounts[str(self.proxy.url_file)] = PROXY_SECRET
        return self.proxy.network, mounts or None

    def _redact(self, text: str) -> str:
        secrets = (self.proxy.password,) if self.proxy else ()
        return redact(text, secrets + (self.index_secret.redact if self.index_secret else ()))

    def _finish(self, job: CellJob, obs: Observation, durations: dict[str, float], log: str) -> CellRun:
        log_path = job.context / "log.txt"
        write_atomic(log_path, self._redact(log or (obs.infra_reason + "\n")))
        return CellRun(job, obs, durations, log_path)


def run_all(runner: CellRunner, jobs: list[CellJob], max_parallel: int,
            on_start: Callable[[CellJob], None], on_done: Callable[[CellRun], None]) -> list[CellRun]:
    """Run jobs with at most max_parallel at once; on Ctrl-C stop starting new ones."""
    done: list[CellRun] = []
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="cell") as pool:
        pending: dict[Future[CellRun], CellJob] = {}
        queue = list(jobs)
        try:
            while queue or pending:
                while queue and len(pending) < max_parallel:
                    job = queue.pop(0)
                    on_start(job)
                    pending[pool.submit(runner.run, job)] = job
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending.pop(future)
                    done.append(future.result())
                    on_done(done[-1])
        except BaseException:
            # Kill what runs so the workers return, then let the pool wind down.
            runner.stop.set()
            runner.engine.remove_containers()
            raise
    return done
