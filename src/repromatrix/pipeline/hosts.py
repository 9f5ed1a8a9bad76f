"""Stages 4-5 on the run's Docker engines: each engine's network, base images, services and
setup cache, its share of the cells, and the threads that run several engines at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import threading
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rich.console import Console

from ..config.cost import cells_at_once
from ..config.shard import split
from ..core import asof
from ..core.axes import RunNeeds, Service
from ..core.errors import BaseImageError, DockerUnavailable, InfraError, UsageError
from ..core.files import cache_dir, size_said
from ..core.interpreter import rootfs_image
from ..core.model import CacheMode, HostSpec, Matrix
from ..core.outcomes import Outcome
from ..core.platforms import EMULATION_SLOWDOWN, Arch
from ..core.result import CellResult
from ..execute.progress import RunProgress
from ..execute.runner import (
    CellJob,
    CellRun,
    CellRunner,
    IndexSecret,
    run_all,
)
from ..infra.baseimages import Provisioned, check_arches, provision
from ..infra.credentials import IndexCredentials, redact, secret_file
from ..infra.docker_engine import DockerEngine
from ..infra.downloadcache import DEFAULT_BUDGET, DownloadCache, download_cache_service
from ..infra.engine import Capacity
from ..infra.localindex import EXTRA_ROOT
from ..infra.services import (
    SERVICE_BASE,
    ProxySetup,
    index_service,
    proxy_service,
    ssl_context,
    timemachine_service,
)
from ..infra.setupcache import SERVICE_KIND, SetupCache, share_points
from ..judge.index import Releases, UploadTimes, fetch_releases, pip_default_index
from ..judge.judging import CellJudge
from ..judge.remedies import Resource
from ..plan.plan import CellPlan, RenderContext
from ..plan.render import render_cell
from ..results.journal import owner_label
from .prepare import Prepared, RunOptions, expected_seconds
from .trust import Trust, remedy_ca_bundle, setup_reads


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
    specs = (
        [HostSpec(url) for url in options.hosts]
        or list(matrix.settings.hosts)
        or [HostSpec("default")]
    )
    hosts = []
    for spec in specs:
        try:
            engine = DockerEngine(
                prepared.header.run_id,
                owner=owner_label(prepared.owner),
                base_url=None if spec.url == "default" else spec.url,
            )
        except DockerUnavailable as e:
            raise DockerUnavailable(f"Docker host {spec.label}: {e}") from None
        wanted = spec.max_parallel or options.max_parallel or matrix.settings.max_parallel
        said = f"Docker host {spec.label}: " if len(specs) > 1 else ""
        hosts.append(
            Host(
                engine,
                spec.label,
                at_once(wanted, engine.capacity(), matrix.target.index.local, console, said),
            )
        )
    return hosts


def at_once(
    wanted: int, capacity: Capacity | None, local_index: bool, console: Console, said: str = ""
) -> int:
    """max_parallel, lowered (and said so) to what the engine's machine can hold."""
    if capacity is None or wanted <= (most := cells_at_once(capacity, local_index)):
        return wanted
    console.print(
        f"[yellow]{said}max_parallel {wanted} lowered to {most}: the engine's machine has "
        f"{capacity.said()}, "
        f"which holds about {most} cells at once[/yellow]"
    )
    return most


@dataclass(frozen=True)
class RunScope:
    """What every engine of one run shares: the run, what it trusts, and where results go."""

    prepared: Prepared
    options: RunOptions
    trust: Trust
    console: Console
    progress: RunProgress
    record_lock: threading.Lock
    remedy_ca: Path | None  # the CA bundle the trust-ca remedy mounts (one file for every engine)


def spread(scope: RunScope, plans: list[CellPlan], hosts: list[Host]) -> list[list[CellPlan]]:
    """Each engine's cells, balanced by cost and by how many cells each runs at once, longest
    first: a run ends when its last cell does, so the long poles (pip waiting out its retries,
    then the remedies) start at once instead of last. Fixed before the run starts (the engines'
    own queues do the rest): a lost engine's cells end infra-error."""
    cells = [p.cell for p in plans]
    options = scope.options
    seconds = expected_seconds(scope.prepared.matrix, cells, options.out, options.remedies)
    shares = [cells]
    if len(hosts) > 1:
        parallel = [h.parallel for h in hosts]
        shares = [list(s.cells) for s in split(cells, seconds, len(hosts), parallel)]
    by_id = {p.cell.id: p for p in plans}
    longest_first = [sorted(share, key=lambda c: -seconds[c.id]) for share in shares]
    return [[by_id[c.id] for c in share] for share in longest_first]


def on_hosts(scope: RunScope, work: list[tuple[Host, list[CellPlan]]]) -> str:
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
            scope.console.print(
                f"[red]Docker host {host.label}: {type(e).__name__}: {e}[/red]"[:2000]
            )
            stopped[host.label] = "engine-lost"
            _lose(scope, host, plans, f"Docker host {host.label} failed: {e}"[:500])

    threads = [
        threading.Thread(target=one, args=item, name=f"host-{item[0].label}", daemon=True)
        for item in work
        if item[1]
    ]
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
    for reason in ("interrupted", "engine-lost"):  # an interruption says more than a loss
        if reason in reasons:
            return reason
    return ""


def _lose(scope: RunScope, host: Host, plans: list[CellPlan], why: str) -> None:
    """A host that failed before its scheduler ran: its cells not yet recorded end infra-error."""
    done = set(scope.prepared.journal.finished())
    for plan in (p for p in plans if p.cell.id not in done):
        result = CellResult(
            id=plan.cell.id,
            axes=plan.cell.axes,
            outcome=Outcome.INFRA_ERROR,
            evidence=[why + " (`run --resume` runs it again)"],
            expected=list(plan.cell.expected),
            rerun=True,
            host=host.label,
        )
        with scope.record_lock:
            scope.prepared.journal.record(result)


def _on_host(scope: RunScope, host: Host, plans: list[CellPlan], cancel: threading.Event) -> str:
    """One engine's part of the run: its network, base images, services and setup cache; its cells.
    Returns why it stopped early ("" when it did not)."""
    prepared, options, trust, console = scope.prepared, scope.options, scope.trust, scope.console
    matrix, run_dir, engine = prepared.matrix, prepared.run_dir, host.engine
    cache = SetupCache(
        engine,
        options.cache or matrix.settings.cache,
        _fingerprint(matrix, trust.ctx),
        logs=cache_dir() / "setup-logs",
    )
    stopped = ""
    try:
        network = engine.create_network(f"repromatrix-{prepared.header.run_id}")
        services = [SERVICE_BASE] if trust.needs.services else []
        ready = provision(
            engine,
            services,
            console.print,
            matrix.settings.debian_mirror,
            interpreters=[p.interpreter for p in plans],
            rootfs=_rootfs(matrix, plans),
        )
        running = {p.base_image: p.arch for p in plans if not p.resolved_only}
        emulated = check_arches(engine, running, ready)  # before the first cell (exit 3)
        for arch, slow in emulated.items():
            if slow:
                console.print(
                    f"arch {arch}: runs under qemu-user emulation on this "
                    f"{engine.architecture() or 'x86_64'} engine (about "
                    f"{EMULATION_SLOWDOWN} times slower: its cells' time limits are scaled)"
                )
        packages = _packages_cache(engine, cache)
        with (
            index_service(
                engine,
                matrix,
                trust.needs,
                network,
                trust.run_ca,
                ready,
                console,
                trust.credentials,
                packages,
                run_dir,
            ) as index_url,
            proxy_service(
                engine, network, trust.needs, trust.interception, ready, run_dir, console, packages
            ) as proxy,
            timemachine_service(
                engine,
                matrix,
                trust.needs,
                network,
                _upstream_ca(trust),
                ready,
                run_dir,
                console,
                packages,
            ),
            _index_secret(trust.ctx, trust.credentials) as secret,
            _download_cache(scope, host, plans, network, packages) as downloads,
        ):
            tls = ssl_context(trust.ctx.host_ca, trust.run_ca)
            everything = _as_it_was(
                _releases(matrix, index_url, tls, console, trust.credentials), matrix
            )
            releases = (
                everything.only(matrix.target.version, matrix.target.pre) if everything else None
            )
            stored = options.remedy_cell is not None
            jobs = _jobs(matrix, plans, trust.ctx, run_dir, ready, cache, stored, emulated)
            runner = CellRunner(
                engine,
                network,
                matrix.settings.timeout,
                proxy,
                secret,
                cache,
                scope.remedy_ca,
                downloads,
            )
            times = UploadTimes(
                index_url or pip_default_index(),
                tls,
                trust.credentials.authorization() if trust.credentials else None,
            )
            judge = CellJudge(
                options.remedies or matrix.remedies,
                releases,
                everything,
                trust.ctx.index_url or pip_default_index(),
                _resources(scope.remedy_ca, proxy, trust.needs),
                run_dir,
                ready,
                tuple(everything.hosts) if everything else (),
            )
            record = _recorder(scope, host, judge, times)
            progress = scope.progress
            stopped = run_all(
                runner,
                jobs,
                host.parallel,
                progress.started,
                lambda run: progress.finished(run, record(run)),
                judge.attempts_for,
                cancel,
            ).stopped
    finally:
        if stopped != "engine-lost" and engine.alive():
            engine.cleanup()
            _evict(cache, matrix, console)
    return stopped


def _download_cache(
    scope: RunScope, host: Host, plans: list[CellPlan], network: str, packages: SetupCache
) -> contextlib.AbstractContextManager[DownloadCache | None]:
    """The run's download cache on this engine, when a cell of its share goes through it."""
    if not any(p.downloads for p in plans):
        return contextlib.nullcontext(None)
    trust, matrix = scope.trust, scope.prepared.matrix
    # What it trusts upstream: the local index's CA, and what the host's pip trusts
    upstream = (trust.run_ca.cert_pem if trust.run_ca else b"") + (
        trust.ctx.host_ca.read() if trust.ctx.host_ca else b""
    )
    suffix = (
        "" if host.label == "default" else "-" + hashlib.sha256(host.label.encode()).hexdigest()[:8]
    )
    return download_cache_service(
        host.engine,
        network,
        upstream,
        matrix.settings.download_cache_budget or DEFAULT_BUDGET,
        scope.prepared.run_dir,
        scope.console,
        packages,
        suffix,
    )


def _rootfs(matrix: Matrix, plans: list[CellPlan]) -> dict[str, tuple[Path, Arch]]:
    """The cells' root file system tarballs (os: FILE, beside the matrix), by their image."""
    folder = Path(matrix.path).resolve().parent
    return {
        plan.base_image: (folder / plan.cell.axes["os"], plan.arch)
        for plan in plans
        if rootfs_image(plan.cell.axes["os"]) is not None and not plan.resolved_only
    }


def _packages_cache(engine: DockerEngine, cells: SetupCache) -> SetupCache:
    """The services' packages (nginx, squid, mitmproxy) are cached too, refreshed with the
    cells'."""
    refresh = cells.mode is CacheMode.REFRESH
    return SetupCache(
        engine, CacheMode.REFRESH if refresh else CacheMode.REUSE, "services", kind=SERVICE_KIND
    )


def _fingerprint(matrix: Matrix, ctx: RenderContext) -> str:
    """What every cell's setup reads that its build context does not show: the index (and the
    code that makes the local one); the wheels each cell reads are its job's `reads`."""
    if not matrix.target.index.local:
        return f"index {ctx.index_url or 'default'}"
    # The file by its name in its package: its bytes are the key (moving it does not change them).
    source = resources.files("repromatrix.infra").joinpath("localindex.py").read_bytes()
    return f"local index {hashlib.sha256(source).hexdigest()}"


def _resources(
    remedy_ca: Path | None, proxy: ProxySetup | None, needs: RunNeeds
) -> frozenset[Resource]:
    """What remedies may use in this run."""
    have = {Resource.CA} if remedy_ca else set()
    if proxy is not None and Service.PROXY in needs.services:
        have |= {Resource.PROXY_CREDENTIALS, Resource.OPEN_PROXY}
    return frozenset(have)


def _evict(cache: SetupCache, matrix: Matrix, console: Console) -> None:
    gone = cache.evict(matrix.settings.cache_budget)
    if gone:
        stale = sum(i.stale for i in gone)
        freed = size_said(sum(i.size for i in gone))
        console.print(
            f"setup cache: removed {len(gone)} setup images ({freed}): {stale} replaced by a "
            f"rebuild, {len(gone) - stale} least recently used beyond its budget"
        )


def _recorder(
    scope: RunScope,
    host: Host,
    judge: CellJudge,
    times: UploadTimes | None = None,
) -> Callable[[CellRun], CellResult]:
    """A cell done with its attempts: judged and written down (stage 5), dated what its upgrade
    took, and put in the journal at once (stage 6)."""

    def record(cell_run: CellRun) -> CellResult:
        result = judge.result(cell_run)
        result.host = host.label
        if times is not None:
            date_changes(result, times)
        with scope.record_lock:  # several engines' cells finish at once
            scope.prepared.journal.record(result)
        return result

    return record


def date_changes(result: CellResult, times: UploadTimes) -> None:
    """Each version the upgrade put in, with when the index got it (PEP 700), where it says."""
    for change in result.changed:
        name, version = change.get("name"), change.get("after")
        if not (isinstance(name, str) and isinstance(version, str)):
            continue  # removed: nothing was taken
        if uploaded := times.of(name, version):
            change["uploaded"] = uploaded


@contextlib.contextmanager
def _index_secret(
    ctx: RenderContext, credentials: IndexCredentials | None
) -> Iterator[IndexSecret | None]:
    """The index URL with credentials as a file cells mount read-only, and what to redact from
    logs."""
    if credentials is None or not ctx.index_url:
        yield None
        return
    with secret_file("index-url", credentials.url(ctx.index_url) + "\n") as path:
        yield IndexSecret(path, credentials.secrets())


def _jobs(
    matrix: Matrix,
    plans: list[CellPlan],
    ctx: RenderContext,
    run_dir: Path,
    ready: dict[str, Provisioned | BaseImageError],
    cache: SetupCache,
    stored: bool = False,
    emulated: dict[str, bool] | None = None,
) -> list[CellJob]:
    """Render each cell's build context (or, `stored`, use the one the run directory holds), and
    find the setup prefixes cells share."""
    contexts = [
        _stored_context(run_dir, plan) if stored else render_cell(plan, ctx, run_dir / "cells")
        for plan in plans
    ]
    reads = {plan.cell.id: setup_reads(matrix, plan.cell) for plan in plans}
    chains = {
        plan.cell.id: cache.chain(context, plan.base_image, reads[plan.cell.id])
        for plan, context in zip(plans, contexts, strict=True)
    }
    shares = share_points(chains) if cache.mode is not CacheMode.OFF else dict.fromkeys(chains)
    jobs = []
    for plan, context in zip(plans, contexts, strict=True):
        base = ready.get(plan.base_image)
        error = (
            f"base image {plan.base_image}: {base.reason}"
            if isinstance(base, BaseImageError)
            else ""
        )
        jobs.append(
            CellJob(
                plan=plan,
                context=context,
                base_error=error,
                share=shares[plan.cell.id],
                reads=reads[plan.cell.id],
                emulated=(emulated or {}).get(plan.arch.name, False) and not plan.resolved_only,
            )
        )
    return jobs


def _stored_context(run_dir: Path, plan: CellPlan) -> Path:
    """A cell's build context as the run directory holds it (perhaps attached by someone else): a
    real directory inside the run directory, never reached through a symlink."""
    context = run_dir / "cells" / plan.cell.name
    inside = context.resolve().is_relative_to(run_dir.resolve())
    if (
        context.is_symlink()
        or not inside
        or not (context / "Dockerfile").is_file()
        or (context / "Dockerfile").is_symlink()
    ):
        raise UsageError(
            f"{context}: not a cell's build context (a directory with a Dockerfile, inside the "
            "run directory, not a symlink)\n  hint: 'repromatrix run --resume' re-renders it"
        )
    return context


def _upstream_ca(trust: Trust) -> bytes:
    """What the date-filtering index trusts upstream: the local index's CA, or the host's."""
    if trust.run_ca is not None:
        return trust.run_ca.cert_pem
    return trust.ctx.host_ca.read() if trust.ctx.host_ca else b""


def _as_it_was(releases: Releases | None, matrix: Matrix) -> Releases | None:
    """The releases as the index listed them at the run's as-of time (what "the newest" means
    in every cell); an index that dates none of the target's files is refused, as no filter could
    see it as it was."""
    when = matrix.target.as_of
    if releases is None or not when:
        return releases
    if releases.undated:
        raise InfraError(
            f"--as-of {when}: the index gives none of {matrix.target.name}'s files an upload time "
            "(PEP 700, in its JSON pages), so neither an installer's own filter nor repromatrix's "
            "can leave out what came later\n  hint: run without --as-of, or against an index "
            "that serves upload times"
        )
    return releases.uploaded_before(asof.parsed(when))


def _releases(
    matrix: Matrix,
    index_url: str | None,
    context: ssl.SSLContext,
    console: Console,
    credentials: IndexCredentials | None = None,
) -> Releases | None:
    """Every release the index offers (with its files), to explain results; None if unreadable."""
    try:
        url = index_url or pip_default_index()
        auth = credentials.authorization() if credentials else None
        try:
            releases = fetch_releases(url, matrix.target.name, context, authorization=auth)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            console.print(f"[yellow]the index has no project {matrix.target.name} (404)[/yellow]")
            return Releases(matrix.target.name, missing=True)
        for extra in extra_index_hosted(matrix, url):  # what pip sees: every index's files
            releases = releases.joined(fetch_releases(extra, matrix.target.name, context))
        return releases
    except Exception as e:  # noqa: BLE001 - an unreadable index only costs us the explanation
        said = redact(str(e), credentials.secrets()) if credentials else str(e)
        console.print(
            f"[yellow]could not read the index's release list ({said}); "
            "results will not say whether an upgrade landed below the newest release[/yellow]"
        )
        return None


def extra_index_hosted(matrix: Matrix, index_url: str) -> list[str]:
    """The extra indexes as this machine reaches them (the local one's through its port)."""
    local = index_url.rstrip("/").removesuffix("/simple") + f"/{EXTRA_ROOT}/simple/"
    return [local if url == "local" else url for url in matrix.target.extra_index]


def execute(
    prepared: Prepared,
    options: RunOptions,
    trust: Trust,
    plans: list[CellPlan],
    hosts: list[Host],
    console: Console,
) -> str:
    """Every plan run on the engines, with progress; why the run stopped early ("" if it did
    not)."""
    before = len(prepared.cells) - len(plans)
    with RunProgress(console, len(plans), before) as progress:
        remedies_on = (options.remedies or prepared.matrix.remedies).on
        remedy_ca = remedy_ca_bundle(trust.ctx, prepared.run_dir) if remedies_on else None
        scope = RunScope(prepared, options, trust, console, progress, threading.Lock(), remedy_ca)
        shares = spread(scope, plans, hosts)
        return on_hosts(scope, list(zip(hosts, shares, strict=True)))
