"""Stage 3a: resolve each cell once into a typed plan (pure: no I/O, no Docker).

Every axis fills in its part (axes.py); the target adds the requirement and the upgrade
command. Templates and the runner read only the plan, never raw axis values.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..cell import contract
from ..core.axes import (
    AXES,
    RESOURCE_LIMITS,
    InstallMode,
    Limits,
    NetworkMode,
    PlanDraft,
    fragments,
    installer_of,
)
from ..core.interpreter import Interpreter, base_image_for
from ..core.model import Cell, Check, ConflictMode, Target
from ..core.osfamily import OsFamily, family_of
from ..core.platforms import ARCHES, NATIVE_ARCH, Arch, Platform, glibc_of
from ..core.resolution import Resolution
from ..infra.hostca import HostCA
from ..infra.interpreters import offline_unavailable
from ..infra.localindex import EXTRA_ROOT, INDEX_HOST, INDEX_PORT
from ..infra.timemachine import TIME_HOST, time_url
from ..installers import Installer, installer

# How a cell sees the index as it was (--as-of): its installer's own filter, or the run's
# date-filtering index (infra/timemachine.py)
AsOfRoute = Literal["installer", "service"]
# What of a cell's downloads go through the run's download cache (infra/downloadcache.py):
# none, its setup's only (the upgrade's path to the index is what it tests), or all of them
CacheRoute = Literal["", "setup", "all"]


@dataclass(frozen=True)
class RenderContext:
    """What every cell of a run shares."""

    target: Target
    host_ca: HostCA | None = None
    index_url: str | None = None  # None: pip's default index
    run_ca_pem: bytes = b""  # the local index's CA: trusted like the host's CA
    local: bool = False  # the cells read repromatrix's local index
    interceptor_ca_pem: bytes = b""  # the TLS-intercepting proxy's CA, for cells that trust it
    checks: tuple[Check, ...] = ()
    # The index needs credentials: they come at run time, from a secret file
    index_secret: bool = False
    # The standalone programs of installers (uv), by the installer axis's value: a file on the
    # host each such cell's context holds
    programs: tuple[tuple[str, Path], ...] = ()
    environments: tuple[tuple[str, ConflictMode], ...] = ()  # the matrix's, by name
    # The download cache's CA, when the run has the cache: cells going through it trust it
    download_ca_pem: bytes = b""
    # `run --triage`: each cell that runs here only resolves, with its installer's dry run
    triage: bool = False

    def ca_bundle(
        self, trust_host_ca: bool, network: NetworkMode, downloads: CacheRoute = ""
    ) -> bytes:
        """What a cell trusts on top of the image's own CAs."""
        host = self.host_ca.read() if self.host_ca else b""
        bundle = host + self.run_ca_pem if trust_host_ca else b""
        bundle += self.interceptor_ca_pem if network.trusts_interceptor else b""
        return bundle + (self.download_ca_pem if downloads else b"")


def extra_index_urls(target: Target) -> tuple[str, ...]:
    """The extra indexes the cells read, as they reach them ('local': the local index's)."""
    local = f"https://{INDEX_HOST}:{INDEX_PORT}/{EXTRA_ROOT}/simple/"
    return tuple(local if url == "local" else url for url in target.extra_index)


def program_key(installer_value: str, arch: Arch) -> str:
    """How RenderContext.programs names an installer's program for one architecture."""
    return f"{installer_value}@{arch.name}"


def local_index_context(
    target: Target, host_ca: HostCA | None, run_ca_pem: bytes, checks: tuple[Check, ...] = ()
) -> RenderContext:
    return RenderContext(
        target=target,
        host_ca=host_ca,
        index_url=f"https://{INDEX_HOST}:{INDEX_PORT}/simple/",
        run_ca_pem=run_ca_pem,
        local=True,
        checks=checks,
    )


@dataclass(frozen=True)
class CellPlan:
    cell: Cell
    target: Target
    interpreter: Interpreter
    mode: InstallMode
    network: NetworkMode
    conflicts: ConflictMode
    prior: str | None
    pip_pin: str | None
    installer_pin: str | None  # the installer's version, when the matrix names one
    cache_corrupted: bool
    limits: Limits  # run-time limits of its containers (the cell's and its remedies')
    trusts_ca: bool  # the cell gets a CA bundle (the host's, the local index's, the interceptor's)
    wants_host_ca: bool  # ca: host (or pip-config)
    # The variable the CA bundle is given in (the installer's, or pip's); '' when it is in the
    # OS's trust store instead (ca: system-store)
    cert_variable: str
    upgrade_command: str  # exactly what runs, the way a user types it
    setup_commands: tuple[
        str, ...
    ]  # the prior version, then what conflicts with the upgrade (build time)
    env: tuple[tuple[str, str], ...]
    installer: Installer  # what runs the upgrade (and installed the prior version)
    checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()
    fragments: tuple[tuple[int, str], ...] = ()  # the axes' Dockerfile fragments, in layer order
    # The index needs credentials, which never enter the image: what needs the index (the prior
    # version, a cache to damage) runs when the container starts instead of at build time.
    runtime_setup: bool = False
    disk_need: int = 0  # bytes the cell may fill on the engine's disk (the disk guard's estimate)
    disk_need_why: str = ""
    # How it sees the index as of target.as_of; None: the index as it is
    as_of_route: AsOfRoute | None = None
    # What the upgrade is given on top of env, in the scenario's stage: the index as of
    # target.as_of where the setup was built as of another time (target.setup_as_of)
    upgrade_env: tuple[tuple[str, str], ...] = ()
    arch: Arch = ARCHES[NATIVE_ARCH]  # the architecture its container runs on
    platform: Platform | None = None  # None: it runs (platform linux)
    # A resolved cell's question (its upgrade command is the installer's dry run for it)
    resolution: Resolution | None = None
    os_family: OsFamily = family_of("debian:bookworm")  # how its image installs and adds users
    downloads: CacheRoute = ""  # what of its downloads go through the run's download cache
    # `run --triage`: its upgrade command is the installer's dry run ('' where it has none)
    triage: bool = False

    @property
    def resolved_only(self) -> bool:
        return self.resolution is not None

    @property
    def index_url(self) -> str:
        """The index cells read (without credentials), or '' for the installer's default."""
        return dict(self.env).get(self.installer.variables.index_url, "")

    @property
    def runtime_steps(self) -> tuple[dict[str, str], ...]:
        """The setup that runs at container start: who runs which command, in order."""
        if not self.runtime_setup:
            return ()
        steps = [{"user": self.mode.prior_by or "root", "command": c} for c in self.setup_commands]
        if self.legacy_command:
            steps.append({"user": self.mode.prior_by or "root", "command": self.legacy_command})
        if self.cache_corrupted:
            steps.append(
                {
                    "user": self.mode.upgrade_by or "root",
                    "command": f"python3 /opt/repromatrix/{self.installer.cache_damager} "
                    f"{shlex.quote(self.target.requirement)}",
                }
            )
        return tuple(steps)

    @property
    def legacy_command(self) -> str:
        """Leaves the preinstalled libraries as an old installer would have (conflicts:
        distutils-numpy)."""
        if not self.conflicts.legacy:
            return ""
        names = " ".join(shlex.quote(req.split("==")[0]) for req in self.conflicts.preinstall)
        return f"python3 /opt/repromatrix/legacy_install.py {self.conflicts.legacy} {names}"

    @property
    def installer_value(self) -> str:
        """The installer axis's value: 'uv', 'uv==0.13.9'."""
        pin = f"=={self.installer_pin}" if self.installer_pin else ""
        return self.installer.name + pin

    @property
    def base_image(self) -> str:
        return self.interpreter.image

    @property
    def proxy_url(self) -> str | None:
        return self.network.proxy_url

    @property
    def image_tag(self) -> str:
        return f"repromatrix/{self.cell.name}".lower()

    @property
    def identities(self) -> tuple[str, ...]:
        """Whose view of the installed package the scenario checks after the upgrade."""
        return ("root",) + ((self.mode.user,) if self.mode.user else ())

    @property
    def preinstall_note(self) -> str:
        """Why the setup installs what it does, for the Dockerfile's comment."""
        parts = []
        if self.conflicts.preinstall:
            parts.append(f"conflicts {self.conflicts.name}: {self.conflicts.doc}")
        if self.pip_pin:
            parts.append(f"then pip {self.pip_pin}")
        return f" ({'; '.join(parts)})" if parts else ""


def plan_cell(cell: Cell, ctx: RenderContext, by: Installer | None = None) -> CellPlan:
    """The cell's typed plan; `by`: its installer instead of the one its installer axis names
    (tests)."""
    draft = PlanDraft(values=cell.axes, environments=dict(ctx.environments))
    for axis in AXES.values():
        axis.contribute(cell.axes[axis.name], draft)
    # Every axis filled its part, and expand.py refused cells with problems.
    assert (
        draft.interpreter
        and draft.mode
        and draft.network
        and draft.conflicts
        and not draft.problems
    )
    target = ctx.target
    trusts = bool(ctx.ca_bundle(draft.trust_host_ca, draft.network))
    notes = list(draft.notes)
    if draft.trust_host_ca and not trusts:
        notes.append(
            "ca=host, but the host's pip has no CA bundle configured: the cell uses the image's "
            "own CAs"
        )
    notes += _hashes_elsewhere(draft.conflicts, ctx.local)
    by = by or installer(draft.installer)
    downloads = download_route(draft, ctx, by) if trusts else ""
    notes += _pip_config_unread(draft.conflicts, by)
    env = list(by.variables.quiet)
    need, why = disk_need(ctx.local, draft.prior)
    if ctx.index_url:
        env.append((by.variables.index_url, ctx.index_url))
    if extra := extra_index_urls(target):
        env.append((by.variables.extra_index_url, " ".join(extra)))
    pinned = (
        draft.installer_pin or draft.pip_pin
    )  # the installer's version, where the matrix pins it
    route = as_of_route(by, pinned) if target.as_of else None
    upgrade_env: list[tuple[str, str]] = []
    if route is not None:
        env, said = _as_of_env(by, route, target.as_of_times[0], env)
        if target.setup_as_of:
            # bisect's probes share the setup built as of its own time; the upgrade is given
            # target.as_of after the setup stage
            upgrade_env, said = _as_of_env(by, route, target.as_of, [])
            notes.append(
                f"its setup was built as of {target.setup_as_of}, before the upgrade's time"
            )
        notes.append(said)
    limits = draft.limits or RESOURCE_LIMITS["unlimited"]
    resolution = _resolution(draft)
    command = upgrade_command(by, target, draft.mode)
    if resolution is not None:
        command = by.resolve(by.program(True), target.requirement, resolution, pre=target.pre)
        env += list(by.resolve_environment(resolution))
        notes += _resolution_notes(resolution, by)
    triage = ctx.triage and resolution is None
    if triage:
        command = by.dry_run(command)
        notes.append(_triage_note(by, command))
    notes += _interpreter_notes(draft.interpreter)
    return CellPlan(
        cell=cell,
        target=target,
        interpreter=draft.interpreter,
        mode=draft.mode,
        network=draft.network,
        conflicts=draft.conflicts,
        prior=draft.prior,
        pip_pin=draft.pip_pin,
        installer_pin=draft.installer_pin,
        cache_corrupted=draft.cache_corrupted,
        limits=limits,
        trusts_ca=trusts,
        wants_host_ca=draft.trust_host_ca,
        cert_variable=_cert_variable(draft, by),
        upgrade_command=command,
        setup_commands=setup_commands(by, target, draft, trusts),
        env=tuple(env),
        installer=by,
        checks=() if resolution or triage else ctx.checks + draft.conflicts.checks,
        notes=tuple(notes),
        fragments=tuple(fragments()),
        runtime_setup=ctx.index_secret,
        disk_need=need,
        disk_need_why=why,
        as_of_route=route,
        upgrade_env=tuple(upgrade_env),
        arch=draft.arch,
        platform=None if draft.platform.runs else draft.platform,
        resolution=resolution,
        os_family=family_of(draft.interpreter.image),
        downloads=downloads,
        triage=triage,
    )


def download_route(draft: PlanDraft, ctx: RenderContext, by: Installer) -> CacheRoute:
    """What of the cell's downloads may go through the run's download cache, keeping every path
    to the index a cell tests as it is. The cache is a TLS-bumping proxy: only an installer given
    the cell's CA bundle (which holds the cache's CA) in its own variable can go through it, and
    only to an index the matrix did not name (a reporter's index, credentials, extra indexes keep
    their own path)."""
    target = ctx.target
    plain_index = target.index.kind != "url" and not target.index.secret
    usable = bool(ctx.download_ca_pem) and draft.trust_host_ca and plain_index
    if not usable or target.extra_index:
        return ""
    if draft.ca_for_pip_only and by.name != "pip":
        return ""  # another installer than pip reads no PIP_CERT, in the setup either
    # The setup is given the CA in the installer's variable even where the cell's is the OS's
    # store, and it always goes direct; the upgrade's path is what these axes test.
    path_tested = draft.network is not None and draft.network.internal
    if path_tested or draft.ca_in_store or draft.cache_corrupted:
        return "setup"
    return "all"


def _resolution(draft: PlanDraft) -> Resolution | None:
    """A resolved cell's question; None for a cell that runs."""
    if draft.platform.runs:
        return None
    glibc = glibc_of(base_image_for(draft.values["os"]))
    return Resolution(draft.platform, draft.arch, draft.resolve_python, glibc)


def _triage_note(by: Installer, command: str) -> str:
    if not command:
        return f"--triage: {by.name} has no dry run of this upgrade: nothing ran, the install says"
    return (
        f"--triage: only resolved, in its own environment: `{command}`; nothing is installed, "
        "imported or checked, and a failure is one the upgrade meets before it installs anything"
    )


def _resolution_notes(resolution: Resolution, by: Installer) -> list[str]:
    said = [
        f"resolved for {resolution.describe}, not installed: {by.name}'s dry run in a container "
        "of this machine, told that platform's wheel tags; nothing is installed, imported or "
        "checked"
    ]
    if by.reads_pip_config:  # pip: its markers are set for it (resolve_for.py)
        said.append(
            "pip evaluates environment markers as on the machine it runs on (pypa/pip#11664); "
            f"resolve_for.py runs it with {resolution.platform.name}'s instead (markers.json), "
            "so a requirement only that platform has (tensorflow-intel on Windows) is not left out"
        )
    return said


def _interpreter_notes(interp: Interpreter) -> list[str]:
    """Where only a registry can give a foreign architecture's CPython here, say so now."""
    if interp.is_system or interp.arch.name == "amd64":
        return []
    offline = offline_unavailable(interp)
    if not offline:
        return []
    return [
        f"CPython {interp.version} for {interp.arch.name} comes only from a registry "
        f"({interp.image}); none of the offline providers has it ({'; '.join(offline)})"
    ]


def as_of_route(by: Installer, version: str | None) -> AsOfRoute:
    """How a cell sees the index as it was (--as-of): its installer's own filter where the
    installer surely has one (`version`: its version as the matrix pins it; the interpreter's
    pip is not known before the cell runs), else the run's date-filtering index, which serves any
    installer of any version."""
    variable, since = by.uploaded_before
    if not variable:
        return "service"
    pinned = _version(version)
    new_enough = not since or (pinned is not None and pinned >= Version(since))
    return "installer" if new_enough else "service"


def cell_as_of_route(cell: Cell) -> AsOfRoute:
    """as_of_route for a cell, from its axes alone (before it is planned)."""
    name, pin = installer_of(cell.axes["installer"])
    pip = cell.axes.get("pip", "os")
    pinned_pip = None if pip == "os" else pip
    return as_of_route(installer(name), pin or pinned_pip)


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _as_of_env(
    by: Installer, route: AsOfRoute, when: str, env: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], str]:
    """The cell's variables for --as-of, and what the cell says of it."""
    if route == "installer":
        variable = by.uploaded_before[0]
        return env + [
            (variable, when)
        ], f"the index as of {when}: {by.name}'s own filter ({variable})"
    # Every read of the index goes to the date-filtering index instead, over plain HTTP on the
    # run's own network
    others = [(name, value) for name, value in env if name != by.variables.index_url]
    routed = others + [(by.variables.index_url, time_url(when)), (by.insecure_host, TIME_HOST)]
    own = by.uploaded_before[0]
    none = f" ({by.name} has no filter of its own)"
    why = f" (no {own} before {by.name} {by.uploaded_before[1]})" if own else none
    said = f"the index as of {when}: through repromatrix's date-filtering index{why}"
    return routed, said


def _cert_variable(draft: PlanDraft, by: Installer) -> str:
    if draft.ca_in_store:
        return ""
    return (installer("pip") if draft.ca_for_pip_only else by).variables.cert


def setup_commands(
    by: Installer, target: Target, draft: PlanDraft, trusts_ca: bool = False
) -> tuple[str, ...]:
    """The prior version (with the target's extras), what conflicts with the upgrade, then the
    installer's own pin. A reporter's environment is formed in one resolver call, the prior
    version with it, as theirs was. With the CA only in the OS's store, the setup is given it
    in the installer's variable too: what is under test is the upgrade, not how the reporter
    once installed the prior version."""
    assert draft.mode is not None
    prior = [target.pinned(draft.prior)] if draft.prior else []
    # Last, so the interpreter's own installer set up the rest as it did for users
    own_pin = [by.pinned_self(draft.pip_pin)] if draft.pip_pin else []
    # On PEP 668 systems users got their packages past the marker.
    system = draft.mode.venv is None
    past_marker = f"{by.variables.break_system_packages}=1 " if system else ""
    if draft.ca_in_store and trusts_ca:
        past_marker += f"{by.variables.cert}={contract.CA_BUNDLE_PATH} "
    # The user's own way of running it (`pip` on PATH in venv-no-pip) put the prior version where it
    # is.
    program = by.program(draft.mode.module)
    venv = draft.mode.venv
    commands = [by.install(program, req, venv=venv) for req in own_pin]
    if draft.conflicts and draft.conflicts.requirements:
        path = f"{contract.ENVIRONMENT_DIR}/requirements.txt"
        names = requirement_names((*prior, *draft.conflicts.requirements))
        commands.insert(0, by.install_file(program, path, names=names, venv=venv))
    else:
        wanted = prior + list(draft.preinstall)
        commands[:0] = [by.install(program, req, venv=venv) for req in wanted]
    commands[:0] = by.prepare(venv, draft.installer_pin, target.requirement)
    return tuple(_with_variables(past_marker, command) for command in commands)


def _with_variables(assignments: str, command: str) -> str:
    """`A=1 command`; exported for a command of several (`A=1 a && b` gives b nothing)."""
    compound = " && " in command
    if not (assignments and compound):
        return assignments + command
    return f"export {assignments.strip()} && {command}"


def requirement_names(lines: tuple[str, ...]) -> tuple[str, ...]:
    """'name[extras]' of each distribution the requirement lines name, once each (first spelling,
    every line's extras); lines that name none (options, paths, comments) are left out."""
    spelled: dict[str, str] = {}
    extras: dict[str, set[str]] = {}
    for line in lines:
        try:
            requirement = Requirement(line.split(" --hash", 1)[0].strip())
        except InvalidRequirement:
            continue
        key = canonicalize_name(requirement.name)
        spelled.setdefault(key, requirement.name)
        extras.setdefault(key, set()).update(canonicalize_name(e) for e in requirement.extras)
    return tuple(
        spelled[key] + (f"[{','.join(sorted(extras[key]))}]" if extras[key] else "")
        for key in spelled
    )


def environment_requirements(plan: CellPlan) -> str:
    """The requirements file of a reporter's environment: the prior version (with the target's
    extras), then its own lines, as the matrix or its files wrote them."""
    prior = [plan.target.pinned(plan.prior)] if plan.prior else []
    return "".join(f"{line}\n" for line in (*prior, *plan.conflicts.requirements))


def upgrade_command(by: Installer, target: Target, mode: InstallMode) -> str:
    program = by.program(mode.module)
    return by.upgrade(
        program, target.requirement, user=mode.user_flag, pre=target.pre, venv=mode.venv
    )


GB = 10**9


def _hashes_elsewhere(environment: ConflictMode, local: bool) -> list[str]:
    """A reporter's `--hash` lines name the files of the index they were made from: the local
    index's models are other files, and pip's hash check fails the setup (seen on a real cell:
    "THESE PACKAGES DO NOT MATCH THE HASHES"). Said before it happens, naming the lines."""
    hashed = [
        origin
        for text, origin in zip(environment.requirements, environment.origins, strict=True)
        if " --hash" in text
    ]
    if not (local and hashed):
        return []
    more = ", ..." if len(hashed) > 3 else ""
    return [
        f"environment {environment.name}'s lines with --hash ({', '.join(hashed[:3])}{more}) "
        "name the reporter's index's files; the local "
        "index serves other files, so pip's hash check fails the setup: drop the hashes, or run "
        "against the index they came from"
    ]


def _pip_config_unread(environment: ConflictMode, by: Installer) -> list[str]:
    """An environment's pip configuration under an installer that does not read it: the cell
    runs as the reporter's would (the file and variables are there, and ignored), and says so."""
    pip_variables = [name for name, _ in environment.variables if name.startswith("PIP_")]
    unread = ["pip_config"] if environment.pip_config else []
    unread += [f"env {name}" for name in pip_variables]
    if by.reads_pip_config or not unread:
        return []
    return [
        f"environment {environment.name}'s {', '.join(unread)}: pip's configuration, which "
        f"{by.name} does not read (neither pip.conf nor PIP_* variables), so it changes nothing "
        "here, as for a user who switched and kept it"
    ]


def disk_need(local: bool, prior: str | None) -> tuple[int, str]:
    """What a cell may fill: a real TensorFlow wheel is 500-650 MB and about 2 GB unpacked, and pip
    holds the download beside the install; the local index's models are kilobytes."""
    if local:
        return GB // 2, "the local index's small models, and the image layers"
    need = 3 * GB + (2 * GB if prior else 0)
    why = "a real wheel of 500-650 MB, unpacked to about 2 GB" + (
        "; and the prior version's" if prior else ""
    )
    return need, why
