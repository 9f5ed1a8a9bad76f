"""Remedies: the fixes people reach for when an upgrade breaks, as data, and how one is tried.

A remedy is a catalogue entry: the outcomes it is advice for, what it changes (steps before the
upgrade, options of the upgrade command, variables, who runs it, a new virtual environment), what
it needs from the run (a CA bundle, the proxy's credentials, a proxy that works) and what the
field warns about it. `plan_attempts` turns the entries that apply to a failed cell into
`AttemptPlan`s; the runner tries each in a fresh container of the cell's own image (its setup is
never rebuilt) and the classifier judges it like any cell. Adding a remedy is adding an entry.

Every value a remedy puts into a command (the requirement, a library's name, a host) is one
argv element: attempts run without a shell, and reports show the commands quoted for one.
"""

from __future__ import annotations

import enum
import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.version import InvalidVersion, Version

from ..cell import contract
from ..cell.contract import Record
from ..core.axes import OPEN_PROXY_URL, RESOURCE_LIMITS, Limits
from ..core.model import Choice, Selection
from ..core.outcomes import Fix, Outcome
from ..core.registry import unique
from ..installers.pip import Pip

if TYPE_CHECKING:  # plan.py reads the matrix model, which holds a remedy Selection
    from ..plan.plan import CellPlan


def judge(outcome: Outcome) -> Fix:
    if outcome is Outcome.UPGRADED:
        return Fix.WORKS
    if outcome in (Outcome.UPGRADED_INCONSISTENT, Outcome.SPLIT_INSTALL, Outcome.SHARED_DIRECTORY):
        return Fix.SIDE_EFFECTS
    if outcome in (Outcome.INFRA_ERROR, Outcome.INTERRUPTED):
        return Fix.NOT_TRIED
    return Fix.FAILS


class Resource(enum.Enum):
    """What an attempt needs from the run besides the cell's image."""

    CA = "the CA bundle the cell lacks (the host's, the local index's, the interceptor's)"
    PROXY_CREDENTIALS = "the proxy's credentials"
    OPEN_PROXY = "a proxy on the cell's network that works"


# Placeholders a remedy may use in its commands; each names a fact of the cell (see Facts).
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Remedy:
    name: str
    title: str  # what people call it
    fixes: frozenset[Outcome]  # the outcomes it is advice for
    before: tuple[
        tuple[str, ...], ...
    ] = ()  # argv templates run before the upgrade, as the upgrader
    options: tuple[str, ...] = ()  # added to the upgrade command, after `install`
    also: tuple[str, ...] = ()  # more requirements upgraded with the target ("{blockers}")
    drop: tuple[str, ...] = ()  # options removed from the upgrade command
    pin: str = ""  # the upgrade asks for this version of the target instead ("{newest_for_python}")
    # The upgrade asks for this package instead of the target ("{replacement}"); judged on it.
    instead: str = ""
    module_pip: bool = False  # run pip as `python3 -m pip`, not as the `pip` on PATH
    # The attempt's container gets these resource limits (axes.RESOURCE_LIMITS) instead
    limits: str = ""
    # What the person does that is not a command, shown first (e.g. "give it more memory")
    note: str = ""
    unset: tuple[str, ...] = ()  # variables the user unsets
    # A new virtual environment at this path; the upgrade and everything after use it
    venv: str = ""
    as_root: bool = False  # the upgrade runs as root (sudo)
    env: tuple[str, ...] = ()  # NAME=value templates set for the upgrade (and shown before it)
    shown_env: tuple[str, ...] = ()  # NAME=value shown only: the real values come from a secret
    needs: frozenset[Resource] = frozenset()
    min_pip: str = ""  # the first pip with the option
    needs_fact: str = ""  # a fact that must be known (non-empty) for the remedy to make sense
    unless_fact: str = ""  # a fact that, when true, makes the remedy pointless (it is already so)
    when: str = ""  # a regex the cell's evidence must match (the advice is for that symptom only)
    warning: str = ""  # what the field warns about it
    why: str = ""  # why it may help

    def __post_init__(self) -> None:
        # A typo in a placeholder would otherwise show up only when a cell fails in the field.
        for text in self._templates():
            for name in PLACEHOLDER.findall(text):
                assert name in Facts.__dataclass_fields__, (
                    f"remedy {self.name}: unknown placeholder {{{name}}}"
                )

    def _templates(self) -> Iterable[str]:
        yield from (a for step in self.before for a in step)
        yield from self.options
        yield from self.also
        yield from (self.pin, self.instead, self.venv, *self.env, *self.shown_env)


@dataclass(frozen=True)
class Facts:
    """What remedies may know about a failed cell and its run; every value is data."""

    package: str  # the target's name
    requirement: str  # the target as the cell asks for it (extras, specifier)
    upgrade: tuple[str, ...]  # the cell's upgrade command, as argv
    upgrader: str  # who runs the upgrade: root or a user
    home: str  # the upgrader's home
    pip: str = ""  # the cell's pip version
    in_venv: bool = False
    user_flag: bool = False
    index_host: str = ""  # the index's host
    trusted_host_args: tuple[
        str, ...
    ] = ()  # --trusted-host H for the index's host and every host of its files
    proxy: str = ""  # a proxy that works on the cell's network (the run's open proxy)
    has_proxy: bool = False  # the cell's upgrade goes through a proxy
    proxy_with_credentials: str = ""  # the cell's proxy URL with placeholders for its credentials
    constraint: bool = False  # a constraints file is configured (the installer reads it)
    blockers: tuple[str, ...] = ()  # installed libraries whose requirements hold the upgrade back
    # The target pinned to the newest release with files for this Python
    newest_for_python: str = ""
    replacement: str = ""  # what a removed package says to install instead
    sharers: tuple[
        str, ...
    ] = ()  # other distributions that own files in the target's package directories
    resources: frozenset[Resource] = frozenset()
    evidence: str = ""  # the cell's evidence lines, for remedies that are advice for one symptom

    def value(self, name: str) -> str | tuple[str, ...]:
        value = getattr(self, name)
        return value if isinstance(value, tuple) else str(value)


@dataclass(frozen=True)
class Step:
    user: str
    argv: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"user": self.user, "argv": list(self.argv)}


@dataclass(frozen=True)
class AttemptPlan:
    """One remedy made concrete for one cell: exactly what the attempt's container runs."""

    remedy: Remedy
    steps: tuple[Step, ...]
    upgrade: tuple[str, ...]
    upgrader: str
    unset: tuple[str, ...] = ()
    path: str = ""  # put first on PATH (the remedy's venv)
    env: tuple[str, ...] = ()  # NAME=value set for the upgrade
    shown_env: tuple[
        str, ...
    ] = ()  # NAME=value the user sets, with secrets as placeholders (shown only)
    # The distribution the attempt is judged on, when not the target (a replacement)
    package: str = ""

    @property
    def needs(self) -> frozenset[Resource]:
        return self.remedy.needs

    def limits(self, cell: Limits) -> Limits:
        """The attempt's container limits: the cell's (a remedy must work where it broke), unless
        the remedy is to give it more."""
        return RESOURCE_LIMITS[self.remedy.limits] if self.remedy.limits else cell

    @property
    def commands(self) -> tuple[str, ...]:
        """What a person types, in order, quoted for a POSIX shell (shown verbatim in reports)."""
        lines = [f"# {self.remedy.note}"] if self.remedy.note else []
        lines += [_as(s.user, self.upgrader) + shlex.join(s.argv) for s in self.steps]
        if self.path:
            lines.append(
                f'export PATH={shlex.quote(self.path)}:"$PATH"'
            )  # lines are joined with && in reports
        lines += [f"unset {name}" for name in self.unset]
        env = "".join(
            f"{name}={shlex.quote(value)} "
            for name, _, value in (a.partition("=") for a in self.env + self.shown_env)
        )
        lines.append(
            _as(self.upgrader, self.upgrader, self.remedy.as_root) + env + shlex.join(self.upgrade)
        )
        return tuple(lines)

    def container_env(self) -> dict[str, str]:
        """The scenario's variables for this attempt (templates/scenario.py reads them)."""
        own = dict(a.partition("=")[::2] for a in self.env)
        scenario = {
            contract.BEFORE: json.dumps([s.to_json() for s in self.steps]),
            contract.UPGRADE: shlex.join(self.upgrade),
            contract.USER: "" if self.upgrader == "root" else self.upgrader,
            contract.UNSET: " ".join(self.unset),
            contract.PATH: self.path,
        }
        instead = {contract.PACKAGE: self.package} if self.package else {}  # judged on another name
        return own | scenario | instead


def _as(user: str, upgrader: str, sudo: bool = False) -> str:
    """How a command line says who runs it: sudo, nobody (the upgrader), or another user."""
    if sudo:
        return "sudo "
    return "" if user == upgrader else f"(as {user}) "


# Real wheels the local index serves so that remedies do offline what they do online: "upgrade pip
# first" gets a current pip (the newest when this was written; 25.3 is the last for Python 3.9),
# "upgrade certifi" a current certifi. And setuptools, which pip ≥ 23.1 fetches to build an sdist in
# isolation (the tombstone tensorflow-gpu 2.12.0) where the environment has none (Python ≥ 3.12
# venvs).
LOCAL_INDEX_WHEELS = frozenset(
    {"pip==26.3", "pip==25.3", "certifi==2026.10.19.post1", "setuptools==80.9.0"}
)
NETWORK_FAILURES = frozenset({Outcome.NETWORK_ERROR, Outcome.HASH_MISMATCH, Outcome.READ_TIMEOUT})
# Symptoms pip did not already retry: a body that timed out, broke off or arrived short. A refused
# connection or a failed lookup pip has retried five times before it said so.
# ("connection broken by 'NewConnectionError" is how pip words every retry: not a broken body.)
TRANSIENT = (
    r"Read timed out|ReadTimeoutError|Connection broken:|IncompleteRead|Connection reset by peer|"
    r"RemoteDisconnected|EOF occurred|UNEXPECTED_EOF|not enough bytes|ended early|cut short"
)

REPLACED = frozenset({Outcome.REMOVED_PACKAGE, Outcome.IMPORT_ERROR, Outcome.NOT_UPGRADED})
# The catalogue, in order of preference: least invasive first. The recommended fix of a cell is
# the first entry that works cleanly.
CATALOGUE: tuple[Remedy, ...] = (
    Remedy(
        "retry",
        "retry with more patience",
        NETWORK_FAILURES | {Outcome.PROXY_ERROR},
        options=("--retries", "10", "--timeout", "60"),
        when=TRANSIENT,
        why="a slow or briefly broken download may pass on a later try (not a refused connection "
        "or a "
        "failed lookup: pip retried those already, and ten more with its backoff take minutes)",
    ),
    Remedy(
        "resume-retries",
        "resume broken downloads",
        NETWORK_FAILURES,
        options=("--resume-retries", "10"),
        min_pip="25.1",
        why="pip ≥ 25.1 can continue a download that broke off, instead of starting it again",
    ),
    Remedy(
        "purge-cache",
        "empty pip's cache",
        frozenset({Outcome.HASH_MISMATCH, Outcome.CORRUPT_CACHE, Outcome.NO_SPACE}),
        before=(("python3", "-m", "pip", "cache", "purge"),),
        min_pip="20.1",
        why="a damaged file in pip's cache is used again on every try; and the cache's gigabytes "
        "are disk "
        "the next download needs",
    ),
    Remedy(
        "no-cache-dir",
        "upgrade without pip's cache",
        frozenset({Outcome.NO_SPACE, Outcome.OUT_OF_MEMORY}),
        options=("--no-cache-dir",),
        why="pip otherwise writes every wheel it downloads to its cache too: twice the disk for a "
        "600 MB wheel; "
        "old pips held the whole download in memory to cache it (the classic MemoryError advice)",
    ),
    Remedy(
        "tmpdir",
        "give pip a temporary directory with room",
        frozenset({Outcome.NO_SPACE}),
        before=(("mkdir", "-p", "{home}/pip-tmp"),),
        env=("TMPDIR={home}/pip-tmp",),
        why="pip downloads and unpacks in TMPDIR (/tmp by default): a small /tmp (a tmpfs, a "
        "quota) fails "
        "while the home directory's disk has room",
    ),
    Remedy(
        "trust-ca",
        "trust the corporate CA",
        frozenset({Outcome.SSL_ERROR}),
        options=("--cert", contract.REMEDY_CA_PATH),
        needs=frozenset({Resource.CA}),
        why="an intercepting proxy or a private index signs with a CA the image does not know",
    ),
    Remedy(
        "upgrade-certifi",
        "upgrade certifi",
        frozenset({Outcome.SSL_ERROR}),
        before=(("python3", "-m", "pip", "install", "--upgrade", "certifi"),),
        why="often suggested for certificate errors; it renews the public CAs only",
    ),
    Remedy(
        "proxy-credentials",
        "give the proxy its credentials",
        frozenset({Outcome.PROXY_AUTH_REQUIRED}),
        needs=frozenset({Resource.PROXY_CREDENTIALS}),
        shown_env=("HTTP_PROXY={proxy_with_credentials}", "HTTPS_PROXY={proxy_with_credentials}"),
        why="the proxy answers 407 until pip sends a user and password (in the proxy URL)",
    ),
    Remedy(
        "no-proxy",
        "bypass the proxy",
        frozenset({Outcome.PROXY_AUTH_REQUIRED, Outcome.PROXY_ERROR}),
        unset=("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"),
        needs_fact="has_proxy",
        why="helps only where there is a route around the proxy",
    ),
    Remedy(
        "proxy-env",
        "point the proxy variables at the proxy that works",
        frozenset({Outcome.PROXY_ERROR}) | NETWORK_FAILURES,
        env=("HTTP_PROXY={proxy}", "HTTPS_PROXY={proxy}"),
        needs=frozenset({Resource.OPEN_PROXY}),
        why="the proxy variables name a proxy that is down or breaks downloads, or none where the "
        "only way "
        "out is one",
    ),
    Remedy(
        "use-proxy",
        "use the proxy that works (--proxy)",
        frozenset({Outcome.PROXY_ERROR}) | NETWORK_FAILURES,
        options=("--proxy", "{proxy}"),
        needs=frozenset({Resource.OPEN_PROXY}),
        why="the configured proxy is wrong or breaks downloads, or none is configured where the "
        "only way "
        "out is one",
    ),
    Remedy(
        "upgrade-pip",
        "upgrade pip first",
        frozenset(
            {
                Outcome.NO_MATCHING_DISTRIBUTION,
                Outcome.UNSUPPORTED_PLATFORM,
                Outcome.NOT_UPGRADED,
                Outcome.IMPORT_ERROR,
                Outcome.UNKNOWN_FAILURE,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.HELD_BACK,
                Outcome.REMOVED_PACKAGE,
                Outcome.RESOLVER_BACKTRACKING,
            }
        )
        | NETWORK_FAILURES,
        before=(("python3", "-m", "pip", "install", "--upgrade", "pip"),),
        why="an old pip cannot read newer wheel tags, has the old resolver, misses short downloads "
        "(pip ≥ 25) and cannot resume them (pip ≥ 25.1)",
    ),
    Remedy(
        "drop-constraint",
        "drop the stale constraint",
        frozenset(
            {
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.NOT_UPGRADED,
                Outcome.NO_MATCHING_DISTRIBUTION,
                Outcome.HELD_BACK,
            }
        ),
        unset=(Pip.variables.constraint,),
        needs_fact="constraint",
        why="a constraints file from an older setup pins what the new version needs",
    ),
    Remedy(
        "no-user",
        "install without --user",
        frozenset({Outcome.USER_IN_VENV}),
        drop=("--user",),
        needs_fact="user_flag",
        why="inside a virtual environment, pip installs into it; --user has no place",
    ),
    Remedy(
        "upgrade-blockers",
        "upgrade the libraries that hold it back",
        frozenset({Outcome.UPGRADED_INCONSISTENT, Outcome.RESOLUTION_IMPOSSIBLE}),
        also=("{blockers}",),
        needs_fact="blockers",
        why="a newer release of the library that pins a shared dependency may lift the pin",
    ),
    Remedy(
        "newest-for-python",
        "ask for the newest version this Python can have",
        frozenset(
            {
                Outcome.NO_MATCHING_DISTRIBUTION,
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.HELD_BACK,
                Outcome.UNSUPPORTED_PLATFORM,
                Outcome.RESOLVER_BACKTRACKING,
            }
        ),
        pin="{newest_for_python}",
        needs_fact="newest_for_python",
        why="the newest release may have no wheel for this Python; an older one may",
    ),
    # Also where an older pip discarded the tombstone and fell back to the last real release.
    Remedy(
        "use-replacement",
        "install the package it names instead",
        REPLACED,
        instead="{replacement}",
        needs_fact="replacement",
        why="a tombstoned name says what replaced it; the old distribution, if installed, stays "
        "beside it",
    ),
    Remedy(
        "replace-package",
        "uninstall it, then install the package it names instead",
        REPLACED,
        before=(("python3", "-m", "pip", "uninstall", "-y", "{package}"),),
        instead="{replacement}",
        needs_fact="replacement",
        why="the old and the new name write the same files: remove the old one first",
    ),
    Remedy(
        "python-m-pip",
        "run pip as `python3 -m pip`",
        frozenset({Outcome.WRONG_INTERPRETER}),
        module_pip=True,
        why="pip then belongs to the python3 that will import the package (pip's own advice)",
    ),
    Remedy(
        "ensurepip",
        "install pip into this Python first (ensurepip), then `python3 -m pip`",
        frozenset({Outcome.WRONG_INTERPRETER}),
        before=(("python3", "-m", "ensurepip", "--upgrade"),),
        module_pip=True,
        why="an environment made --without-pip has no pip of its own to run",
    ),
    Remedy(
        "uninstall-sharers",
        "uninstall the other distributions that write the same files first",
        frozenset({Outcome.SHARED_DIRECTORY}),
        before=(("python3", "-m", "pip", "uninstall", "-y", "{sharers}"),),
        needs_fact="sharers",
        why="two distributions in one package directory delete each other's files; keep one",
    ),
    Remedy(
        "ignore-installed",
        "install over it (--ignore-installed)",
        frozenset({Outcome.CANNOT_UNINSTALL}),
        options=("--ignore-installed",),
        warning="pip writes the new files over the old ones without removing them: the old "
        "installer's "
        "metadata and leftover files stay, and the OS's package manager still thinks it owns them",
        why="pip does not try to uninstall what it cannot account for",
    ),
    Remedy(
        "more-time",
        "let pip run longer",
        frozenset({Outcome.RESOLVER_BACKTRACKING}),
        limits="unlimited",
        note="without the time limit (e.g. a longer CI step timeout):",
        why="a resolver that backtracks through every release may still finish",
    ),
    Remedy(
        "more-memory",
        "give pip more memory",
        frozenset({Outcome.OUT_OF_MEMORY}),
        limits="unlimited",
        note="on a machine or container with more memory (e.g. docker run --memory=4g), or with "
        "swap:",
        why="pip itself needs about 40 MB, and a real TensorFlow upgrade far more",
    ),
    Remedy(
        "venv",
        "use a virtual environment",
        frozenset(
            {
                Outcome.USER_IN_VENV,
                Outcome.EXTERNALLY_MANAGED,
                Outcome.PERMISSION_DENIED,
                Outcome.SPLIT_INSTALL,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.IMPORT_ERROR,
                Outcome.CANNOT_UNINSTALL,
                Outcome.SHARED_DIRECTORY,
                Outcome.WRONG_INTERPRETER,
            }
        ),
        before=(("python3", "-m", "venv", "{home}/fix-venv"),),
        venv="{home}/fix-venv",
        drop=("--user",),
        warning="the new environment starts empty: programs and users that run another python3 "
        "keep "
        "the old version",
        why="an environment the user owns, outside the OS's packages and other users' installs",
    ),
    Remedy(
        "user",
        "install with --user",
        frozenset({Outcome.PERMISSION_DENIED, Outcome.EXTERNALLY_MANAGED}),
        options=("--user",),
        unless_fact="user_flag",
        warning="the new version lands in this user's site-packages only: root and services keep "
        "the old one",
        why="the user cannot write where pip installs, but can write to their own site-packages",
    ),
    Remedy(
        "as-root",
        "run pip as root (sudo)",
        frozenset({Outcome.PERMISSION_DENIED, Outcome.SPLIT_INSTALL}),
        as_root=True,
        needs_fact="upgrader_is_user",
        warning="files of the environment then belong to root; on a system Python, pip and the "
        "OS's "
        "package manager fight over the same files",
        why="root can write where the user cannot",
    ),
    Remedy(
        "force-reinstall",
        "reinstall everything (--force-reinstall)",
        frozenset(
            {
                Outcome.SPLIT_INSTALL,
                Outcome.IMPORT_ERROR,
                Outcome.HASH_MISMATCH,
                Outcome.CORRUPT_CACHE,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.NOT_UPGRADED,
                Outcome.CANNOT_UNINSTALL,
                Outcome.SHARED_DIRECTORY,
                Outcome.HELD_BACK,
            }
        ),
        options=("--force-reinstall",),
        warning="reinstalls every dependency too; pip's own docs: it \"can lead to unforeseen "
        "issues if "
        'there are unresolved dependency conflicts"',
        why="replaces whatever is installed, even at the same version",
    ),
    Remedy(
        "trusted-host",
        "skip the certificate check (--trusted-host)",
        frozenset({Outcome.SSL_ERROR}),
        options=("{trusted_host_args}",),
        needs_fact="index_host",
        warning="turns off certificate checks for that host: anyone on the path can serve any "
        "package",
        why="pip then accepts any certificate from the index",
    ),
    Remedy(
        "break-system-packages",
        "override PEP 668 (--break-system-packages)",
        frozenset({Outcome.EXTERNALLY_MANAGED}),
        options=("--break-system-packages",),
        min_pip="23.0.1",
        warning="can break the OS's own tools that import the same packages; the OS's package "
        "manager "
        "no longer knows what is installed",
        why="pip then ignores the EXTERNALLY-MANAGED marker",
    ),
)
unique("remedy", (r.name for r in CATALOGUE))
REMEDIES: dict[str, Remedy] = {r.name: r for r in CATALOGUE}
NEVER_TRIED = frozenset(
    {Outcome.UPGRADED, Outcome.INFRA_ERROR, Outcome.INTERRUPTED, Outcome.SETUP_FAILED}
)


def parse_selection(text: str | Iterable[str]) -> tuple[Selection | None, str]:
    """A selection from 'auto', 'none', 'a,b' or a list of names; (None, why) when it is not one."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if items in (["auto"], ["none"]):
        return Selection(Choice(items[0])), ""
    unknown = [n for n in items if n not in REMEDIES]
    if unknown or not items:
        return None, (f"unknown remedy {unknown[0]!r}" if unknown else "no remedy named")
    return Selection(Choice.NONE, tuple(dict.fromkeys(items))), ""


def plan_attempts(outcome: Outcome, facts: Facts, selection: Selection) -> list[AttemptPlan]:
    """The attempts to make for a cell that ended in `outcome`, in the catalogue's order."""
    if not selection.on or outcome in NEVER_TRIED:
        return []
    chosen = [
        r
        for r in CATALOGUE
        if selection.allows(r.name) and (r.name in selection.names or outcome in r.fixes)
    ]
    return [plan for r in chosen if (plan := plan_one(r, facts)) is not None]


def unavailable(remedy: Remedy, facts: Facts) -> str:
    """Why the remedy cannot be tried on this cell, or ''."""
    if remedy.min_pip and not _pip_at_least(facts.pip, remedy.min_pip):
        return f"needs pip ≥ {remedy.min_pip} (the cell has {facts.pip or 'an unknown pip'})"
    missing = [r for r in remedy.needs if r not in facts.resources]
    if missing:
        return f"this run has no {missing[0].value}"
    if remedy.needs_fact and not _fact(facts, remedy.needs_fact):
        return f"not applicable here ({remedy.needs_fact.replace('_', ' ')}: no)"
    if remedy.unless_fact and _fact(facts, remedy.unless_fact):
        return f"the cell already does it ({remedy.unless_fact.replace('_', ' ')})"
    if remedy.when and not re.search(remedy.when, facts.evidence):
        return "the cell's evidence is not the symptom it is advice for"
    return ""


def _fact(facts: Facts, name: str) -> bool:
    if name == "upgrader_is_user":
        return facts.upgrader != "root"
    return bool(getattr(facts, name))


def plan_one(remedy: Remedy, facts: Facts) -> AttemptPlan | None:
    if unavailable(remedy, facts):
        return None
    upgrade = [a for a in facts.upgrade if a not in remedy.drop]
    install = upgrade.index("install") + 1 if "install" in upgrade else len(upgrade)
    upgrade[install:install] = _fill(remedy.options, facts)
    if remedy.pin or remedy.instead:
        wanted = _fill((remedy.pin or remedy.instead,), facts)[0]
        upgrade = [wanted if a == facts.requirement else a for a in upgrade]
    if remedy.module_pip and upgrade and "python" not in upgrade[0]:
        upgrade[:1] = ["python3", "-m", "pip"]
    upgrade += _fill(remedy.also, facts)
    path = ""
    if remedy.venv:
        venv = _fill((remedy.venv,), facts)[0]
        path = f"{venv}/bin"
    steps = tuple(Step(facts.upgrader, tuple(_fill(argv, facts))) for argv in remedy.before)
    package = _fill((remedy.instead,), facts)[0] if remedy.instead else ""
    return AttemptPlan(
        remedy,
        steps,
        tuple(upgrade),
        "root" if remedy.as_root else facts.upgrader,
        remedy.unset,
        path,
        tuple(_fill(remedy.env, facts)),
        tuple(_fill(remedy.shown_env, facts)),
        package,
    )


def _fill(templates: Iterable[str], facts: Facts) -> list[str]:
    """Templates to argv elements; a placeholder that stands alone for a list gives one element
    each."""
    out: list[str] = []
    for text in templates:
        alone = PLACEHOLDER.fullmatch(text)
        if alone and isinstance(facts.value(alone.group(1)), tuple):
            out.extend(facts.value(alone.group(1)))
            continue
        out.append(PLACEHOLDER.sub(lambda m: _text(facts.value(m.group(1))), text))
    return out


def _text(value: str | tuple[str, ...]) -> str:
    return " ".join(value) if isinstance(value, tuple) else value


def _pip_at_least(pip: str, first: str) -> bool:
    try:
        return bool(pip) and Version(pip) >= Version(first)
    except InvalidVersion:
        return False


# `pip check` lines naming the library whose requirement is broken:
# "googleapis-common-protos 1.63.0 has requirement protobuf<5.0.0.dev0,>=3.19.5, but you have
# protobuf 6.31.1."
#   "scipy 1.11.4 requires numpy<1.28.0,>=1.21.6, but you have numpy 2.0.0."
BROKEN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) \S+ (?:has requirement|requires) ")


def blockers(
    pip_check_output: str, installed_on_purpose: Iterable[str], package: str
) -> tuple[str, ...]:
    """Installed libraries that hold the upgrade back: those `pip check` names, then those the
    environment was given besides the target (their pins are what the resolver met)."""
    names = [
        m.group("name")
        for line in pip_check_output.splitlines()
        if (m := BROKEN.match(line.strip()))
    ]
    names += [re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0] for req in installed_on_purpose]
    wanted = _norm(package)
    return tuple(dict.fromkeys(n for n in names if n and _norm(n) not in (wanted, "pip")))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# 'Please install "tensorflow" instead.' (tensorflow-gpu); "use 'scikit-learn' rather than
# 'sklearn'".
REPLACEMENT = re.compile(
    r"""(?i)(?:install|use)\s+["'`]?([A-Za-z0-9][A-Za-z0-9._-]*)["'`]?\s+(?:instead|rather)"""
)


def replacement(evidence: str) -> str:
    """The package a removed one names as its replacement, or ''."""
    match = REPLACEMENT.search(evidence)
    return match.group(1) if match else ""


def recommended(attempts: Iterable[tuple[str, Fix, str | None]]) -> str | None:
    """The remedy to type: of those that work cleanly, the ones reaching the highest version (the
    person wanted the newest), then the first in the catalogue's order of preference."""
    works = [(name, after) for name, fix, after in attempts if fix is Fix.WORKS]
    if not works:
        return None
    best = max((_version(after) for _, after in works), default=None)
    reaching = {name for name, after in works if _version(after) == best}
    return next(r.name for r in CATALOGUE if r.name in reaching)


def _version(text: str | None) -> Version:
    try:
        return Version(text or "0")
    except InvalidVersion:
        return Version("0")


def facts_for(
    plan: CellPlan,
    record: Record | None,
    newest_for_python: str | None,
    index_url: str,
    resources: frozenset[Resource],
    evidence: str = "",
    file_hosts: Iterable[str] = (),
) -> Facts:
    """What remedies may know about one failed cell: its plan, what its scenario recorded, the
    run."""
    upgrader = plan.mode.upgrade_by or "root"
    network = plan.network
    proxy = network.proxy_url or ""
    check_output = record.pip_check.output if record and record.pip_check else ""
    newest = ""
    before = record.before if record else None
    if newest_for_python and newest_for_python != before:
        newest = plan.target.pinned(newest_for_python)
    index_host = urlsplit(index_url).hostname or ""
    # pip checks each host it talks to: PyPI's files come from another host than its pages.
    hosts = dict.fromkeys([index_host, *sorted(file_hosts)]) if index_host else {}
    credentials = ""
    if network.demands_credentials and proxy:
        credentials = proxy.replace("://", "://<user>:<password>@", 1)
    return Facts(
        package=plan.target.name,
        requirement=plan.target.requirement,
        upgrade=tuple(shlex.split(plan.upgrade_command)),
        upgrader=upgrader,
        home="/root" if upgrader == "root" else f"/home/{upgrader}",
        pip=record.pip_version if record else "",
        in_venv=plan.mode.venv is not None,
        user_flag=plan.mode.user_flag,
        index_host=index_host,
        trusted_host_args=tuple(arg for h in hosts for arg in ("--trusted-host", h)),
        proxy=OPEN_PROXY_URL if network.internal else "",
        has_proxy=bool(proxy),
        proxy_with_credentials=credentials,
        constraint=bool(plan.conflicts.constraints),
        blockers=blockers(check_output, plan.conflicts.preinstall, plan.target.name),
        newest_for_python=newest,
        evidence=evidence,
        replacement=replacement(evidence),
        sharers=tuple(s.name for s in record.sharers if s.name) if record else (),
        resources=frozenset(
            r for r in resources if r is not Resource.OPEN_PROXY or network.internal
        ),
    )
