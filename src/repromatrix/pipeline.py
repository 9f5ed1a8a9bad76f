"""The pipeline, stage by stage: load+validate → expand → render → provision images →
run cells → classify → store results → render reports. Each stage lives in its own module;
this one only wires them together and owns the run's resources.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from rich.console import Console

from . import __version__
from .baseimages import Provisioned, provision
from .classify import classify
from .docker_engine import Engine
from .errors import BaseImageError, InfraError, UsageError
from .expand import expand, select
from .formats import write_all
from .history import earlier_runs, mark_history, resolve_baseline
from .hostca import HostCA, detect_host_ca
from .index import Releases, fetch_releases, pip_default_index
from .localindex import INDEX_HOST, INDEX_PORT, write_index
from .matrix import load_matrix
from .model import NETWORK_MODES, PROXY_AUTH, PROXY_HOST, PROXY_NOTHING, PROXY_OPEN, Cell, Matrix
from .progress import RunProgress
from .render import CellPlan, RenderContext, local_index_context, plan_cell, render_cell, reproduce_command
from .results import CellResult, RunResult, new_run_id, now_iso, point_latest, write_atomic
from .runner import CellJob, CellRun, CellRunner, ProxySetup, run_all
from .tlsca import RunCA

INDEX_BASE = "debian:bookworm"  # the local index server's own base image


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


def render_context(matrix: Matrix, host_ca: HostCA | None, run_ca: RunCA | None) -> RenderContext:
    if run_ca is not None:
        return local_index_context(matrix.target, host_ca, run_ca.cert_pem)
    url = None if matrix.target.index == "default" else matrix.target.index
    return RenderContext(target=matrix.target, host_ca=host_ca, index_url=url)


def run_ca_for(matrix: Matrix, run_id: str) -> RunCA | None:
    return RunCA(run_id) if matrix.target.index == "local" else None


def wanted_host_ca(cells: list[Cell]) -> HostCA | None:
    return detect_host_ca() if any(c.axes["ca"] == "host" for c in cells) else None


def render_only(matrix_path: Path, out: Path) -> list[Path]:
    """`repromatrix render`: the build contexts alone, no Docker needed."""
    matrix, cells = load_cells(matrix_path)
    ctx = render_context(matrix, wanted_host_ca(cells), run_ca_for(matrix, "render"))
    return [render_cell(plan_cell(cell, ctx), ctx, out) for cell in cells]


def run(options: RunOptions, console: Console) -> RunResult:
    matrix, cells = load_cells(options.matrix, options.only, options.keyword)
    if options.baseline:
        resolve_baseline(options.out, options.baseline)  # a wrong --baseline fails before any work
    run_id = new_run_id()
    run_dir = options.out / run_id
    started = now_iso()
    host_ca = wanted_host_ca(cells)
    run_ca = run_ca_for(matrix, run_id)
    engine = Engine(run_id)
    console.print(f"run [bold]{run_id}[/bold]: {len(cells)} cells from {matrix.path}"
                  + (f"; trusting the host's CA bundle ({host_ca.source})" if host_ca else ""))
    try:
        network = engine.create_network(f"repromatrix-{run_id}")
        local = matrix.target.index == "local"
        proxied = any(NETWORK_MODES[c.axes["network"]].internal for c in cells)
        images = [c.base_image for c in cells] + ([INDEX_BASE] if local or proxied else [])
        ready = provision(engine, images, console.print, matrix.settings.debian_mirror)
        if local:
            console.print("starting the local model index (target.index: local)")
        with (_index(engine, matrix, network, run_ca, ready) as index_url,
              _proxy(engine, network, proxied, ready, run_dir, console) as proxy):
            ctx = render_context(matrix, host_ca, run_ca)
            releases = _releases(matrix, index_url, _ssl_context(host_ca, run_ca), console)
            jobs = [_job(plan_cell(c, ctx), ctx, run_dir, ready) for c in cells]
            runs = _run_jobs(CellRunner(engine, network, matrix.settings.timeout, proxy), matrix, options, jobs,
                             console)
        result = RunResult(run_id=run_id, matrix=str(matrix.path), target=vars(matrix.target).copy(),
                           started=started, finished=now_iso(), host_ca=host_ca.source if host_ca else None,
                           cells=[to_cell_result(r, releases, run_dir) for r in runs], tool_version=__version__)
        history = ([resolve_baseline(options.out, options.baseline)] if options.baseline
                   else earlier_runs(options.out, result))
        mark_history(result, history)
        write_all(result, run_dir)
        point_latest(options.out, run_dir)
        return result
    except KeyboardInterrupt:
        # Nothing half-written stays behind: a run without results.json is removed whole.
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        engine.cleanup()


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


def to_cell_result(run: CellRun, releases: Releases | None, run_dir: Path) -> CellResult:
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
        reproduce=reproduce_command(plan, str(rel)), notes=list(plan.notes))


@contextlib.contextmanager
def _index(engine: Engine, matrix: Matrix, network: str, run_ca: RunCA | None,
           ready: dict[str, Provisioned | BaseImageError]) -> Iterator[str | None]:
    """For a local index, serve it for the run; yields the URL the host reads it at."""
    if run_ca is None:
        yield None if matrix.target.index == "default" else matrix.target.index
        return
    if isinstance(ready.get(INDEX_BASE), BaseImageError):
        raise InfraError(f"the local index needs {INDEX_BASE}: {ready[INDEX_BASE]}")
    with tempfile.TemporaryDirectory(prefix="repromatrix-index-") as tmp:
        context = _index_context(Path(tmp), run_ca)
        tag = f"repromatrix/index:{engine.run_id}"
        build = engine.build(context, tag, None, engine.labels("index-image"))
        if not build.ok:
            raise InfraError(f"building the local index image failed: {build.error}\n{build.log[-2000:]}")
    name = f"repromatrix-{engine.run_id}-index"
    ports = {f"{INDEX_PORT}/tcp": ("127.0.0.1", None)}
    with engine.container(tag, name=name, role="index", network=network, aliases=(INDEX_HOST,), ports=ports) as box:
        url = f"https://127.0.0.1:{engine.published_port(box, f'{INDEX_PORT}/tcp')}/simple/"
        _wait_for(url, _ssl_context(None, run_ca), timeout=60)
        yield url


@contextlib.contextmanager
def _proxy(engine: Engine, network: str, wanted: bool, ready: dict[str, Provisioned | BaseImageError],
           run_dir: Path, console: Console) -> Iterator[ProxySetup | None]:
    """For cells behind a proxy: an internal network whose only way out is squid."""
    if not wanted:
        yield None
        return
    if isinstance(ready.get(INDEX_BASE), BaseImageError):
        raise InfraError(f"the test proxy needs {INDEX_BASE}: {ready[INDEX_BASE]}")
    console.print("starting the test proxy (squid) on an internal network")
    internal = engine.create_network(f"repromatrix-{engine.run_id}-internal", internal=True)
    password = secrets.token_urlsafe(18)  # made per run; redacted from every log
    with tempfile.TemporaryDirectory(prefix="repromatrix-proxy-") as tmp:
        root = Path(tmp)
        tag = f"repromatrix/proxy:{engine.run_id}"
        build = engine.build(_proxy_context(root / "image"), tag, None, engine.labels("proxy-image"))
        if not build.ok:
            raise InfraError(f"building the test proxy image failed: {build.error}\n{build.log[-2000:]}")
        squid_secrets, url_file = _proxy_secrets(root, password)
        with engine.container(tag, name=f"repromatrix-{engine.run_id}-proxy", role="proxy", network=network,
                              mounts={str(squid_secrets): "/run/secrets"}) as box:
            engine.connect(box, internal, aliases=(PROXY_HOST,))
            _wait_for_squid(engine, box)
            try:
                yield ProxySetup(internal, url_file, password)
            finally:
                # Evidence that traffic went through the proxy, kept beside the report.
                write_atomic(run_dir / "proxy-access.log", engine.read_file(box, "/var/log/squid/access.log"))


@dataclass(frozen=True)
class _Squid:
    user: str = "repromatrix"


def _proxy_context(root: Path) -> Path:
    root.mkdir()
    env = jinja2.Environment(loader=jinja2.PackageLoader("repromatrix", "templates"), keep_trailing_newline=True)
    (root / "Dockerfile").write_text(env.get_template("proxy.Dockerfile.j2").render(base=INDEX_BASE))
    (root / "squid.conf").write_text(env.get_template("squid.conf.j2").render(
        open_port=PROXY_OPEN, auth_port=PROXY_AUTH, nothing_port=PROXY_NOTHING, index_port=INDEX_PORT))
    (root / "entry.sh").write_bytes(resources.files("repromatrix").joinpath("templates/proxy-entry.sh").read_bytes())
    return root


def _proxy_secrets(root: Path, password: str) -> tuple[Path, Path]:
    """Secret files: the squid's user and password, and the cells' proxy URL with them."""
    squid = root / "squid-secrets"
    squid.mkdir(mode=0o700)
    (squid / "proxy-user").write_text(_Squid.user)
    (squid / "proxy-password").write_text(password)
    url_file = root / "proxy-url"
    url_file.write_text(f"http://{_Squid.user}:{password}@{PROXY_HOST}:{PROXY_AUTH}\n")
    for path in (squid / "proxy-user", squid / "proxy-password", url_file):
        path.chmod(0o600)
    return squid, url_file


def _wait_for_squid(engine: Engine, box: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while "Accepting HTTP Socket connections" not in engine.read_file(box, "/var/log/squid/cache.log"):
        box.reload()
        if box.status == "exited" or time.monotonic() > deadline:
            raise InfraError(f"the test proxy did not start: {box.logs().decode('utf-8', 'replace')[-2000:]}")
        time.sleep(0.5)


def _index_context(root: Path, run_ca: RunCA) -> Path:
    env = jinja2.Environment(loader=jinja2.PackageLoader("repromatrix", "templates"), keep_trailing_newline=True)
    (root / "Dockerfile").write_text(env.get_template("index.Dockerfile.j2").render(base=INDEX_BASE, port=INDEX_PORT))
    (root / "nginx.conf").write_text(env.get_template("nginx.conf.j2").render(port=INDEX_PORT))
    server = run_ca.issue([INDEX_HOST, "localhost"], ips=("127.0.0.1",))
    (root / "index.crt").write_bytes(server.cert_pem + run_ca.cert_pem)
    (root / "index.key").write_bytes(server.key_pem)
    write_index(root / "tree")
    return root


def _ssl_context(host_ca: HostCA | None, run_ca: RunCA | None) -> ssl.SSLContext:
    """What the host trusts when it reads the index: the run's CA, or the host's pip CA bundle."""
    if run_ca is not None:
        return ssl.create_default_context(cadata=run_ca.cert_pem.decode())
    return ssl.create_default_context(cafile=str(host_ca.path) if host_ca else None)


def _wait_for(url: str, context: ssl.SSLContext, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context):
                return
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            if time.monotonic() > deadline:
                raise InfraError(f"the local index did not answer at {url} within {timeout:.0f}s: {e}") from None
            time.sleep(0.5)


def _releases(matrix: Matrix, index_url: str | None, context: ssl.SSLContext, console: Console) -> Releases | None:
    """What the index offers, to explain results below the newest release; None if unreadable."""
    try:
        url = index_url or pip_default_index()
        return fetch_releases(url, matrix.target.package, context).only(matrix.target.version)
    except Exception as e:  # noqa: BLE001 - an unreadable index only costs us the explanation
        console.print(f"[yellow]could not read the index's release list ({e}); "
                      "results will not say whether an upgrade landed below the newest release[/yellow]")
        return None
