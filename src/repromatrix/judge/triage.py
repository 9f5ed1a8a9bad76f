"""`run --triage`: what a cell's dry run in its own environment says it would take, when it
resolved (classify.py decides the failures, as for an upgrade). Never that it installed."""

from __future__ import annotations

import re
from typing import Any

from packaging.utils import canonicalize_name

from ..cell.contract import Record, Run
from ..installers import Installer

WHERE = "--triage: resolved in its own environment, not installed"
REST = "the install says whether it upgrades, imports and checks (`run --resume RUN`)"


def resolved_here(
    record: Record, upgrade: Run, facts: dict[str, Any], by: Installer
) -> tuple[str, ...]:
    """The evidence of a dry run that resolved: the release it would take, or that it would
    leave the one installed; `facts` gains what the result's `resolved` keeps."""
    would = would_install(upgrade.output)
    facts["distributions"] = [[name, version, ""] for name, version in would]
    itself = canonicalize_name(record.package)
    taken = next((v for n, v in would if canonicalize_name(n) == itself), None)
    before = record.before or "none"
    if taken:
        facts["resolved"] = taken
        took = f"{by.name} would take {record.package} {taken} ({before} installed)"
        return (f"{WHERE}: {took}", REST)
    kept = re.compile(by.kept.replace("{package}", re.escape(record.package)))
    said = next((ln.strip() for ln in upgrade.output.splitlines() if kept.search(ln)), "")
    quoted = f" ({said.split(' in ')[0]})" if said else ""
    return (f"{WHERE}: {by.name} would leave {record.package} {before} as it is{quoted}", REST)


def would_install(output: str) -> list[tuple[str, str]]:
    """(name, version) of what a dry run says it would install: pip's 'Would install a-1 b-2',
    uv's ' + a==1' lines."""
    found = re.findall(r"(?m)^\s*\+ ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", output)
    line = next((ln for ln in output.splitlines() if ln.startswith("Would install ")), "")
    for word in line.split()[2:]:
        name, _, version = word.rpartition("-")
        if name and version:
            found.append((name, version))
    return found
