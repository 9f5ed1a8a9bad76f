"""The pipeline, stage by stage: load+validate → expand → render → provision images →
run cells → classify → store results → render reports. Each stage lives in its own module;
this one only wires them together and owns the run's resources.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from . import __version__
from .axes import RunNeeds, Service, run_needs
from .baseimages import Provisioned, provision
from .classify import classify
from .credentials import IndexCredentials, redact, secret_file
from .credentials import resolve as resolve_credentials
from .docker_engine import Engine
from .errors import BaseImageError, UsageError
from .expand import expand, select
from .formats import write_all
from .history import earlier_runs, mark_history, resolve_baseline
from .hostca import HostCA, detect_host_ca
from .index import Releases, fetch_releases, pip_default_index
from .matrix import load_matrix
from .model import Cell, Matrix
from .plan import CellPlan, RenderContext, local_index_context, plan_cell
from .progress import RunProgress
from .render import render_cell, reproduce_command
from .results import CellResult, RunResult, new_run_id, now_iso, point_latest
from .runner import CellJob, CellRun, CellRunner, IndexSecret, run_all
from .services import SERVICE_BASE, Interception, index_service, proxy_service, ssl_context
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
    return RunCA(run_id) if matrix.target.index.local else None


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


def run(options: RunOptions, console: Console) -> RunResult:
    matrix, cells = load_cells(options.matrix, options.only, options.keyword)
    if options.baseline:
        resolve_baseline(options.out, options.baseline)  # a wrong --baseline fails before any work
    run_id = new_run_id()
    run_dir = options.out / run_id
    started = now_iso()
    needs = needs_of(matrix, cells)
    host_ca = wanted_host_ca(needs)
    run_ca = run_ca_for(matrix, run_id)
    credentials = resolve_credentials(matrix.target.index)  # a missing token variable fails before any work
    interception = _interception(needs, host_ca, run_ca, run_id)
    ctx = render_context(matrix, host_ca, run_ca, interception)
    plans = [plan_cell(c, ctx) for c in cells]
    engine = Engine(run_id)
    console.print(f"run [bold]{run_id}[/bold]: {len(cells)} cells from {matrix.path}"
                  + (f"; trusting the host's CA bundle ({host_ca.source})" if host_ca else ""))
    try:
        network = engine.create_network(f"repromatrix-{run_id}")
        services = [SERVICE_BASE] if needs.services else []
        ready = provision(engine, services, console.print, matrix.settings.debian_mirror,
                          interpreters=[p.interpreter for p in plans])
        with (index_service(engine, matrix, needs, network, run_ca, ready, console, credentials) as index_url,
              proxy_service(engine, network, needs, interception, ready, run_dir, console) as proxy,
              _index_secret(ctx, credentials) as secret):
            everything = _releases(matrix, index_url, ssl_context(host_ca, run_ca), console, credentials)
            releases = everything.only(matrix.target.version, matrix.target.pre) if everything else None
            jobs = [_job(plan, ctx, run_dir, ready) for plan in plans]
            runner = CellRunner(engine, network, matrix.settings.timeout, proxy, secret)
            runs = _run_jobs(runner, matrix, options, jobs, console)
        result = RunResult(run_id=run_id, matrix=str(matrix.path), target=_target_json(matrix),
                           started=started, finished=now_iso(), host_ca=host_ca.source if host_ca else None,
                           cells=[to_cell_result(r, releases, run_dir, ready, everything) for r in runs],
                           tool_version=__version__)
        _store(result, options, run_dir)
        return result
    except KeyboardInterrupt:
        # Nothing half-written stays behind: a run without results.json is removed whole.
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        engine.cleanup()


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
    return Interception(RunCA(f"{run_id} interceptor"), upstream)


def _store(result: RunResult, options: RunOptions, run_dir: Path) -> None:
    """Compare with history, write every report format, then point reports/latest here."""
    history = ([resolve_baseline(options.out, options.baseline)] if options.baseline
               else earlier_runs(options.out, result))
    mark_history(result, history)
    write_all(result, run_dir)
    point_latest(options.out, run_dir)


def _job(plan: CellPlan, ctx: RenderContext, run_dir: Path,
         ready: dict[str, Provisioned | BaseImageError]) -> CellJob:
    context = render_cell(plan, ctx, run_dir / "cells")
    base = ready.get(plan.base_image)
    error = f"base image {plan.base_image}: {base.reason}" if isinstance(base, BaseImageError) else ""
    return CellJob(plan=plan, context=context, base_error=error)


def _run_jobs(runner: CellRunner, matrix: Matrix, options: RunOptions,
              jobs: list[CellJob], console: Console) -> list[CellRun]:
    parallel = options.max_parallel or matrix.settings.max_parallel
    with RunProgress(console, len(jobs)) as progress:
        runs = run_all(runner, jobs, parallel, progress.started, progress.finished)
    order = {job.plan.cell.id: i for i, job in enumerate(jobs)}
    return sorted(runs, key=lambda r: order[r.job.plan.cell.id])


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
                                  _python_of(plan, record), obs.record, releases, everything))


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
