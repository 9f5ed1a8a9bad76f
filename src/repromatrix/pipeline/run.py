"""The pipeline, stage by stage: load+validate → expand → render → provision images →
run cells → classify → store results → render reports. Each stage lives in its own module;
this one only wires them together and owns the run's resources.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from .. import __version__
from ..config.cost import cells_at_once, estimate, machine_time, past_seconds, seconds_by_cell
from ..config.expand import count_cells, iter_cells
from ..config.matrix import load_matrix
from ..config.shard import Shard, ShardSpec, from_plan, split
from ..core.axes import RunNeeds, Service, run_needs
from ..core.errors import BaseImageError, DockerUnavailable, UsageError, did_you_mean
from ..core.model import CacheMode, Cell, HostSpec, Matrix, Selection
from ..core.outcomes import Fix, Outcome
from ..execute.progress import RunProgress
from ..execute.runner import (
    AttemptJob,
    AttemptRun,
    CellJob,
    CellRun,
    CellRunner,
    IndexSecret,
    Remedies,
    run_all,
)
from ..infra.baseimages import Provisioned, provision
from ..infra.credentials import IndexCredentials, redact, secret_file
from ..infra.credentials import resolve as resolve_credentials
from ..infra.docker_engine import DockerEngine
from ..infra.engine import Capacity
from ..infra.hostca import HostCA, detect_host_ca
from ..infra.services import SERVICE_BASE, Interception, ProxySetup, index_service, proxy_service, ssl_context
from ..infra.setupcache import SERVICE_KIND, SetupCache, cache_dir, human, share_points
from ..infra.tlsca import RunCA
from ..judge.classify import classify
from ..judge.index import Releases, fetch_releases, pip_default_index
from ..judge.remedies import CATALOGUE, LOCAL_INDEX_WHEELS, Resource, facts_for, judge, plan_attempts, recommended
from ..judge.wheelmatch import why_no_wheel
from ..plan.plan import CellPlan, RenderContext, local_index_context, plan_cell
from ..plan.render import render_cell, reproduce_command
from ..results.formats import write_all
from ..results.history import earlier_runs, mark_history, resolve_baseline
from ..results.journal import Journal, RunHeader, matrix_hash
from ..results.results import CellResult, RunResult, new_run_id, now_iso, point_latest


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
    remedies: Selection | None = None  # None: the matrix's `remedies:`
    remedy_cell: str | None = None  # `repromatrix remedy RUN CELL`: try the remedies on this stored cell
    shard: ShardSpec | None = None  # --shard I/N: only this share of the selected cells
    shard_plan: Path | None = None  # --shard-plan FILE: the shares as `list --json --shards N` fixed them
    yes: bool = False  # --yes: run a selection larger than settings.max_cells
    hosts: tuple[str, ...] = ()  # --docker-host URLs; () = settings.hosts, else the default engine


def load_cells(matrix_path: Path, only: tuple[str, ...] = (), keyword: str | None = None, *,
               guard: int | None = None, remedies: Selection | None = None) -> tuple[Matrix, list[Cell]]:
    """The matrix and its selected cells. `guard`: refuse more than settings.max_cells cells per
    `guard` shards before any cell is planned or held (a million-cell matrix is refused in seconds)."""
    matrix = load_matrix(matrix_path)
    on = (remedies or matrix.remedies).on
    if guard and not only and not keyword:  # the whole matrix: count it without making its cells
        _refuse_oversize(matrix, count_cells(matrix), guard, on, iter_cells(matrix))
    cells = list(iter_cells(matrix, only, keyword))
    if guard and (only or keyword):
        _refuse_oversize(matrix, len(cells), guard, on, iter(cells))
    if not cells:
        raise _nothing_selected(matrix_path, only, keyword)
    return matrix, cells


def stream_cells(matrix_path: Path, only: tuple[str, ...] = (),
                 keyword: str | None = None) -> tuple[Matrix, Iterator[Cell]]:
    """The matrix and its selected cells one at a time (`list` of a million cells holds none of
    them); the error for an empty selection comes before the first cell would."""
    matrix = load_matrix(matrix_path)
    cells = iter_cells(matrix, only, keyword)
    first = next(cells, None)
    if first is None:
        raise _nothing_selected(matrix_path, only, keyword)
    return matrix, itertools.chain([first], cells)


def _nothing_selected(matrix_path: Path, only: tuple[str, ...], keyword: str | None) -> UsageError:
    return UsageError(f"{matrix_path}: no cell matches the selection (--only {list(only)}, "
                      f"-k {keyword!r})\n  hint: 'repromatrix list' shows the cell ids")


def _refuse_oversize(matrix: Matrix, count: int, shards: int, remedies_on: bool, cells: Iterator[Cell]) -> None:
    """settings.max_cells per shard, with what the selection would cost (from a sample of its cells)."""
    limit = matrix.settings.max_cells * shards
    if count <= limit:
        return
    sample = list(itertools.islice(cells, 2000))
    seconds = count * sum(estimate(c, matrix.target.index.local, remedies_on) for c in sample) / max(1, len(sample))
    per = f" ({count / shards:,.0f} per shard)" if shards > 1 else ""
    raise UsageError(f"{matrix.path}: settings.max_cells: the selection has {count:,} cells{per}, more than "
                     f"{matrix.settings.max_cells:,}: {machine_time(seconds)} of work\n  hint: narrow it "
                     "(-k, --only), split it over machines (--shard I/N), raise settings.max_cells, or pass "
                     "--yes to run it anyway")


def shards_of(matrix: Matrix, cells: list[Cell], count: int, reports: Path,
              remedies: Selection | None = None) -> list[Shard]:
    """The selection in `count` shards, balanced by each cell's time in the latest earlier run of
    this matrix under `reports` (estimated from its axes where there is none)."""
    probe = RunResult(run_id="~", matrix=str(matrix.path), target={}, started="")  # after every real run id
    on = (remedies or matrix.remedies).on
    past = past_seconds(earlier_runs(reports, probe), on)
    seconds = seconds_by_cell(cells, matrix.target.index.local, on, past)
    return split(cells, seconds, count)


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
    if not matrix.target.index.local:
        return needs
    return needs | RunNeeds(services=frozenset({Service.INDEX}), real_wheels=LOCAL_INDEX_WHEELS)


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
    hosts = connect(prepared, options, console)  # no engine: exit 3 before a run directory exists
    with prepared.journal.lock():
        return _execute(prepared, hosts, options, console)


@dataclass(frozen=True)
class Host:
    """One Docker engine of the run, and how many cells it runs at once."""

    engine: DockerEngine
    label: str  # how reports name it: "default", or its URL without a user name
    parallel: int


def connect(prepared: Prepared, options: RunOptions, console: Console) -> list[Host]:
    """The engines the run spreads its cells over: --docker-host, else settings.hosts, else the one
    DOCKER_HOST names. Each must answer now (exit 3 naming it, before anything starts)."""
    matrix = prepared.matrix
    specs = [HostSpec(url) for url in options.hosts] or list(matrix.settings.hosts) or [HostSpec("default")]
    hosts = []
    for spec in specs:
        try:
            engine = DockerEngine(prepared.header.run_id, base_url=None if spec.url == "default" else spec.url)
        except DockerUnavailable as e:
            raise DockerUnavailable(f"Docker host {spec.label}: {e}") from None
        wanted = spec.max_parallel or options.max_parallel or matrix.settings.max_parallel
        said = f"Docker host {spec.label}: " if len(specs) > 1 else ""
        hosts.append(Host(engine, spec.label, at_once(wanted, engine.capacity(), matrix.target.index.local,
                                                      console, said)))
    return hosts


def _prepare(options: RunOptions) -> Prepared:
    """Stages 1-2: load and expand the matrix; a new run, or the one --resume names."""
    if options.baseline:
        resolve_baseline(options.out, options.baseline)  # a wrong --baseline fails before any work
    if options.remedy_cell:
        return _prepare_remedy(options)
    if options.resume:
        return _prepare_resume(options)
    shards = options.shard.count if options.shard else 1
    matrix, selection = load_cells(options.matrix, options.only, options.keyword,
                                   guard=None if options.yes else shards, remedies=options.remedies)
    cells = _shard_cells(options, matrix, selection) if options.shard else selection
    run_id = new_run_id()
    run_dir = options.out / run_id
    header = RunHeader(run_id=run_id, matrix=str(matrix.path), matrix_sha256=matrix_hash(Path(matrix.path)),
                       cells=[c.id for c in cells], started=now_iso(), target=_target_json(matrix),
                       only=list(options.only), keyword=options.keyword, tool_version=__version__,
                       matrix_file=str(Path(matrix.path).resolve()), shard=str(options.shard or ""),
                       selection=[c.id for c in selection] if options.shard else [])
    return Prepared(matrix, cells, run_dir, Journal(run_dir), header, cells)


def _shard_cells(options: RunOptions, matrix: Matrix, selection: list[Cell]) -> list[Cell]:
    assert options.shard
    if options.shard_plan:
        return list(from_plan(options.shard_plan, options.shard, selection))
    shard = shards_of(matrix, selection, options.shard.count, options.out, options.remedies)[options.shard.index - 1]
    if not shard.cells:
        raise UsageError(f"--shard {options.shard}: this shard has no cells: the selection has only "
                         f"{len(selection)}\n  hint: use fewer shards")
    return list(shard.cells)


def _stored_run(options: RunOptions, ref: str, said: str) -> tuple[Path, Journal, RunHeader, Matrix, list[Cell]]:
    """A run directory to continue: its journal, and the same matrix (checked by its hash) and cells."""
    run_dir = Path(ref) if Path(ref).is_dir() else options.out / ref
    journal = Journal(run_dir)
    if not journal.header_path.is_file():
        raise UsageError(f"{said} {ref}: {run_dir} is not a run directory with a run.json\n"
                         f"  hint: name a run id under {options.out}/ or a run directory")
    header = journal.header()
    # Where the matrix was (resume from any directory), or where --matrix says it is now.
    path = options.matrix if options.matrix_given else Path(header.matrix_file or header.matrix)
    if not path.is_file() or matrix_hash(path) != header.matrix_sha256:
        raise UsageError(f"{said} {header.run_id}: the matrix {path} is gone or has changed since the run "
                         "started (its sha256 differs)\n  hint: --matrix names where the run's matrix is now; "
                         "it must be the same file")
    matrix, cells = load_cells(path, tuple(header.only), header.keyword)
    if header.shard:  # a shard's run: its own cells, out of the same selection
        if [c.id for c in cells] != header.selection:
            raise UsageError(f"{said} {header.run_id}: the selection now gives other cells than the run had")
        mine = set(header.cells)
        cells = [c for c in cells if c.id in mine]
    if [c.id for c in cells] != header.cells:
        raise UsageError(f"{said} {header.run_id}: the selection now gives other cells than the run had")
    return run_dir, journal, header, matrix, cells


def _prepare_remedy(options: RunOptions) -> Prepared:
    """`remedy RUN CELL`: the stored cell, rebuilt from its build context, and its remedies."""
    assert options.remedy_cell and options.resume
    run_dir, journal, header, matrix, cells = _stored_run(options, options.resume, "remedy")
    wanted = [c for c in cells if c.id == options.remedy_cell]
    if not wanted:
        raise UsageError(f"remedy: run {header.run_id} has no cell {options.remedy_cell!r}\n  hint: "
                         + did_you_mean(options.remedy_cell, [c.id for c in cells]))
    if options.remedy_cell not in journal.finished():
        raise UsageError(f"remedy: cell {options.remedy_cell} of run {header.run_id} has no result yet\n"
                         f"  hint: 'repromatrix run --resume {header.run_id}' finishes the run first")
    return Prepared(matrix, cells, run_dir, journal, header, wanted)


def _prepare_resume(options: RunOptions) -> Prepared:
    """--resume RUN: the same matrix (checked by its hash) and selection; only the unfinished cells."""
    assert options.resume
    run_dir, journal, header, matrix, cells = _stored_run(options, options.resume, "--resume")
    # A cell that ended in our own failure (infra-error) or was interrupted taught nothing about pip:
    # it is run again, like the cells the stopped run never reached.
    retry = {Outcome.INFRA_ERROR.value, Outcome.INTERRUPTED.value}
    done = {cid for cid, cell in journal.finished().items() if not cell.rerun and cell.outcome not in retry}
    return Prepared(matrix, cells, run_dir, journal, header, [c for c in cells if c.id not in done])


@dataclass(frozen=True)
class RunScope:
    """What every engine of one run shares: the run, its plans' context, and where results go."""

    prepared: Prepared
    options: RunOptions
    needs: RunNeeds
    ctx: RenderContext
    run_ca: RunCA | None
    credentials: IndexCredentials | None
    interception: Interception | None
    console: Console
    progress: RunProgress
    record_lock: threading.Lock
    remedy_ca: Path | None  # the CA bundle the trust-ca remedy mounts (one file for every engine)


def _execute(prepared: Prepared, hosts: list[Host], options: RunOptions, console: Console) -> RunResult:
    matrix, run_dir, run_id = prepared.matrix, prepared.run_dir, prepared.header.run_id
    needs = needs_of(matrix, prepared.todo or prepared.cells)
    host_ca = wanted_host_ca(needs)
    run_ca = run_ca_for(matrix, run_id)
    credentials = resolve_credentials(matrix.target.index)  # a missing token variable fails before any work
    interception = _interception(needs, host_ca, run_ca, run_id)
    ctx = render_context(matrix, host_ca, run_ca, interception)
    plans = [plan_cell(c, ctx) for c in prepared.todo]
    if options.resume:
        for host in hosts:
            host.engine.cleanup()  # what the stopped process left (containers, networks), before starting again
        (run_dir / "results.json").unlink(missing_ok=True)  # the journal is the truth until the end
    else:
        prepared.journal.start(replace(prepared.header, host_ca=host_ca.source if host_ca else None))
    said = (f"run [bold]{run_id}[/bold]: rebuilding cell {options.remedy_cell} from its build context to try "
            "its remedies" if options.remedy_cell else
            f"resuming run [bold]{run_id}[/bold]: {len(plans)} of {len(prepared.cells)} cells left"
            if options.resume else f"run [bold]{run_id}[/bold]: {len(plans)} cells from {matrix.path}")
    spread = f" over {len(hosts)} Docker hosts" if len(hosts) > 1 else ""
    console.print(said + spread + (f"; trusting the host's CA bundle ({host_ca.source})" if host_ca else ""))
    with RunProgress(console, len(plans), len(prepared.cells) - len(plans)) as progress:
        remedy_ca = _remedy_ca(ctx, run_dir) if (options.remedies or matrix.remedies).on else None
        scope = RunScope(prepared, options, needs, ctx, run_ca, credentials, interception, console, progress,
                         threading.Lock(), remedy_ca)
        shares = _spread(scope, plans, hosts)
        stopped = _on_hosts(scope, list(zip(hosts, shares, strict=True)))
    result = prepared.journal.result(finished=now_iso(), stopped=stopped)
    _store(result, options, run_dir)
    return result


def _spread(scope: RunScope, plans: list[CellPlan], hosts: list[Host]) -> list[list[CellPlan]]:
    """Each engine's cells: balanced by cost and by how many cells each runs at once. Fixed before
    the run starts (the engines' own queues do the rest): a lost engine's cells end infra-error."""
    if len(hosts) == 1:
        return [plans]
    matrix = scope.prepared.matrix
    cells = [p.cell for p in plans]
    seconds = seconds_by_cell(cells, matrix.target.index.local, (scope.options.remedies or matrix.remedies).on, {})
    shares = split(cells, seconds, len(hosts), [h.parallel for h in hosts])
    by_id = {p.cell.id: p for p in plans}
    return [[by_id[c.id] for c in share.cells] for share in shares]


def _on_hosts(scope: RunScope, work: list[tuple[Host, list[CellPlan]]]) -> str:
    """Run each engine's cells; several engines at once, each in a thread of its own. Ctrl-C reaches
    only this thread: it tells every engine's scheduler, which stops as it would on its own."""
    if len(work) == 1:
        return _on_host(scope, *work[0], threading.Event())
    cancel = threading.Event()
    stopped: dict[str, str] = {}

    def one(host: Host, plans: list[CellPlan]) -> None:
        try:
            stopped[host.label] = _on_host(scope, host, plans, cancel)
        except Exception as e:  # noqa: BLE001 - one engine's failure must not lose the others' cells
            scope.console.print(f"[red]Docker host {host.label}: {type(e).__name__}: {e}[/red]"[:2000])
            stopped[host.label] = "engine-lost"
            _lose(scope, host, plans, f"Docker host {host.label} failed: {e}"[:500])

    threads = [threading.Thread(target=one, args=item, name=f"host-{item[0].label}", daemon=True)
               for item in work if item[1]]
    for thread in threads:
        thread.start()
    try:
        while alive := [t for t in threads if t.is_alive()]:
            alive[0].join(0.2)  # in slices: a blocked join would not see Ctrl-C
    except KeyboardInterrupt:
        cancel.set()
        for thread in threads:
            thread.join()
    reasons = set(stopped.values())
    return "interrupted" if "interrupted" in reasons else "engine-lost" if "engine-lost" in reasons else ""


def _lose(scope: RunScope, host: Host, plans: list[CellPlan], why: str) -> None:
    """A host that failed before its scheduler ran: its cells not yet recorded end infra-error."""
    done = set(scope.prepared.journal.finished())
    for plan in (p for p in plans if p.cell.id not in done):
        result = CellResult(id=plan.cell.id, axes=plan.cell.axes, outcome=Outcome.INFRA_ERROR.value,
                            evidence=[why + " (`run --resume` runs it again)"],
                            expected=[o.value for o in plan.cell.expected], rerun=True, host=host.label)
        with scope.record_lock:
            scope.prepared.journal.record(result)


def _on_host(scope: RunScope, host: Host, plans: list[CellPlan], cancel: threading.Event) -> str:
    """One engine's part of the run: its network, base images, services and setup cache; its cells.
    Returns why it stopped early ("" when it did not)."""
    prepared, options, ctx, needs, console = scope.prepared, scope.options, scope.ctx, scope.needs, scope.console
    matrix, run_dir, engine = prepared.matrix, prepared.run_dir, host.engine
    cache = SetupCache(engine, options.cache or matrix.settings.cache, _fingerprint(matrix, needs, ctx),
                       logs=cache_dir() / "setup-logs")
    stopped = ""
    try:
        network = engine.create_network(f"repromatrix-{prepared.header.run_id}")
        services = [SERVICE_BASE] if needs.services else []
        ready = provision(engine, services, console.print, matrix.settings.debian_mirror,
                          interpreters=[p.interpreter for p in plans])
        packages = SetupCache(engine, CacheMode.REFRESH if cache.mode is CacheMode.REFRESH else CacheMode.REUSE,
                              "services", kind=SERVICE_KIND)
        with (index_service(engine, matrix, needs, network, scope.run_ca, ready, console, scope.credentials,
                            packages) as index_url,
              proxy_service(engine, network, needs, scope.interception, ready, run_dir, console, packages) as proxy,
              _index_secret(ctx, scope.credentials) as secret):
            everything = _releases(matrix, index_url, ssl_context(ctx.host_ca, scope.run_ca), console,
                                   scope.credentials)
            releases = everything.only(matrix.target.version, matrix.target.pre) if everything else None
            jobs = _jobs(plans, ctx, run_dir, ready, cache, stored=options.remedy_cell is not None)
            runner = CellRunner(engine, network, matrix.settings.timeout, proxy, secret, cache, scope.remedy_ca)
            record = _recorder(scope, host, releases, ready, everything)
            remedies = _remedy_planner(options.remedies or matrix.remedies, releases, ctx,
                                       _resources(scope.remedy_ca, proxy, needs),
                                       everything.hosts if everything else ())
            progress = scope.progress
            stopped = run_all(runner, jobs, host.parallel, progress.started,
                              lambda run: progress.finished(run, record(run)), remedies, cancel).stopped
    finally:
        if stopped != "engine-lost" and engine.alive():
            engine.cleanup()
            _evict(cache, matrix, console)
    return stopped


def _fingerprint(matrix: Matrix, needs: RunNeeds, ctx: RenderContext) -> str:
    """What a cell's setup reads that its build context does not show: the index and its content."""
    if not matrix.target.index.local:
        return f"index {ctx.index_url or 'default'}"
    # The file by its name in its package: its bytes are the key (moving it does not change them).
    source = resources.files("repromatrix.infra").joinpath("localindex.py").read_bytes()
    return f"local index {hashlib.sha256(source).hexdigest()} {sorted(needs.real_wheels)}"


def _remedy_ca(ctx: RenderContext, run_dir: Path) -> Path | None:
    """Every CA the run knows (the host's, the local index's, the interceptor's), for the remedy that
    trusts the CA a cell lacks; None when there is none to give. The host's is looked up even when no
    cell of this run trusts it (`remedy` on a `ca: none` cell): it is the corporate CA to try."""
    host_ca = ctx.host_ca or detect_host_ca()
    bundle = (host_ca.read() if host_ca else b"") + ctx.run_ca_pem + ctx.interceptor_ca_pem
    if not bundle:
        return None
    path = (run_dir / "remedy-ca.pem").resolve()  # a bind mount's source must be absolute
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bundle)
    return path


def _resources(remedy_ca: Path | None, proxy: ProxySetup | None, needs: RunNeeds) -> frozenset[Resource]:
    """What remedies may use in this run."""
    have = {Resource.CA} if remedy_ca else set()
    if proxy is not None and Service.PROXY in needs.services:
        have |= {Resource.PROXY_CREDENTIALS, Resource.OPEN_PROXY}
    return frozenset(have)


def _remedy_planner(selection: Selection, releases: Releases | None, ctx: RenderContext,
                    resources: frozenset[Resource], file_hosts: Iterable[str] = ()) -> Remedies:
    """Classify a finished cell (once: the verdict stays with it) and plan the remedies to try on it."""
    default_index = ctx.index_url or pip_default_index()

    def plan(run: CellRun) -> list[AttemptJob]:
        run.verdict = classify(run.observation, releases)
        if not selection.on:
            return []
        record = run.observation.record or {}
        facts = facts_for(run.job.plan, record, run.verdict.facts.get("newest_for_python"),
                          run.job.plan.index_url or default_index, resources, "\n".join(run.verdict.evidence),
                          file_hosts)
        return [AttemptJob(run, attempt) for attempt in plan_attempts(run.verdict.outcome, facts, selection)]
    return plan


def _evict(cache: SetupCache, matrix: Matrix, console: Console) -> None:
    gone = cache.evict(matrix.settings.cache_budget)
    if gone:
        stale = sum(i.stale for i in gone)
        console.print(f"setup cache: removed {len(gone)} setup images ({human(sum(i.size for i in gone))}): "
                      f"{stale} replaced by a rebuild, {len(gone) - stale} least recently used beyond its budget")


def _recorder(scope: RunScope, host: Host, releases: Releases | None, ready: dict[str, Provisioned | BaseImageError],
              everything: Releases | None) -> Callable[[CellRun], CellResult]:
    """Classify a finished cell (once) and put it in the journal at once."""
    def record(cell_run: CellRun) -> CellResult:
        result = to_cell_result(cell_run, releases, scope.prepared.run_dir, ready, everything)
        result.host = host.label
        with scope.record_lock:  # several engines' cells finish at once
            scope.prepared.journal.record(result)
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
          ready: dict[str, Provisioned | BaseImageError], cache: SetupCache, stored: bool = False) -> list[CellJob]:
    """Render each cell's build context (or, `stored`, use the one the run directory holds), and find
    the setup prefixes cells share."""
    contexts = [_stored_context(run_dir, plan) if stored else render_cell(plan, ctx, run_dir / "cells")
                for plan in plans]
    chains = {plan.cell.id: cache.chain(context, plan.base_image)
              for plan, context in zip(plans, contexts, strict=True)}
    shares = share_points(chains) if cache.mode is not CacheMode.OFF else dict.fromkeys(chains)
    jobs = []
    for plan, context in zip(plans, contexts, strict=True):
        base = ready.get(plan.base_image)
        error = f"base image {plan.base_image}: {base.reason}" if isinstance(base, BaseImageError) else ""
        jobs.append(CellJob(plan=plan, context=context, base_error=error, share=shares[plan.cell.id]))
    return jobs


def _stored_context(run_dir: Path, plan: CellPlan) -> Path:
    """A cell's build context as the run directory holds it (perhaps attached by someone else): a real
    directory inside the run directory, never reached through a symlink."""
    context = run_dir / "cells" / plan.cell.id
    inside = context.resolve().is_relative_to(run_dir.resolve())
    if context.is_symlink() or not inside or not (context / "Dockerfile").is_file() \
            or (context / "Dockerfile").is_symlink():
        raise UsageError(f"{context}: not a cell's build context (a directory with a Dockerfile, inside the "
                         "run directory, not a symlink)\n  hint: 'repromatrix run --resume' re-renders it")
    return context


def at_once(wanted: int, capacity: Capacity | None, local_index: bool, console: Console, said: str = "") -> int:
    """max_parallel, lowered (and said so) to what the engine's machine can hold."""
    if capacity is None or wanted <= (most := cells_at_once(capacity, local_index)):
        return wanted
    console.print(f"[yellow]{said}max_parallel {wanted} lowered to {most}: the engine's machine has {capacity.said()}, "
                  f"which holds about {most} cells at once[/yellow]")
    return most


def to_cell_result(run: CellRun, releases: Releases | None, run_dir: Path,
                   ready: dict[str, Provisioned | BaseImageError], everything: Releases | None = None) -> CellResult:
    plan, obs = run.job.plan, run.observation
    verdict = run.verdict or classify(obs, releases)
    record = obs.record or {}
    rel = run.job.context.relative_to(run_dir)
    facts = verdict.facts
    order = [r.name for r in CATALOGUE]
    attempts = [to_attempt_result(a, releases, run_dir)
                for a in sorted(run.attempts, key=lambda a: order.index(a.job.plan.remedy.name))]
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
        setup=run.setup, rerun=run.rerun, setup_image=run.setup_image, attempts=attempts,
        fix=recommended((a["remedy"], Fix(a["fix"]), a["after"]) for a in attempts))


def to_attempt_result(attempt: AttemptRun, releases: Releases | None, run_dir: Path) -> dict[str, Any]:
    """One remedy attempt, judged by the same classifier as the cells."""
    plan = attempt.job.plan
    verdict = classify(attempt.observation, releases)
    record = attempt.observation.record or {}
    return {"remedy": plan.remedy.name, "title": plan.remedy.title, "commands": list(plan.commands),
            "identity": plan.upgrader, "warning": plan.remedy.warning, "outcome": verdict.outcome.value,
            "evidence": list(verdict.evidence), "fix": judge(verdict.outcome).value,
            "pip_check_exit_code": (record.get("pip_check") or {}).get("exit_code"), "after": record.get("after"),
            "log": str(attempt.log_path.relative_to(run_dir)) if attempt.log_path else "",
            "seconds": attempt.seconds}


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
