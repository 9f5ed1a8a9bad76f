"""What a cell's record says of versions, for its verdict: before and after, the newest release
and the newest for its Python, why it landed below them; for a resolved cell, what its dry run
would take. Pure: no I/O."""

from __future__ import annotations

import re
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from ..cell.contract import Record, pip_version_of
from .index import TAG_FAMILIES, Releases, as_version, pip_reads
from .wheelmatch import CellTags, fits, missing, newest_for, placeholder_said


def resolved_distributions(record: Record) -> list[tuple[str, str, str]]:
    """(name, version, file) of each distribution the resolution would install: pip's report,
    else the installer's ' + name==version' lines (uv)."""
    resolved = record.resolution
    if resolved is not None and resolved.install is not None:
        return [(d.name, d.version, d.file) for d in resolved.install]
    output = record.upgrade.output if record.upgrade else ""
    found = re.findall(r"(?m)^\s*\+ ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", output)
    return [(name, version, "") for name, version in found]


def resolution_facts(record: Record, releases: Releases | None) -> dict[str, Any]:
    """What a resolved cell's result says: the release it would take (never `after`: nothing was
    installed), the newest for that platform, and why it would take less than the newest."""
    assert record.resolution is not None
    facts: dict[str, Any] = {
        "before": None,
        "after": None,
        "python": record.python,
        "pip": record.pip,
    }
    itself = canonicalize_name(record.package)
    mine = [d for d in resolved_distributions(record) if canonicalize_name(d[0]) == itself]
    if mine:
        facts["resolved"], facts["resolved_file"] = mine[0][1], mine[0][2]
    facts["distributions"] = [list(d) for d in resolved_distributions(record)]
    if releases is None or not releases.tags:
        return facts
    cell = CellTags.for_resolution(record.resolution, as_version(record.pip_version or None))
    newest, reachable = releases.newest(), newest_for(releases, cell)
    facts["newest"] = str(newest) if newest else None
    facts["newest_for_python"] = str(reachable) if reachable else None
    taken = as_version(facts.get("resolved"))
    if taken and newest and taken < newest:
        why = [missing(releases, newest, cell)] if reachable != newest else []
        if reachable and taken < reachable:
            why.append(f"{reachable} exists for it, but the installer did not take it")
        elif reachable:
            why.append(f"the newest for it is {reachable}")
        if placeholder := placeholder_said(releases, taken, newest, cell):
            facts["placeholder"] = placeholder
        facts["below_newest"] = (
            f"would take {taken}, below the newest release {newest}: {'; '.join(why)}"
        )
    return facts


def version_facts(record: Record, releases: Releases | None) -> dict[str, Any]:
    """Before/after versions, and why the result is below the newest release, if it is."""
    facts: dict[str, Any] = {
        "before": record.before,
        "after": record.after,
        "python": record.python,
        "pip": record.pip,
    }
    if record.runtime and (limit := record.runtime.memory_limit):
        facts["memory_limit"] = f"{limit // 2**20} MiB"
    if releases is None or not releases.tags:
        return facts
    newest = releases.newest()
    facts["newest"] = str(newest) if newest else None
    python = ".".join(record.python.split(".")[:2])
    cell = CellTags.from_record(record)
    reachable = newest_for(releases, cell) if cell else None
    facts["newest_for_python"] = str(reachable) if reachable else None
    after = as_version(record.after)
    succeeded = record.upgrade is not None and record.upgrade.exit_code == 0
    target = reachable or newest
    if target:
        facts["old_pip"] = old_pip_reason(record.pip, releases, target)
    if succeeded and newest and after and after < newest:
        why = [missing(releases, newest, cell)] if cell and reachable != newest else []
        if target and after < target:
            # the installer by its own word for itself ('pip 23.0.1 from ...', 'uv 0.13.9 (...)',
            # 'pip-compile, version 7.7.0')
            said = record.pip.replace(",", " ").split()
            who = said[0] if said else "the installer"
            why.append(facts["old_pip"] or f"{target} exists for it, but {who} did not take it")
        else:
            why.append(f"the newest for it is {reachable}")
        if cell and (placeholder := placeholder_said(releases, after, newest, cell)):
            why.append(placeholder)
            facts["placeholder"] = placeholder
        facts["below_newest"] = (
            f"landed on {after}, below the newest release {newest}: {'; '.join(why)}"
        )
    finals_for_python = [
        v for v in releases.files if not v.is_prerelease and cell and fits(releases, v, cell)
    ]
    if (
        succeeded
        and after
        and after.is_prerelease
        and not releases.pre
        and newest
        and not newest.is_prerelease
        and not finals_for_python
    ):
        # pip takes a pre-release when no final release fits (packaging's rule): Python 3.14 gets an
        # rc.
        facts["prerelease"] = (
            f"landed on the pre-release {after}, not asked for: no final release has a wheel "
            f"for Python {python} (the newest final, {newest}, has none)"
        )
    return facts


def old_pip_reason(pip_said: str, releases: Releases, version: Version) -> str:
    """Why a pip this old cannot see `version`'s wheels, or ''; names the smallest pip that can.
    `pip_said`: what `pip --version` printed."""
    pip = as_version(pip_version_of(pip_said) or None)
    # Cells are Linux: macOS and Windows wheels of the release say nothing here.
    platforms = {
        p for p in releases.platforms.get(version, set()) if p.startswith(("manylinux", "linux"))
    }
    if pip is None or not platforms:
        return ""
    for prefix, first, name in TAG_FAMILIES:
        readable = {p for p in platforms if not p.startswith("manylinux") or pip_reads(pip, p)}
        if pip < Version(first) and not readable and any(p.startswith(prefix) for p in platforms):
            return (
                f"pip {pip} cannot read the {name} tags of {version}'s wheels (pip ≥ {first} can)"
            )
    return ""


def same_version(a: str | None, b: str | None) -> bool | None:
    """Do two version strings name one version (PEP 440: '2.23.0-dev20261026' ==
    '2.23.0.dev20261026')? None when either is missing or not a version."""
    va, vb = as_version(a), as_version(b)
    return None if va is None or vb is None else va == vb
