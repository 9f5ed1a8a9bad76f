"""The pipeline, stage by stage: load+validate → expand → render → provision images →
run cells → classify → store results → render reports. Each stage lives in its own module;
this one only wires them together and owns the run's resources.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from . import __version__
from .axes import RunNeeds, Service, run_needs
from .baseimages import Provisioned, provision
from .classify import classify
from .credentials import IndexCredentials, redact, secret_file
from .credentials import resolve as resolve_credentials
from .docker_engine import DockerEngine
from .errors import BaseImageError, UsageError
from .expand import expand, select
from .formats import write_all
from .history import earlier_runs, mark_history, resolve_baseline
from .hostca import HostCA, detect_host_ca
from .index import Releases, fetch_releases, pip_default_index
from .journal import Journal, RunHeader, matrix_hash
from .matrix import load_matrix
from .model import Cell, Matrix
from .outcomes import Outcome
from .plan import CellPlan, RenderContext, local_index_context, plan_cell
from .progress import RunProgress
from .render import render_cell, reproduce_command
from .results import CellResult, RunResult, new_run_id, now_iso, point_latest
from .runner import CellJob, CellRun, CellRunner, Finished, IndexSecret, run_all
from .services import SERVICE_BASE, Interception, index_service, proxy_service, ssl_context
from .setupcache import SERVICE_KIND, CacheMode, SetupCache, cache_dir, human, share_points
from .tlsca import RunCA
from .wheelmatch import why_no_wheel


@dataclass(frozen=True)
class RunOptions:
    matrix: Path
    only: tuple[str, ...] = ()
    keyword: str | None = None
    out: Path = Path("reports")
    max_parallel: int | None = None
    baseline: str | None = None  # a run id or directory to compare with; default: the previous run
    resume: str | None = None  # a run id under `out`, or a run directory, to finish
    cache: CacheMode | None = None  # None: the matrix's settings.cache
    matrix_given: bool = False  # --matrix was on the command line (with --resume: where the matrix is now)


def load_cells(matrix_path: Path, only: tuple[str, ...] = (), keyword: str | None = None) -> tuple[Matrix, list[Cell]]:
    matrix = load_matrix(matrix_path)
    cells = select(expand(matrix), only, keyword)
    if not cells:
        raise UsageError(f"{matrix_path}: no cell matches the selection (--only {list(only)}, -k {keyword!r})\n"
                         "  hint: 'repromatrix list' shows the cell ids")
    return matrix, cells


def render_context(matrix: Matrix, host_ca: HostCA | None, run_ca: RunCA | None,
                   interception: Interception | None = None) -> RenderContext:
    if run_ca is not None:
        ctx = local_index_context(matrix.target, host_ca, run_ca.cert_pem, matrix.checks)
    else:
        url = matrix.target.index.url or None  # None: pip's default index
        ctx = RenderContext(target=matrix.target, host_ca=host_ca, index_url=url, checks=matrix.checks)
    return replace(ctx, interceptor_ca_pem=interception.ca.cert_pem if interception else b"",
                   index_secret=matrix.target.index.secret)


def run_ca_for(matrix: Matrix, run_id: str) -> RunCA | None:
    """The local index's CA: kept across runs, so cells that trust it keep their cached setups."""
    return RunCA.kept(cache_dir() / "ca" / "local-index.pem", "local index") if matrix.target.index.local else None


def needs_of(matrix: Matrix, cells: list[Cell]) -> RunNeeds:
    needs = run_needs(c.axes for c in cells)
    return needs | RunNeeds(services=frozenset({Service.INDEX})) if matrix.target.index.local else needs


def wanted_host_ca(needs: RunNeeds) -> HostCA | None:
    return detect_host_ca() if needs.host_ca else None


def render_only(matrix_path: Path, out: Path) -> list[Path]:
    """`repromatrix render`: the build contexts alone, no Docker needed."""
    matrix, cells = load_cells(matrix_path)
    ctx = render_context(matrix, wanted_host_ca(needs_of(matrix, cells)), run_ca_for(matrix, "render"))
    return [render_cell(plan_cell(cell, ctx), ctx, out) for cell in cells]


@dataclass(frozen=True)
class Prepared:
    """A run decided: which cells, where, and with what."""

    matrix: Matrix
    cells: list[Cell]
    run_dir: Path
    journal: Journal
    header: RunHeader
    todo: list[Cell]  # the cells to run now (all of them, or on --resume those without a result)


def run(options: RunOptions, console: Console) -> RunResult:
    """The pipeline: each stage one call; the run's resources are held only in here."""
    prepared = _prepare(options)
    engine = DockerEngine(prepared.header.run_id)  # no engine: exit 3 before a run directory exists
    with prepared.journal.lock():
        return _execute(prepared, engine, options, console)


def _prepare(options: RunOptions) -> Prepared:
    """Stages 1-2: load and expand the matrix; a new run, or the one --resume names."""
    if options.baseline:
        resolve_baseline(options.out, options.baseline)  # a wrong --baseline fails before any work
    if options.resume:
        return _prepare_resume(options)
    matrix, cells = load_cells(options.matrix, options.only, options.keyword)
    run_id = new_run_id()
    run_dir = options.out / run_id
    header = RunHeader(run_id=run_id, matrix=str(matrix.path), matrix_sha256=matrix_hash(Path(matrix.path)),
                       cells=[c.id for c in cells], started=now_iso(), target=_target_json(matrix),
                       only=list(options.only), keyword=options.keyword, tool_version=__version__,
                       matrix_file=str(Path(matrix.path).resolve()))
    return Prepared(matrix, cells, run_dir, Journal(run_dir), header, cells)


def _prepare_resume(options: RunOptions) -> Prepared:
    """--resume RUN: the same matrix (checked by its hash) and selection; only the unfinished cells."""
    assert options.resume
    run_dir = Path(options.resume) if Path(options.resume).is_dir() else options.out / options.resume
    journal = Journal(run_dir)
    if not journal.header_path.is_file():
        raise UsageError(f"--resume {options.resume}: {run_dir} is not a run directory with a run.json\n"
                         f"  hint: name a run id under {options.out}/ or a run directory")
    header = journal.header()
    # Where the matrix was (resume from any directory), or where --matrix says it is now.
    path = options.matrix if options.matrix_given else Path(header.matrix_file or header.matrix)
    if not path.is_file() or matrix_hash(path) != header.matrix_sha256:
        raise UsageError(f"--resume {header.run_id}: the matrix {path} is gone or has changed since the run "
                         "started (its sha256 differs)\n  hint: start a new run; a resumed run must be the "
                         "same matrix")
    matrix, cells = load_cells(path, tuple(header.only), header.keyword)
    if [c.id for c in cells] != header.cells:
        raise UsageError(f"--resume {header.run_id}: the selection now gives other cells than the run had")
    # A cell that ended in our own failure (infra-error) or was interrupted taught nothing about pip:
    # it is run again, like the cells the stopped run never reached.
    retry = {Outcome.INFRA_ERROR.value, Outcome.INTERRUPTED.value}
    done = {cid for cid, cell in journal.finished().items() if not cell.rerun and cell.outcome not in retry}
    return Prepared(matrix, cells, run_dir, journal, header, [c for c in cells if c.id not in done])


def _execute(prepared: Prepared, engine: DockerEngine, options: RunOptions, console: Console) -> RunResult:
    matrix, run_dir, run_id = prepared.matrix, prepared.run_dir, prepared.header.run_id
    needs = needs_of(matrix, prepared.todo or prepared.cells)
    host_ca = wanted_host_ca(needs)
    run_ca = run_ca_for(matrix, run_id)
    credentials = resolve_credentials(matrix.target.index)  # a missing token variable fails before any work
    interception = _interception(needs, host_ca, run_ca, run_id)
    ctx = render_context(matrix, host_ca, run_ca, interception)
    plans = [plan_cell(c, ctx) for c in prepared.todo]
    if options.resume:
        engine.cleanup()  # what the stopped process left (containers, networks), before starting again
        (run_dir / "results.json").unlink(missing_ok=True)  # the journal is the truth until the end
    else:
        prepared.journal.start(replace(prepared.header, host_ca=host_ca.source if host_ca else None))
    said = (f"resuming run [bold]{run_id}[/bold]: {len(plans)} of {len(prepared.cells)} cells left"
            if options.resume else f"run [bold]{run_id}[/bold]: {len(plans)} cells from {matrix.path}")
    console.print(said + (f"; trusting the host's CA bundle ({host_ca.source})" if host_ca else ""))
    cache = SetupCache(engine, options.cache or matrix.settings.cache, _fingerprint(matrix, needs, ctx),
                       logs=cache_dir() / "setup-logs")
    stopped = ""
    try:
        network = engine.create_network(f"repromatrix-{run_id}")
        services = [SERVICE_BASE] if needs.services else []
        ready = provision(engine, services, console.print, matrix.settings.debian_mirror,
                          interpreters=[p.interpreter for p in plans])
        packages = SetupCache(engine, CacheMode.REFRESH if cache.mode is CacheMode.REFRESH else CacheMode.REUSE,
                              "services", kind=SERVICE_KIND)
        with (index_service(engine, matrix, needs, network, run_ca, ready, console, credentials,
                            packages) as index_url,
              proxy_service(engine, network, needs, interception, ready, run_dir, console, packages) as proxy,
              _index_secret(ctx, credentials) as secret):
            everything = _releases(matrix, index_url, ssl_context(host_ca, run_ca), console, credentials)
            releases = everything.only(matrix.target.version, matrix.target.pre) if everything else None
            jobs = _jobs(plans, ctx, run_dir, ready, cache)
            runner = CellRunner(engine, network, matrix.settings.timeout, proxy, secret, cache)
            record = _recorder(prepared.journal, releases, run_dir, ready, everything)
            stopped = _run_jobs(runner, matrix, options, jobs, console, record, len(prepared.cells)).stopped
    finally:
        if stopped != "engine-lost" and engine.alive():
            engine.cleanup()
            _evict(cache, matrix, console)
    result = prepared.journal.result(finished=now_iso(), stopped=stopped)
    _store(result, options, run_dir)
    return result


def _fingerprint(matrix: Matrix, needs: RunNeeds, ctx: RenderContext) -> str:
    """What a cell's setup reads that its build context does not show: the index and its content."""
    if not matrix.target.index.local:
        return f"index {ctx.index_url or 'default'}"
    source = resources.files("repromatrix").joinpath("localindex.py").read_bytes()
    return f"local index {hashlib.sha256(source).hexdigest()} {sorted(needs.real_wheels)}"


def _evict(cache: SetupCache, matrix: Matrix, console: Console) -> None:
    gone = cache.evict(matrix.settings.cache_budget)
    if gone:
        console.print(f"setup cache: removed {len(gone)} least recently used setup images "
                      f"({human(sum(i.size for i in gone))}) to stay within its budget")


def _recorder(journal: Journal, releases: Releases | None, run_dir: Path,
              ready: dict[str, Provisioned | BaseImageError],
              everything: Releases | None) -> Callable[[CellRun], CellResult]:
    """Classify a finished cell (once) and put it in the journal at once."""
    def record(cell_run: CellRun) -> CellResult:
        result = to_cell_result(cell_run, releases, run_dir, ready, everything)
        journal.record(result)
        return result
    return record


@contextlib.contextmanager
def _index_secret(ctx: RenderContext, credentials: IndexCredentials | None) -> Iterator[IndexSecret | None]:
    """The index URL with credentials as a file cells mount read-only, and what to redact from logs."""
    if credentials is None or not ctx.index_url:
        yield None
        return
    with secret_file("index-url", credentials.url(ctx.index_url) + "\n") as path:
        yield IndexSecret(path, credentials.secrets())


def _target_json(matrix: Matrix) -> dict[str, str]:
    t = matrix.target
    out = {"package": t.package, "version": t.version, "index": str(t.index)}  # never the credentials
    return out | ({"pre": "true"} if t.pre else {}) | ({"imports": " ".join(t.imports)} if t.imports else {})


def _interception(needs: RunNeeds, host_ca: HostCA | None, run_ca: RunCA | None,
                  run_id: str) -> Interception | None:
    """A CA for the TLS-intercepting proxy, if a cell needs one; upstream it trusts the index's CA."""
    if Service.INTERCEPTOR not in needs.services:
        return None
    if run_ca:
        upstream = run_ca.cert_pem
    elif host_ca:
        upstream = host_ca.read()
    else:  # no corporate CA: the system's own bundle
        upstream = Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes()
    return Interception(RunCA.kept(cache_dir() / "ca" / "interceptor.pem", "interceptor"), upstream)


def _store(result: RunResult, options: RunOptions, run_dir: Path) -> None:
    """Compare with history, write every report format, then point reports/latest here."""
    history = ([resolve_baseline(options.out, options.baseline)] if options.baseline
               else earlier_runs(options.out, result))
    mark_history(result, history)
    write_all(result, run_dir)
    point_latest(options.out, run_dir)


def _jobs(plans: list[CellPlan], ctx: RenderContext, run_dir: Path,
          ready: dict[str, Provisioned | BaseImageError], cache: SetupCache) -> list[CellJob]:
    """Render each cell's build context, and find the setup prefixes cells share."""
    contexts = [render_cell(plan, ctx, run_dir / "cells") for plan in plans]
    chains = {plan.cell.id: cache.chain(context, plan.base_image)
              for plan, context in zip(plans, contexts, strict=True)}
    shares = share_points(chains) if cache.mode is not CacheMode.OFF else dict.fromkeys(chains)
    jobs = []
    for plan, context in zip(plans, contexts, strict=True):
        base = ready.get(plan.base_image)
        error = f"base image {plan.base_image}: {base.reason}" if isinstance(base, BaseImageError) else ""
        jobs.append(CellJob(plan=plan, context=context, base_error=error, share=shares[plan.cell.id]))
    return jobs


def _run_jobs(runner: CellRunner, matrix: Matrix, options: RunOptions, jobs: list[CellJob], console: Console,
              record: Callable[[CellRun], CellResult], planned: int) -> Finished:
    parallel = options.max_parallel or matrix.settings.max_parallel
    with RunProgress(console, len(jobs), planned - len(jobs)) as progress:
        return run_all(runner, jobs, parallel, progress.started, lambda run: progress.finished(run, record(run)))


def to_cell_result(run: CellRun, releases: Releases | None, run_dir: Path,
                   ready: dict[str, Provisioned | BaseImageError], everything: Releases | None = None) -> CellResult:
    plan, obs = run.job.plan, run.observation
    verdict = classify(obs, releases)
    record = obs.record or {}
    rel = run.job.context.relative_to(run_dir)
    facts = verdict.facts
    return CellResult(
        id=plan.cell.id, axes=plan.cell.axes, outcome=verdict.outcome.value, evidence=list(verdict.evidence),
        expected=[o.value for o in plan.cell.expected],
        before=facts.get("before"), after=facts.get("after"), newest=facts.get("newest"),
        newest_for_python=facts.get("newest_for_python"), below_newest=facts.get("below_newest"),
        python=record.get("python"), pip=record.get("pip"), upgrade_command=plan.upgrade_command,
        pip_exit_code=(record.get("upgrade") or {}).get("exit_code"),
        pip_check=record.get("pip_check"), import_check=record.get("import"),
        durations=run.durations, dockerfile=str(rel / "Dockerfile"), log=str(rel / "log.txt"),
        reproduce=reproduce_command(plan, str(rel)), notes=list(plan.notes),
        interpreter=_interpreter_facts(plan, ready.get(plan.base_image), record), checks=record.get("checks") or [],
        imports=(record.get("import") or {}).get("names") or [],
        why_no_wheel=why_no_wheel(verdict.outcome.value, bool(facts.get("below_newest")), plan.prior,
                                  _python_of(plan, record), obs.record, releases, everything),
        setup=run.setup, rerun=run.rerun, setup_image=run.setup_image)


def _python_of(plan: CellPlan, record: dict[str, Any]) -> str:
    """The cell's Python: as recorded, or (a cell that never ran) as planned."""
    return str(record.get("python") or plan.interpreter.python)


def _interpreter_facts(plan: CellPlan, provisioned: Provisioned | BaseImageError | None,
                       record: dict[str, Any]) -> dict[str, Any]:
    """Where the cell's python3 came from, and what its ssl and libc are: all three change what pip does."""
    facts: dict[str, Any] = {"wanted": plan.interpreter.version or "system", "image": plan.base_image}
    if isinstance(provisioned, Provisioned):
        facts |= {"provider": provisioned.how, "detail": provisioned.detail}
    runtime = record.get("runtime") or {}
    return facts | {k: runtime[k] for k in ("executable", "openssl", "ca_paths", "glibc", "tags") if k in runtime}


def _releases(matrix: Matrix, index_url: str | None, context: ssl.SSLContext, console: Console,
              credentials: IndexCredentials | None = None) -> Releases | None:
    """Every release the index offers (with its files), to explain results; None if unreadable."""
    try:
        url = index_url or pip_default_index()
        auth = credentials.authorization() if credentials else None
        return fetch_releases(url, matrix.target.name, context, authorization=auth)
    except Exception as e:  # noqa: BLE001 - an unreadable index only costs us the explanation
        said = redact(str(e), credentials.secrets()) if credentials else str(e)
        console.print(f"[yellow]could not read the index's release list ({said}); "
                      "results will not say whether an upgrade landed below the newest release[/yellow]")
        return None
