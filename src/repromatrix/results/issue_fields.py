"""A failing cell's environment in the TensorFlow issue template's own fields, ready to paste.

TensorFlow's template (.github/ISSUE_TEMPLATE/tensorflow_issue_template.yaml) asks for the
issue type, source, TensorFlow version, OS platform and distribution, Python version, CUDA/cuDNN
and GPU; its older build/installation template asks "Installed using virtualenv? pip? conda?".
Every value is what the cell recorded; what it did not record is said to be unknown, never
guessed. The containers have no GPU: said so, with the CUDA wheels the upgrade installed.
"""

from __future__ import annotations

import re

from ..core.outcomes import OUTCOME_INFO
from ..core.result import CellResult

_SUITE = re.compile(r"[a-z]+")  # a Debian suite name, as the os axis takes it
_INSTALLS = {
    "venv": "a virtualenv (python3 -m venv)",
    "system": "the system Python",
    "user": "the user site (--user)",
}
_CUDA = re.compile(r"nvidia-(cudnn|cuda-runtime)-cu\d+")


def issue_fields(cell: CellResult, package: str) -> str:
    """'Field: value' lines, one per template field."""
    installer = cell.axes.get("installer", "pip").partition("==")[0]
    install = cell.axes.get("install", "")
    how = _INSTALLS.get(install, f"install mode {install}" if install else "unknown")
    using = f"{installer} {cell.pip or ''} into {how}"
    python = cell.python or "unknown"
    if cell.triaged:  # it ran here, as a dry run
        using = f"nothing installed: {installer}'s dry run of the upgrade into {how} (--triage)"
    elif cell.resolved_only and cell.resolved:  # nothing ran on that platform: say what did
        using = f"not installed: {installer} {cell.pip or ''}'s dry run, resolving for it"
        python = f"{cell.resolved.get('python') or 'unknown'} (resolved for; not run)"
    fields = [
        ("Issue type", "Build/Install"),
        ("Source", "binary"),
        (f"{_named(package)} version", _versions(cell)),
        ("Custom code", "No"),
        ("OS platform and distribution", _os(cell)),
        ("Python version", python),
        ("Installed using virtualenv? pip? conda?", using),
        ("CUDA/cuDNN version", _cuda(cell)),
        ("GPU model and memory", "none: reproduced in a container without a GPU"),
        (
            "Outcome (repromatrix)",
            f"{cell.outcome.value}: {cell.evidence[0] if cell.evidence else ''}",
        ),
    ]
    return "\n".join(f"{name}: {' '.join(value.split())}" for name, value in fields)


def _named(package: str) -> str:
    return "TensorFlow" if package.startswith("tensorflow") else package or "Package"


def _versions(cell: CellResult) -> str:
    if cell.triaged:
        before = f"{cell.before or 'none'} installed"
        taken = (cell.resolved or {}).get("version")
        if OUTCOME_INFO[cell.outcome].failed:
            return f"{before}; the upgrade's dry run (--triage) failed, nothing was installed"
        would = f"would take {taken}" if taken else "would take no other version"
        return f"{before}; the upgrade's dry run (--triage) {would}, nothing was installed"
    if cell.resolved_only:
        taken = (cell.resolved or {}).get("version") or "nothing"
        return f"not installed: a resolution for the platform would take {taken}"
    before = cell.before or "not installed"
    after = cell.after or "unknown"
    newest = (
        f" (newest for this Python: {cell.newest_for_python})" if cell.newest_for_python else ""
    )
    return f"{before} before the upgrade, {after} after it{newest}"


def _os(cell: CellResult) -> str:
    os_value = cell.axes.get("os", "")
    platform = cell.platform
    if cell.resolved_only and not cell.triaged:
        resolver = f"Debian {os_value}" if _SUITE.fullmatch(os_value) else os_value
        said = str(platform.get("for", "")).split(", CPython")[0] or "another platform"
        return f"{said} (resolved in a {resolver} container, not run there)"
    arch = platform.get("arch", "")
    on = f" {arch}" if arch and arch != "amd64" else ""
    emulated = str(platform.get("run", "")).startswith("emulated")
    how = ", under qemu-user emulation" if emulated else ""
    if _SUITE.fullmatch(os_value):
        return f"Linux, Debian {os_value}{on} (container{how})"
    return f"Linux, image {os_value}{on} (container{how})" if os_value else "Linux (container)"


def _cuda(cell: CellResult) -> str:
    installed = []
    for change in cell.changed:
        name = str(change.get("name", "")) if isinstance(change, dict) else ""
        after = str(change.get("after") or "") if isinstance(change, dict) else ""
        if _CUDA.fullmatch(name) and after:
            installed.append(f"{name} {after}")
    if not installed:
        return "none installed by the upgrade"
    return ", ".join(installed) + " (wheels; no GPU to run them)"
