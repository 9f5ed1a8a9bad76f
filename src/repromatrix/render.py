"""Stage 3: plan each cell (pure) and render its build context from Jinja2 templates.

A rendered context (Dockerfile + scenario.py [+ ca-bundle.pem]) reproduces its cell with
plain `docker build` and `docker run`, with nothing of repromatrix installed: it is what a
user attaches to a bug. Layers go from most to least shared (OS → Python tooling → CA →
index → install mode → prior version → scenario) so cells share the build cache.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

from .hostca import HostCA
from .localindex import INDEX_HOST, INDEX_PORT
from .model import (
    CONFLICT_MODES,
    INSTALL_MODES,
    NETWORK_MODES,
    Cell,
    ConflictMode,
    InstallMode,
    NetworkMode,
    Target,
)

CA_PATH = "/usr/local/share/repromatrix/ca-bundle.pem"
SETUP_MARKER = ": repromatrix-setup"  # marks the RUN whose failure means setup-failed
PROXY_SECRET = "/run/secrets/repromatrix-proxy-url"  # where a cell finds its proxy URL with credentials


@dataclass(frozen=True)
class RenderContext:
    """What every cell of a run shares."""

    target: Target
    host_ca: HostCA | None = None
    index_url: str | None = None  # None: pip's default index
    run_ca_pem: bytes = b""  # the local index's CA: trusted like the host's CA
    local: bool = False  # the cells read repromatrix's local index
    interceptor_ca_pem: bytes = b""  # the TLS-intercepting proxy's CA, for cells that trust it

    def ca_bundle(self, ca: str, network: NetworkMode) -> bytes:
        """What a cell trusts on top of the image's own CAs."""
        bundle = ((self.host_ca.read() if self.host_ca else b"") + self.run_ca_pem) if ca == "host" else b""
        return bundle + (self.interceptor_ca_pem if network.trusts_interceptor else b"")


def local_index_context(target: Target, host_ca: HostCA | None, run_ca_pem: bytes) -> RenderContext:
    return RenderContext(target=target, host_ca=host_ca, index_url=f"https://{INDEX_HOST}:{INDEX_PORT}/simple/",
                         run_ca_pem=run_ca_pem, local=True)


@dataclass(frozen=True)
class CellPlan:
    cell: Cell
    base_image: str
    upgrade_command: str  # exactly what runs, the way a user types it
    setup_commands: tuple[str, ...]  # the prior version, then what conflicts with the upgrade (build time)
    trusts_host_ca: bool
    env: tuple[tuple[str, str], ...]
    mode: InstallMode
    network: NetworkMode
    conflicts: ConflictMode
    notes: tuple[str, ...] = ()

    @property
    def proxy_url(self) -> str | None:
        """The proxy variables' value (never with credentials: those come from a secret)."""
        port = self.network.proxy_port
        return f"http://{self.network.proxy_host}:{port}" if port else None

    @property
    def image_tag(self) -> str:
        return f"repromatrix/{self.cell.id}".lower()

    @property
    def identities(self) -> tuple[str, ...]:
        """Whose view of the installed package the scenario checks after the upgrade."""
        return ("root",) + ((self.mode.user,) if self.mode.user else ())


def plan_cell(cell: Cell, ctx: RenderContext) -> CellPlan:
    target = ctx.target
    notes = []
    network = NETWORK_MODES[cell.axes["network"]]
    trusts = bool(ctx.ca_bundle(cell.axes["ca"], network))
    if cell.axes["ca"] == "host" and not trusts:
        notes.append("ca=host, but the host's pip has no CA bundle configured: the cell uses the image's own CAs")
    env: list[tuple[str, str]] = [("PIP_DISABLE_PIP_VERSION_CHECK", "1")]
    if ctx.index_url:
        env.append(("PIP_INDEX_URL", ctx.index_url))
    mode = INSTALL_MODES[cell.axes["install"]]
    conflicts = CONFLICT_MODES[cell.axes["conflicts"]]
    # On PEP 668 systems users got their packages past the marker; pip versions without the
    # option ignore the variable, so one spelling fits every OS.
    brk = "PIP_BREAK_SYSTEM_PACKAGES=1 " if mode.venv is None else ""
    wanted = ([f"{target.package}=={cell.prior}"] if cell.prior else []) + list(conflicts.preinstall)
    if cell.axes["pip"] != "os":  # last, so the OS's pip set up the rest as it did for users
        wanted.append(f"pip=={cell.axes['pip']}")
    setup = tuple(f'{brk}python3 -m pip install "{req}"' for req in wanted)
    user_flag = "--user " if mode.user_flag else ""
    upgrade = f"python3 -m pip install {user_flag}--upgrade {shlex.quote(target.requirement)}"
    return CellPlan(cell=cell, base_image=cell.base_image, upgrade_command=upgrade, setup_commands=setup,
                    trusts_host_ca=trusts, env=tuple(env), mode=mode,
                    network=network, conflicts=conflicts, notes=tuple(notes))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("repromatrix", "templates"),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render_dockerfile(plan: CellPlan, ctx: RenderContext) -> str:
    return _environment().get_template("Dockerfile.j2").render(
        plan=plan, cell=plan.cell, target=ctx.target, mode=plan.mode, ca_path=CA_PATH,
        setup_marker=SETUP_MARKER, local=ctx.local, proxy_secret=PROXY_SECRET,
        import_name=ctx.target.package.replace("-", "_"))


def _template_bytes(name: str) -> bytes:
    return resources.files("repromatrix").joinpath(f"templates/{name}").read_bytes()


def scenario_source() -> bytes:
    return _template_bytes("scenario.py")


def render_cell(plan: CellPlan, ctx: RenderContext, out_dir: Path) -> Path:
    """Write the cell's build context to out_dir/<cell id>/, atomically; returns that dir."""
    final = out_dir / plan.cell.id
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.cell.id}.", dir=out_dir))
    try:
        (tmp / "Dockerfile").write_text(render_dockerfile(plan, ctx))
        (tmp / "scenario.py").write_bytes(scenario_source())
        if plan.cell.axes["cache"] == "corrupted":
            (tmp / "corrupt_cache.py").write_bytes(_template_bytes("corrupt_cache.py"))
        if plan.trusts_host_ca:
            (tmp / "ca-bundle.pem").write_bytes(ctx.ca_bundle(plan.cell.axes["ca"], plan.network))
        os.chmod(tmp, 0o755)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def reproduce_command(plan: CellPlan, context_dir: str) -> str:
    return (f"docker build -t {plan.image_tag} {shlex.quote(context_dir)} && "
            f"docker run --rm {plan.image_tag}")
