"""Stage 3b: render each cell's build context from its plan, with Jinja2 templates.

A rendered context (Dockerfile + scenario.py [+ checks.json, ca-bundle.pem]) reproduces its
cell with plain `docker build` and `docker run`, with nothing of repromatrix installed: it is
what a user attaches to a bug. Layers go from most to least shared (OS and interpreter → CA →
index → install mode and prior version → cache → constraints → network → scenario) so cells
share the build cache; each axis renders its own fragment (templates/axes/).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import shutil
import stat
import tempfile
from pathlib import Path

from ..cell import contract
from ..core.axes import NetworkMode
from ..core.resolution import MARKERS_PATH, RESOLVE_FOR
from ..core.templating import render, template_bytes
from ..infra.setupcache import INDEX_STATE_ARG, SETUP_STAGE
from .plan import CacheRoute, CellPlan, RenderContext, environment_requirements, program_key


def render_dockerfile(plan: CellPlan, ctx: RenderContext) -> str:
    return render(
        "dockerfile",
        "Dockerfile.j2",
        plan=plan,
        cell=plan.cell,
        target=ctx.target,
        mode=plan.mode,
        local=ctx.local,
        ca_path=contract.CA_BUNDLE_PATH,
        setup_marker=contract.SETUP_MARKER,
        proxy_secret=contract.PROXY_SECRET_PATH,
        checks_path=contract.CHECKS_PATH,
        index_secret=contract.INDEX_SECRET_PATH,
        scenario_path=contract.SCENARIO_PATH,
        var=contract,
        setup_stage=SETUP_STAGE,
        index_state=INDEX_STATE_ARG,
        step_instruction=contract.setup_step_instruction,
        resolve_for=RESOLVE_FOR,
        markers_path=MARKERS_PATH,
    )


def scenario_source() -> bytes:
    return template_bytes("scenario.py")


def checks_json(plan: CellPlan) -> str:
    return json.dumps([c.to_json() for c in plan.checks], indent=2) + "\n"


def _write_environment(plan: CellPlan, folder: Path) -> None:
    """A reporter's environment as files the image copies: never as shell words."""
    folder.mkdir()
    if plan.conflicts.requirements:
        (folder / "requirements.txt").write_text(environment_requirements(plan))
    if plan.conflicts.pip_config:
        (folder / "pip.conf").write_text(plan.conflicts.pip_config)


def render_cell(plan: CellPlan, ctx: RenderContext, out_dir: Path) -> Path:
    """Write the cell's build context to out_dir/<cell id>/, atomically; returns that dir."""
    final = out_dir / plan.cell.name
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.cell.name}.", dir=out_dir))
    try:
        (tmp / "Dockerfile").write_text(render_dockerfile(plan, ctx))
        _link_shared(out_dir, scenario_source(), tmp / "scenario.py")  # the same in every cell
        if plan.checks:
            (tmp / "checks.json").write_text(checks_json(plan))
        if plan.resolution and plan.installer.reads_pip_config:
            (tmp / "resolve_for.py").write_bytes(template_bytes("resolve_for.py"))
            (tmp / "markers.json").write_text(plan.resolution.markers_json())
        if plan.cache_corrupted:
            damager = plan.installer.cache_damager
            (tmp / damager).write_bytes(template_bytes(damager))
        if plan.conflicts.requirements or plan.conflicts.pip_config:
            _write_environment(plan, tmp / "environment")
        if plan.legacy_command:
            (tmp / "legacy_install.py").write_bytes(template_bytes("legacy_install.py"))
        if plan.installer.standalone:
            program = dict(ctx.programs)[program_key(plan.installer_value, plan.interpreter.arch)]
            _link_file(program, tmp / plan.installer.standalone)
        if plan.trusts_ca:
            bundle = _ca_bundle(ctx, plan.wants_host_ca, plan.network, plan.downloads)
            _link_shared(out_dir, bundle, tmp / "ca-bundle.pem")
        os.chmod(tmp, 0o755)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _link_shared(out_dir: Path, data: bytes, target: Path) -> None:
    """One copy of a file every cell needs (the CA bundle), hard-linked into each build context:
    10,000 cells cost one bundle of disk, and each context still holds a regular file Docker can
    COPY. What an output directory already holds is never trusted: a `.shared` that is not a real
    directory is replaced, and a shared file whose bytes are not `data` (planted, or a link to
    elsewhere) is written again."""
    folder = out_dir / ".shared"
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()  # a link out of the output directory is never written through
    shared = folder / f"{_digest(data)[:16]}-{target.name}"
    if not _holds(shared, data):
        folder.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, shared)
    try:
        os.link(shared, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(shared, target)


@functools.lru_cache(maxsize=64)
def _ca_bundle(
    ctx: RenderContext, trust_host_ca: bool, network: NetworkMode, downloads: CacheRoute
) -> bytes:
    """One bytes object for each kind of bundle a run's cells get (it is hashed once, below)."""
    return ctx.ca_bundle(trust_host_ca, network, downloads)


def _digest(data: bytes) -> str:
    """sha256 of `data`, once for each object a render passes again (scenario.py, a bundle)."""
    known = _DIGESTS.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    digest = hashlib.sha256(data).hexdigest()
    _DIGESTS[id(data)] = (data, digest)  # kept alive with its digest: the id stays its own
    return digest


_DIGESTS: dict[int, tuple[bytes, str]] = {}


def _link_file(source: Path, target: Path) -> None:
    """A large file repromatrix keeps (an installer's program, 40 MB) into a context: linked,
    else copied."""
    try:
        os.link(source, target)
    except OSError:  # another file system, or none with hard links
        shutil.copy2(source, target)


def _holds(path: Path, data: bytes) -> bool:
    """Is `path` a regular file (not a link) whose bytes are exactly `data`? Read once a process:
    after that, its inode, size and modification time must be those it had when it was read."""
    try:
        seen = path.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(seen.st_mode) or seen.st_size != len(data):
        return False
    signature = (seen.st_ino, seen.st_size, seen.st_mtime_ns)  # its name holds data's sha256
    if _VERIFIED.get(path) == signature:
        return True
    if path.read_bytes() != data:
        return False
    _VERIFIED[path] = signature
    return True


# The shared files this process has read and found right (render of 10,000 cells otherwise
# reads the CA bundle 10,000 times)
_VERIFIED: dict[Path, tuple[int, int, int]] = {}


def reproduce_command(plan: CellPlan, context_dir: str) -> str:
    limits = "".join(f"{shlex.quote(option)} " for option in plan.limits.docker_run_options())
    return (
        f"docker build -t {plan.image_tag} {shlex.quote(context_dir)} && "
        f"docker run --rm {limits}{plan.image_tag}"
    )
