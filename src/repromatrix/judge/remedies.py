"""Remedies: how the fixes people reach for are tried on a failed cell.

A remedy is an entry of the cell's installer's catalogue (installers/remedy.py says what one is;
installers/pip_remedies.py is pip's): the outcomes it is advice for, what it changes (steps
before the upgrade, options of the upgrade command, variables, who runs it, a new virtual
environment), what it needs from the run and what the field warns about it. `plan_attempts`
turns the entries that apply to a failed cell into `AttemptPlan`s; the runner tries each in a
fresh container of the cell's own image (its setup is never rebuilt) and the classifier judges
it like any cell.

Every value a remedy puts into a command (the requirement, a library's name, a host) is one
argv element: attempts run without a shell, and reports show the commands quoted for one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..cell import contract
from ..cell.contract import Record
from ..core.axes import OPEN_PROXY_URL
from ..core.model import Selection, Target
from ..core.outcomes import Outcome
from ..core.result import Fix
from ..installers import Installer
from ..installers.remedy import PLACEHOLDER, AttemptPlan, Facts, Remedy, Resource, Step
from .changes import broken_around

__all__ = ["Facts", "Remedy", "Resource"]

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


NEVER_TRIED = frozenset(
    {
        Outcome.UPGRADED,
        Outcome.INFRA_ERROR,
        Outcome.INTERRUPTED,
        Outcome.SETUP_FAILED,
        Outcome.NEEDS_INSTALL,  # nothing failed yet: the install is still to come
    }
)


def plan_attempts(
    outcome: Outcome, facts: Facts, selection: Selection, by: Installer
) -> list[AttemptPlan]:
    """The attempts to make for a cell that ended in `outcome`, in the order of its installer's
    catalogue."""
    if not selection.on or outcome in NEVER_TRIED:
        return []
    chosen = [
        r
        for r in by.remedies
        if selection.allows(r.name) and (r.name in selection.names or outcome in r.fixes)
    ]
    return [plan for r in chosen if (plan := plan_one(r, facts, by)) is not None]


def unavailable(remedy: Remedy, facts: Facts, by: Installer) -> str:
    """Why the remedy cannot be tried on this cell, or ''."""
    if remedy.min_version and not _at_least(facts.version, remedy.min_version):
        has = facts.version or f"an unknown {by.name}"
        return f"needs {by.name} ≥ {remedy.min_version} (the cell has {has})"
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


def plan_one(remedy: Remedy, facts: Facts, by: Installer) -> AttemptPlan | None:
    if unavailable(remedy, facts, by):
        return None
    upgrade = [a for a in facts.upgrade if a not in remedy.drop]
    # After `install` (pip, uv pip); else at the end of the first command (pip-compile's)
    first_end = _first_command_end(upgrade)
    install = upgrade.index("install") + 1 if "install" in upgrade else first_end
    upgrade[install:install] = _fill(remedy.options, facts)
    if remedy.pin or remedy.instead:
        wanted = _fill((remedy.pin or remedy.instead,), facts)[0]
        upgrade = [wanted if a == facts.requirement else a for a in upgrade]
    if remedy.module and upgrade and "python" not in upgrade[0]:
        upgrade[:1] = shlex.split(by.program(module=True))
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


def _first_command_end(upgrade: list[str]) -> int:
    """Where the upgrade's first command ends: at its first step separator, or its end."""
    steps = contract.upgrade_steps(upgrade)
    return len(steps[0])


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


def _at_least(version: str, first: str) -> bool:
    try:
        return bool(version) and Version(version) >= Version(first)
    except InvalidVersion:
        return False


def blockers(
    check_output: str,
    installed_on_purpose: Iterable[str],
    package: str,
    by: Installer,
    no_longer_import: Iterable[str] = (),
) -> tuple[str, ...]:
    """Installed libraries that hold the upgrade back: those the installer's check names, those
    that no longer import after it, then those the environment was given besides the target
    (their pins are what the resolver met); never the target or the installer itself."""
    said = (by.broken.match(line.strip()) for line in check_output.splitlines())
    names = [m.group("name") for m in said if m]
    names += no_longer_import
    names += [re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0] for req in installed_on_purpose]
    mine = (_norm(package), _norm(by.name))
    return tuple(dict.fromkeys(n for n in names if n and _norm(n) not in mine))


# The requirement a check or a resolver says is broken: pip's "X 1.0 requires tensorflow~=2.15.0,
# but you have ...", "has requirement ...", uv's "requires `tensorflow~=2.15.0`, but ...".
BROKEN_REQUIREMENT = re.compile(r"(?:requires|has requirement) `?(?P<req>[^`]+?)`?, but ")


def blockers_allow(check_output: str, plan_target: Target) -> str:
    """The target as the installed libraries require it, all their specifiers together
    ('tensorflow~=2.15.0'), or '' when none names the target."""
    specifiers = []
    for match in BROKEN_REQUIREMENT.finditer(check_output):
        try:
            req = Requirement(match.group("req"))
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) == plan_target.name and str(req.specifier):
            specifiers.append(str(req.specifier))
    return plan_target.spec(",".join(dict.fromkeys(specifiers))) if specifiers else ""


def below_break(record: Record | None, target: Target) -> str:
    """'tensorflow<2.16' when something worked on the version before the upgrade and not after
    it (a check that passed before and failed after, a library around it that imported before
    and no longer does); '' when nothing is known to have broken."""
    if record is None or not record.before or record.before == record.after:
        return ""
    passed = {(c.name, c.identity) for c in record.checks_before if c.exit_code == 0}
    check_broke = any(c.exit_code and (c.name, c.identity) in passed for c in record.checks)
    import_broke = any(b.before == "imported" for b in broken_around(record))
    if not (check_broke or import_broke):
        return ""
    try:
        worked = Version(record.before)
    except InvalidVersion:
        return ""
    major, minor = (*worked.release, 0)[:2]
    return target.spec(f"<{major}.{minor + 1}")


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


def recommended(attempts: Iterable[tuple[str, Fix, str | None]], by: Installer) -> str | None:
    """The remedy to type: of those that work cleanly, the ones reaching the highest version (the
    person wanted the newest), then the first in the catalogue's order of preference."""
    works = [(name, after) for name, fix, after in attempts if fix is Fix.WORKS]
    if not works:
        return None
    best = max((_version(after) for _, after in works), default=None)
    reaching = {name for name, after in works if _version(after) == best}
    return next(r.name for r in by.remedies if r.name in reaching)


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
        version=plan.installer.version_of(record.pip) if record else "",
        in_venv=plan.mode.venv is not None,
        user_flag=plan.mode.user_flag,
        index_host=index_host,
        trusted_host_args=tuple(arg for h in hosts for arg in ("--trusted-host", h)),
        proxy=OPEN_PROXY_URL if network.internal else "",
        has_proxy=bool(proxy),
        proxy_with_credentials=credentials,
        constraint=bool(plan.conflicts.constraints),
        blockers=blockers(
            check_output,
            plan.conflicts.preinstall,
            plan.target.name,
            plan.installer,
            (b.name for b in broken_around(record) if b.left_behind),
        ),
        blockers_allow=blockers_allow(check_output + "\n" + evidence, plan.target),
        below_break=below_break(record, plan.target),
        newest_for_python=newest,
        evidence=evidence,
        replacement=replacement(evidence),
        sharers=tuple(s.name for s in record.sharers if s.name) if record else (),
        resources=frozenset(
            r for r in resources if r is not Resource.OPEN_PROXY or network.internal
        ),
    )
