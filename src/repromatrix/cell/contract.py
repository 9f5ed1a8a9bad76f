"""Both sides of the container boundary in one place: the variables the scenario reads, the
paths inside a cell's container, the markers in its output, and the record it prints.

The scenario (templates/scenario.py) runs on the cell's own python3 (3.7 and later) and cannot
import this module; it spells the same names, and tests/unit/test_contract.py holds the two to
each other: a name the scenario reads that is not declared here, or one declared here that it
never reads, fails the suite.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .fields import Fields, RecordError

# -- what the scenario reads (set in the cell's Dockerfile, or for an attempt at `docker run`) ---
PACKAGE: Final = "REPROMATRIX_PACKAGE"  # the target's distribution name
IMPORTS: Final = "REPROMATRIX_IMPORTS"  # import names to check; empty: from the installed metadata
UPGRADE: Final = "REPROMATRIX_UPGRADE"  # the upgrade command, split like a shell would
# Between the commands of an upgrade that takes more than one (pip-tools: pip-compile, then
# pip-sync), as a user types them in a shell: the scenario runs each in turn, no shell, and stops
# at the first that fails.
UPGRADE_STEP: Final = "&&"
USER: Final = "REPROMATRIX_USER"  # who runs the upgrade ("" or unset: root)
IDENTITIES: Final = "REPROMATRIX_IDENTITIES"  # who imports the target afterwards
CHECKS: Final = "REPROMATRIX_CHECKS"  # the path of checks.json, if the matrix has checks
SETUP: Final = "REPROMATRIX_SETUP"  # steps that need the index's credentials, run first
INDEX_SECRET: Final = "REPROMATRIX_INDEX_SECRET"  # the file with the index URL and credentials
INDEX_VARIABLE: Final = "REPROMATRIX_INDEX_VARIABLE"  # the installer's variable for that URL
PROXY_SECRET: Final = "REPROMATRIX_PROXY_SECRET"  # the file with the proxy URL and credentials
TIMEOUT: Final = "REPROMATRIX_TIMEOUT"  # seconds the upgrade may run (resources: time-limit)
BEFORE: Final = "REPROMATRIX_BEFORE"  # a remedy's steps before the upgrade (JSON)
UNSET: Final = "REPROMATRIX_UNSET"  # variables a remedy unsets
PATH: Final = "REPROMATRIX_PATH"  # a directory a remedy puts first on PATH (its venv's bin)
PROBES: Final = "REPROMATRIX_PROBES"  # the installer's own commands the scenario runs (JSON)
# A resolved cell's platform, its Python, the report its installer writes and the platform's tags
# (JSON): the scenario runs the dry run only, and records them with what it said
RESOLVE: Final = "REPROMATRIX_RESOLVE"
# `run --triage`: the upgrade is the installer's dry run in the cell's own environment; the
# scenario runs it and stops there ('' where the installer has no dry run: it runs nothing)
TRIAGE: Final = "REPROMATRIX_TRIAGE"
SCENARIO_VARIABLES: Final = (
    PACKAGE,
    IMPORTS,
    UPGRADE,
    USER,
    IDENTITIES,
    CHECKS,
    SETUP,
    INDEX_SECRET,
    INDEX_VARIABLE,
    PROXY_SECRET,
    TIMEOUT,
    BEFORE,
    UNSET,
    PATH,
    PROBES,
    RESOLVE,
    TRIAGE,
)


def upgrade_line(argv: Sequence[str]) -> str:
    """The upgrade's argv as a user types it in a POSIX shell: each element quoted, the step
    separators not (the scenario splits the line back with shlex and at UPGRADE_STEP)."""
    return " ".join(a if a == UPGRADE_STEP else shlex.quote(a) for a in argv)


def upgrade_steps(argv: Sequence[str]) -> list[list[str]]:
    """The upgrade's commands, split at UPGRADE_STEP as the scenario runs them."""
    steps: list[list[str]] = [[]]
    for arg in argv:
        if arg == UPGRADE_STEP:
            steps.append([])
        else:
            steps[-1].append(arg)
    return steps


# -- paths inside the container -----------------------------------------------------------------
SCENARIO_PATH: Final = "/opt/repromatrix/scenario.py"
CHECKS_PATH: Final = "/opt/repromatrix/checks.json"
CA_BUNDLE_PATH: Final = "/usr/local/share/repromatrix/ca-bundle.pem"  # the CA a cell trusts
REMEDY_CA_PATH: Final = "/opt/repromatrix/remedy-ca.pem"  # the CA the trust-ca remedy mounts
PROXY_SECRET_PATH: Final = "/run/secrets/repromatrix-proxy-url"  # mounted at run time
INDEX_SECRET_PATH: Final = "/run/secrets/repromatrix-index-url"  # mounted at run time

# -- markers ------------------------------------------------------------------------------------
RECORD_PREFIX: Final = "REPROMATRIX-RECORD "  # the scenario's last word: this, then one JSON line
SETUP_MARKER: Final = ": repromatrix-setup"  # the RUN whose failure means setup-failed
# An environment's steps are argv lists: the exec form, whose words no shell parses ("$@" hands
# them over as they are), behind the same marker.
SETUP_EXEC: Final = ("/bin/sh", "-c", f'{SETUP_MARKER} && exec "$@"', "repromatrix-step")
ENVIRONMENT_DIR: Final = "/opt/repromatrix/environment"  # a reporter's requirements file


def setup_step_instruction(argv: tuple[str, ...]) -> str:
    """The RUN instruction of one environment step, in the exec form."""
    return "RUN " + json.dumps([*SETUP_EXEC, *argv])


def is_setup_step(instruction: str) -> bool:
    """Did the failing instruction set up the cell (the user's world), not the scenario?"""
    exec_form = "RUN " + json.dumps(list(SETUP_EXEC))[:-1]
    return instruction.startswith((f"RUN {SETUP_MARKER}", exec_form))


RECORD_SCHEMA: Final = 1


def pip_version_of(said: str) -> str:
    """'pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)' → '23.0.1'; '' when
    `pip --version` said something else (no pip at all)."""
    match = re.match(r"pip (\S+)", said)
    return match.group(1) if match else ""


def parse_record(output: str) -> Record | None:
    """The record from the container's output: the last line with the prefix. None when the
    scenario never printed one (killed, or a build that never ran); RecordError when it printed
    something that is not a record."""
    for line in reversed(output.splitlines()):
        if not line.startswith(RECORD_PREFIX):
            continue
        try:
            data = json.loads(line[len(RECORD_PREFIX) :])
        except json.JSONDecodeError as e:
            raise RecordError(f"the record is not JSON ({e.msg} at character {e.pos})") from None
        return Record.from_json(data)
    return None


@dataclass(frozen=True)
class Step:
    """A setup step or a remedy's step before the upgrade, as it ran."""

    user: str
    argv: tuple[str, ...]  # a remedy's step (run without a shell)
    command: str  # a setup step (run by sh -c)
    exit_code: int
    output: str
    timed_out: bool

    @classmethod
    def read(cls, f: Fields) -> Step:
        return cls(
            f.text("user", "root"),
            f.texts("argv"),
            f.text("command"),
            f.integer("exit_code"),
            f.text("output"),
            f.flag("timed_out"),
        )

    def as_run(self) -> Run:
        return Run(self.command, self.exit_code, self.output, 0.0, self.timed_out)


@dataclass(frozen=True)
class Run:
    """A command the scenario ran and what it said: the upgrade, `pip check`, a dry run."""

    command: str
    exit_code: int
    output: str
    seconds: float
    timed_out: bool

    @classmethod
    def read(cls, f: Fields) -> Run:
        return cls(
            f.text("command"),
            f.integer("exit_code"),
            f.text("output"),
            f.number("seconds"),
            f.flag("timed_out"),
        )


@dataclass(frozen=True)
class ImportCheck:
    """Importing the target's top-level modules as one identity; the first name is the main one."""

    ok: bool
    version: str | None  # the main module's __version__
    error: str | None  # the first failure's last line
    failed: str | None  # the first module that failed
    names: tuple[str, ...]
    dist_version: str | None  # the installed distribution's version, beside the module's own
    json: dict[str, Any] = field(compare=False, repr=False)  # as results.json keeps it

    @classmethod
    def read(cls, f: Fields) -> ImportCheck:
        for module in f.mapping("modules").values():
            module.flag("ok")
            module.maybe_text("error")
        return cls(
            f.flag("ok"),
            f.maybe_text("version"),
            f.maybe_text("error"),
            f.maybe_text("failed"),
            f.texts("names"),
            f.maybe_text("dist_version"),
            f.data,
        )


@dataclass(frozen=True)
class View:
    """The target as one identity (root, the user) sees it after the upgrade."""

    version: str | None
    imports: ImportCheck | None

    @classmethod
    def read(cls, f: Fields) -> View:
        check = f.child("import")
        return cls(f.maybe_text("version"), ImportCheck.read(check) if check else None)


@dataclass(frozen=True)
class Tags:
    """The wheel tags the cell's pip accepts: interpreter-ABI pairs and platforms, in its order."""

    count: int
    pairs: tuple[str, ...]
    platforms: tuple[str, ...]

    @classmethod
    def read(cls, f: Fields) -> Tags:
        return cls(f.integer("count"), f.texts("pairs"), f.texts("platforms"))


@dataclass(frozen=True)
class Runtime:
    """The interpreter's facts: where it is, its OpenSSL, libc, CA paths, memory limit and tags."""

    glibc: str | None  # platform.libc_ver() joined; "" on musl; None when not recorded
    memory_limit: int | None
    tags: Tags | None
    json: dict[str, Any] = field(compare=False, repr=False)

    FACTS = ("executable", "openssl", "ca_paths", "glibc", "tags")  # what the report shows

    @classmethod
    def read(cls, f: Fields) -> Runtime:
        tags = f.child("tags")
        usable = tags is not None and "error" not in tags.data
        return cls(
            f.maybe_text("glibc"),
            f.maybe_integer("memory_limit"),
            Tags.read(tags) if tags and usable else None,
            f.data,
        )

    def facts(self) -> dict[str, Any]:
        return {k: self.json[k] for k in self.FACTS if k in self.json}


@dataclass(frozen=True)
class Sharer:
    """Another installed distribution that owns files in the target's directories."""

    name: str
    version: str
    dirs: tuple[str, ...]
    files: int

    @classmethod
    def read(cls, f: Fields) -> Sharer:
        return cls(f.text("name"), f.text("version"), f.texts("dirs"), f.integer("files"))


@dataclass(frozen=True)
class Installed:
    """One distribution the upgrader's interpreter sees, before or after the upgrade."""

    name: str
    version: str
    installer: str  # its INSTALLER file: pip, uv, debian, '' (none)
    location: str

    @classmethod
    def read_all(cls, f: Fields, key: str) -> tuple[Installed, ...] | None:
        rows = f.data.get(key)
        if rows is None:
            return None  # an older scenario's record, or the interpreter could not say
        wrong = not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == 4 and all(isinstance(v, str) for v in r) for r in rows
        )
        if wrong:
            raise f._wrong(key, "a list of [name, version, installer, location]")
        return tuple(cls(*row) for row in rows)


@dataclass(frozen=True)
class Around:
    """One top-level module of a library around the target (one it requires, one that requires
    it or them, one the upgrade changed), imported before or after the upgrade."""

    name: str
    version: str
    module: str
    requires: tuple[str, ...]  # the target or the distributions in reach it requires
    ok: bool
    error: str | None  # the exception's own line in the import's traceback

    @classmethod
    def read(cls, f: Fields) -> Around:
        return cls(
            f.text("name"),
            f.text("version"),
            f.text("module"),
            f.texts("requires"),
            f.flag("ok"),
            f.maybe_text("error"),
        )

    @classmethod
    def read_all(cls, f: Fields, key: str) -> tuple[Around, ...] | None:
        if f.data.get(key) is None:
            return None  # an older scenario's record, or the interpreter could not say
        return tuple(cls.read(row) for row in f.children(key))


@dataclass(frozen=True)
class PipScript:
    """Where a bare `pip` command came from, and the Python it installs into."""

    command: str
    path: str | None
    interpreter: str | None
    prefix: str | None
    python3: str | None
    python3_prefix: str | None

    @classmethod
    def read(cls, f: Fields) -> PipScript:
        return cls(
            f.text("command"),
            f.maybe_text("path"),
            f.maybe_text("interpreter"),
            f.maybe_text("prefix"),
            f.maybe_text("python3"),
            f.maybe_text("python3_prefix"),
        )


@dataclass(frozen=True)
class HeldBack:
    """pip's own dry run of the newest release, when the upgrade landed below it."""

    newest: str
    run: Run

    @classmethod
    def read(cls, f: Fields) -> HeldBack:
        return cls(f.text("newest"), Run.read(f))


@dataclass(frozen=True)
class CheckRun:
    """One of the user's checks, as one identity."""

    name: str
    identity: str
    exit_code: int
    output: str
    timed_out: bool
    json: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def read(cls, f: Fields) -> CheckRun:
        return cls(
            f.text("name"),
            f.text("identity"),
            f.integer("exit_code"),
            f.text("output"),
            f.flag("timed_out"),
            f.data,
        )


@dataclass(frozen=True)
class Resolved:
    """One distribution a dry run for another platform would install (pip's --report)."""

    name: str
    version: str
    file: str  # the file it would take ('' where the installer does not say)
    url: str  # where from (the index that serves it)
    requested: bool  # the requirement asked for it, not a dependency

    @classmethod
    def read(cls, f: Fields) -> Resolved:
        return cls(
            f.text("name"), f.text("version"), f.text("file"), f.text("url"), f.flag("requested")
        )


@dataclass(frozen=True)
class ResolutionRecord:
    """A resolved cell's answer: the platform and Python it resolved for, that platform's tags,
    and what the installer's report says it would install (None: it wrote none)."""

    platform: str
    describe: str  # 'macOS 14 on arm64, CPython 3.12'
    python: str
    tags: Tags | None
    install: tuple[Resolved, ...] | None
    environment: dict[str, str]  # the markers the resolution was evaluated with, as pip says

    @classmethod
    def read(cls, f: Fields) -> ResolutionRecord:
        tags = f.child("tags")
        report = f.child("report")
        install = tuple(Resolved.read(r) for r in report.children("install")) if report else None
        said = report.data.get("environment") if report else None
        said = said if isinstance(said, dict) else {}
        environment = {str(k): v for k, v in said.items() if isinstance(v, str)}
        return cls(
            f.required_text("platform"),
            f.text("describe"),
            f.text("python"),
            Tags.read(tags) if tags else None,
            install,
            environment,
        )


@dataclass(frozen=True)
class Record:
    """What the scenario recorded in a cell's container, typed; the host reads nothing else."""

    package: str
    python: str  # X.Y.Z
    upgrader: str
    pip: str  # `pip --version`: "pip 23.0.1 from ... (python 3.11)"
    runtime: Runtime | None
    before: str | None  # the target's version before the upgrade
    after: str | None
    setup: tuple[Step, ...]
    setup_failed: bool
    before_steps: tuple[Step, ...]
    before_failed: bool  # a remedy's step failed: the upgrade did not run
    upgrade: Run | None
    pip_script: PipScript | None
    sharers: tuple[Sharer, ...]
    held_back: HeldBack | None
    pip_check: Run | None
    views: dict[str, View]  # per identity
    imports: ImportCheck | None  # the upgrader's view
    checks: tuple[CheckRun, ...]
    json: dict[str, Any] = field(compare=False, repr=False)
    # The same checks before the upgrade (a record of an older scenario has none)
    checks_before: tuple[CheckRun, ...] = ()
    # What the upgrader's interpreter saw installed before and after (None: not recorded)
    installed_before: tuple[Installed, ...] | None = None
    installed_after: tuple[Installed, ...] | None = None
    # The libraries around the target, imported before and after (None: not recorded)
    around_before: tuple[Around, ...] | None = None
    around_after: tuple[Around, ...] | None = None
    around_left_out: int = 0  # modules over the scenario's budget, not imported
    # The target's files whose sha256 differs from its RECORD (looked for when its import failed)
    damaged: tuple[str, ...] = ()
    # A resolved cell's answer (None: the cell ran its upgrade)
    resolution: ResolutionRecord | None = None
    triage: bool = False  # `run --triage`: the upgrade was the installer's dry run
    # Seconds the scenario spent in each of its stages (probes, upgrade, imports, checks, ...)
    stages: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Record:
        f = Fields(data, "record")
        schema = f.integer("schema", RECORD_SCHEMA)
        if schema != RECORD_SCHEMA:
            raise RecordError(f"record.schema: {schema}, this repromatrix reads {RECORD_SCHEMA}")
        runtime = f.child("runtime")
        if runtime and "error" in runtime.data:  # the interpreter's facts could not be read
            runtime = None
        return cls(
            package=f.required_text("package"),
            python=f.required_text("python"),
            upgrader=f.text("upgrader", "root"),
            pip=f.text("pip"),
            runtime=Runtime.read(runtime) if runtime else None,
            before=f.maybe_text("before"),
            after=f.maybe_text("after"),
            setup=tuple(Step.read(s) for s in f.children("setup")),
            setup_failed=f.flag("setup_failed"),
            before_steps=tuple(Step.read(s) for s in f.children("before_steps")),
            before_failed=f.flag("before_failed"),
            upgrade=f.optional("upgrade", Run.read),
            pip_script=f.optional("pip_script", PipScript.read),
            sharers=tuple(Sharer.read(s) for s in f.children("sharers")),
            held_back=f.optional("held_back", HeldBack.read),
            pip_check=f.optional("pip_check", Run.read),
            views={who: View.read(v) for who, v in f.mapping("identities").items()},
            imports=f.optional("import", ImportCheck.read),
            checks=tuple(CheckRun.read(c) for c in f.children("checks")),
            json=f.data,
            checks_before=tuple(CheckRun.read(c) for c in f.children("checks_before")),
            installed_before=Installed.read_all(f, "installed_before"),
            installed_after=Installed.read_all(f, "installed_after"),
            around_before=Around.read_all(f, "around_before"),
            around_after=Around.read_all(f, "around_after"),
            around_left_out=f.integer("around_left_out"),
            damaged=f.texts("damaged"),
            resolution=f.optional("resolution", ResolutionRecord.read),
            triage=f.flag("triage"),
            stages=f.numbers("stages"),
        )

    @property
    def pip_version(self) -> str:
        return pip_version_of(self.pip)

    @property
    def pip_check_json(self) -> dict[str, Any] | None:
        """`pip check` as results.json keeps it."""
        check = self.json.get("pip_check")
        return check if isinstance(check, dict) else None
