"""What a remedy is: the shape of a fix people reach for, as data (installers declare their own
catalogues in it: pip_remedies.py), the facts of a failed cell it may use, what it needs from
the run, and one made concrete for a cell (`AttemptPlan`: judge/remedies.py makes it, the
execute stage runs it).

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

from ..cell import contract
from ..core.axes import RESOURCE_LIMITS, Limits
from ..core.outcomes import Outcome


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
    # Run the installer as a module of python3 (`python3 -m pip`), not as the command on PATH
    module: bool = False
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
    min_version: str = ""  # the first version of the installer with the option
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
    version: str = ""  # the cell's installer's version
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
    # The target as those libraries require it ('tensorflow~=2.15.0'): the newest they allow
    blockers_allow: str = ""
    # The target below the next release series after the one where what broke still worked (a
    # check that passed before, a library around it that imported): 'tensorflow<2.16'
    below_break: str = ""
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
        # Each of the upgrade's commands with its own prefix: in a shell, `sudo a && b` and
        # `X=1 a && b` would give the second neither
        prefix = _as(self.upgrader, self.upgrader, self.remedy.as_root) + env
        lines += [prefix + shlex.join(step) for step in contract.upgrade_steps(self.upgrade)]
        return tuple(lines)

    def container_env(self) -> dict[str, str]:
        """The scenario's variables for this attempt (templates/scenario.py reads them)."""
        own = dict(a.partition("=")[::2] for a in self.env)
        scenario = {
            contract.BEFORE: json.dumps([s.to_json() for s in self.steps]),
            contract.UPGRADE: contract.upgrade_line(self.upgrade),
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
