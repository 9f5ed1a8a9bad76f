"""The run's trust material: the host's CA (for cells that trust it), the local index's CA,
the interceptor's CA, and the bundle the trust-ca remedy mounts; the context plans render with.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.axes import (
    NETWORK_MODES,
    InstallerName,
    RunNeeds,
    Service,
    installer_of,
    run_needs,
)
from ..core.errors import UsageError
from ..core.files import cache_dir, write_atomic
from ..core.model import Cell, DownloadCacheMode, Matrix
from ..core.platforms import (
    ARCHES,
    NATIVE_ARCH,
    RUN_PLATFORM,
    Arch,
    arch_of_image,
    platform_named,
)
from ..infra.credentials import IndexCredentials
from ..infra.credentials import resolve as resolve_credentials
from ..infra.downloadcache import cache_ca
from ..infra.hostca import HostCA, detect_host_ca
from ..infra.services import Interception
from ..infra.tlsca import RunCA
from ..infra.wheelcache import standalone_binary
from ..installers import INSTALLERS
from ..plan.plan import RenderContext, cell_as_of_route, local_index_context, program_key
from .prepare import Prepared


def render_context(
    matrix: Matrix,
    cells: list[Cell],
    host_ca: HostCA | None,
    run_ca: RunCA | None,
    interception: Interception | None = None,
) -> RenderContext:
    if run_ca is not None:
        ctx = local_index_context(matrix.target, host_ca, run_ca.cert_pem, matrix.checks)
    else:
        url = matrix.target.index.url or None  # None: pip's default index
        ctx = RenderContext(
            target=matrix.target, host_ca=host_ca, index_url=url, checks=matrix.checks
        )
    return replace(
        ctx,
        interceptor_ca_pem=interception.ca.cert_pem if interception else b"",
        index_secret=matrix.target.index.secret,
        programs=installer_programs(cells),
        environments=matrix.environments,
    )


def installer_programs(cells: list[Cell]) -> tuple[tuple[str, Path], ...]:
    """The standalone program of each installer the cells name that brings one (uv), for each
    architecture its containers run on, from its real wheel on the host's index, extracted once
    (the newest, unless the matrix pins one); keyed by program_key."""
    values = dict.fromkeys((c.axes["installer"], container_arch(c.axes)) for c in cells)
    wanted = [(v, arch, *installer_of(v)) for v, arch in values]
    return tuple(
        (program_key(value, arch), standalone_binary(INSTALLERS[name].standalone, pin, arch))
        for value, arch, name, pin in wanted
        if INSTALLERS[name].standalone
    )


def container_arch(axes: dict[str, str]) -> Arch:
    """The architecture a cell's container runs on: its arch, unless it is only resolved (its
    resolver runs on this machine's)."""
    platform = platform_named(axes.get("platform", RUN_PLATFORM))
    if platform is not None and not platform.runs:
        return ARCHES[NATIVE_ARCH]
    return arch_of_image(axes.get("os", "")) or ARCHES.get(
        axes.get("arch", NATIVE_ARCH), ARCHES[NATIVE_ARCH]
    )


def run_ca_for(matrix: Matrix, run_id: str) -> RunCA | None:
    """The local index's CA: kept across runs, so cells that trust it keep their cached setups."""
    return (
        RunCA.kept(cache_dir() / "ca" / "local-index.pem", "local index")
        if matrix.target.index.local
        else None
    )


def needs_of(matrix: Matrix, cells: list[Cell]) -> RunNeeds:
    needs = run_needs(c.axes for c in cells) | _as_of_needs(matrix, cells)
    if not matrix.target.index.local:
        return needs
    # The cells' installers' (pip's always: every installer's remedies may run pip): the wheels
    # their setups and remedies fetch. Only theirs: a real wheel shadows a model of the same name
    # (pip-tools' real build 1.6.1 would be taken over the placeholder example's model build).
    used: set[InstallerName] = {installer_of(c.axes["installer"])[0] for c in cells}
    used.add("pip")
    wheels = frozenset().union(*(INSTALLERS[name].index_wheels for name in sorted(used)))
    return needs | RunNeeds(services=frozenset({Service.INDEX}), real_wheels=wheels)


def _as_of_needs(matrix: Matrix, cells: list[Cell]) -> RunNeeds:
    """The date-filtering index, when a cell's installer cannot filter by upload time itself; it
    sits on the run's network, which cells behind the test proxy do not reach, and it reads the
    index without credentials."""
    if not matrix.target.as_of:
        return RunNeeds()
    routed = [c for c in cells if cell_as_of_route(c) == "service"]
    if not routed:
        return RunNeeds()
    behind = [c.id for c in routed if NETWORK_MODES[c.axes["network"]].internal]
    if behind:
        raise UsageError(
            f"--as-of: {len(behind)} cell(s) would read the index through repromatrix's "
            f"date-filtering index from behind the test proxy, which does not reach it (e.g. "
            f"{behind[0]})\n  hint: exclude network values other than direct for those cells, "
            "or pin a pip that filters by itself (pip: ['26.1'])"
        )
    if matrix.target.index.secret:
        raise UsageError(
            "--as-of: the date-filtering index would read an index that needs credentials, which "
            "it is never given\n  hint: pin a pip that filters by itself (pip: ['26.1']) or use "
            "uv for such an index"
        )
    return RunNeeds(services=frozenset({Service.TIMEMACHINE}))


def setup_reads(matrix: Matrix, cell: Cell) -> str:
    """What the local index serves that this cell's setup may read besides the target: the real
    wheels of its own axes (a pinned pip) and the installers'. Not other cells' pins, which no setup
    installs from: a shard or another matrix with the same cell shares its setup."""
    if not matrix.target.index.local:
        return ""
    return " ".join(sorted(needs_of(matrix, [cell]).real_wheels))


def wanted_host_ca(needs: RunNeeds) -> HostCA | None:
    return detect_host_ca() if needs.host_ca else None


def interception_for(
    needs: RunNeeds, host_ca: HostCA | None, run_ca: RunCA | None, run_id: str
) -> Interception | None:
    """A CA for the TLS-intercepting proxy, if a cell needs one; upstream it trusts the index's
    CA."""
    if Service.INTERCEPTOR not in needs.services:
        return None
    if run_ca:
        upstream = run_ca.cert_pem
    elif host_ca:
        upstream = host_ca.read()
    else:  # no corporate CA: the system's own bundle
        upstream = Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes()
    return Interception(RunCA.kept(cache_dir() / "ca" / "interceptor.pem", "interceptor"), upstream)


def remedy_ca_bundle(ctx: RenderContext, run_dir: Path) -> Path | None:
    """Every CA the run knows (the host's, the local index's, the interceptor's), for the remedy
    that trusts the CA a cell lacks; None when there is none to give. The host's is looked up
    even when no cell of this run trusts it (`remedy` on a `ca: none` cell): it is the corporate
    CA to try."""
    host_ca = ctx.host_ca or detect_host_ca()
    bundle = (host_ca.read() if host_ca else b"") + ctx.run_ca_pem + ctx.interceptor_ca_pem
    bundle += ctx.download_ca_pem  # remedies of cells that go through the download cache
    if not bundle:
        return None
    # A bind mount's source must be absolute: the directory resolved, never the file's name
    # (a planted remedy-ca.pem -> /etc/shadow would be resolved to its target and replaced)
    path = run_dir.resolve() / "remedy-ca.pem"
    write_atomic(path, bundle)  # replaced, never written through a planted symlink
    return path


@dataclass(frozen=True)
class Trust:
    """What a run's cells trust and present: decided once, before any cell is planned."""

    needs: RunNeeds
    host_ca: HostCA | None
    run_ca: RunCA | None
    credentials: IndexCredentials | None
    interception: Interception | None
    ctx: RenderContext


def trust_for(
    prepared: Prepared, downloads: DownloadCacheMode | None = None, triage: bool = False
) -> Trust:
    """`downloads`: --download-cache (None: the matrix's settings.download_cache); `triage`:
    --triage, which the plans read from the context."""
    matrix = prepared.matrix
    needs = needs_of(matrix, prepared.todo or prepared.cells)
    host_ca = wanted_host_ca(needs)
    run_ca = run_ca_for(matrix, prepared.header.run_id)
    credentials = resolve_credentials(matrix.target.index)  # a missing token variable fails first
    interception = interception_for(needs, host_ca, run_ca, prepared.header.run_id)
    ctx = render_context(matrix, prepared.todo or prepared.cells, host_ca, run_ca, interception)
    ctx = replace(ctx, triage=triage)
    if (downloads or matrix.settings.download_cache).wanted(matrix.target.index.local):
        # kept on this machine: the bundles of cells going through the cache stay the same
        ctx = replace(ctx, download_ca_pem=cache_ca().cert_pem)
    return Trust(needs, host_ca, run_ca, credentials, interception, ctx)
