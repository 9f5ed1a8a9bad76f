"""Stage 6: render the HTML report from stored results. Never needs Docker.

One self-contained page: inline CSS and JS allowed by hash in a strict Content-Security-
Policy, no network requests, the run's data embedded as JSON. Logs sit beside the page and are
linked; for small runs the Dockerfiles and the upgrade output are inlined so the page alone is
enough as a bug attachment. Untrusted text (logs, package metadata) only ever reaches the DOM
as text: Jinja autoescapes, the JSON is escaped for <script>, and the JS uses textContent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from ..core.files import open_regular
from ..core.outcomes import OUTCOME_INFO, Outcome
from ..core.result import FIX_COLOUR, CellResult, Fix, RunResult, cells_said
from ..core.templating import render, template_text
from .archive import DEFAULT_BUDGET_MB
from .issue_fields import issue_fields
from .page_budget import Fitted, fit_cells

INLINE_LIMIT = 200  # cells; above it the page links Dockerfiles instead of inlining them
OUTPUT_TAIL = 80  # lines of the upgrade output inlined per cell in small runs
STATIC_UNEXPECTED = 50  # unexpected cells listed in the no-JavaScript part


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _stylesheet() -> str:
    colours = "".join(f".o-{o.value}{{background:{OUTCOME_INFO[o].colour}}}\n" for o in Outcome)
    colours += "".join(f".f-{f.value}{{background:{FIX_COLOUR[f]}}}\n" for f in Fix)
    return template_text("report.css") + colours


def _script_json(data: Any) -> str:
    """JSON that cannot close its <script> element, whatever the logs contain."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _cell_data(
    cell: CellResult,
    axes: list[str],
    inline: bool,
    run_dir: Path | None,
    budget: _Budget,
    package: str,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": cell.id,
        "values": [cell.axes.get(a, "") for a in axes],
        "outcome": cell.outcome,
        "evidence": cell.evidence,
        "expected": cell.expected,
        "unexpected": cell.unexpected,
        "trend": cell.trend,
        "previous": cell.previous_outcome,
        "before": cell.before,
        "after": cell.after,
        "runsOn": cell.runs_on,
        "platform": _platform(cell),
        "resolved": cell.resolved,
        "newest": cell.newest,
        "newestForPython": cell.newest_for_python,
        "belowNewest": cell.below_newest,
        "python": cell.python,
        # `pip` and `pip_check` in results.json hold the cell's installer's (names kept for
        # readers of earlier runs); the panel labels them with what the cell ran.
        "pip": cell.pip,
        "command": cell.upgrade_command,
        "pipExit": cell.pip_exit_code,
        "durations": cell.durations,
        "setup": " ".join(x for x in (cell.setup, cell.setup_image) if x),
        "dockerfile": safe_link(cell.dockerfile),
        "log": safe_link(cell.log),
        "reproduce": cell.reproduce,
        "notes": cell.notes,
        "changed": cell.changed,
        "around": cell.around,
        "pipCheck": _pip_check(cell),
        "import": _import(cell),
        "imports": cell.imports,
        "interpreter": _interpreter(cell),
        "checks": _checks(cell),
        "whyNoWheel": _why_no_wheel(cell),
        "attempts": _attempts(cell),
        "fix": cell.fix or "",
        "issueFields": issue_fields(cell, package) if OUTCOME_INFO[cell.outcome].failed else "",
        "host": cell.host
        if cell.host != "default"
        else "",  # only worth a line when several engines ran
    }
    if inline and run_dir is not None:
        data["dockerfileText"] = budget.take(read_inside(run_dir, cell.dockerfile))
        data["output"] = budget.take(_output_tail(read_inside(run_dir, cell.log, end=True)))
    return data


def _platform(cell: CellResult) -> str:
    """'arm64 (aarch64), emulated (qemu-user)', 'macOS 14 on arm64, CPython 3.12: resolved, not
    run'; '' for a native amd64 cell (or a run made before platforms were recorded)."""
    facts = cell.platform
    if cell.triaged:
        return f"{facts.get('for', '')}: resolved, not installed"
    if cell.resolved_only:
        return f"{facts.get('for', 'another platform')}: resolved, not run"
    arch, run = facts.get("arch", ""), facts.get("run", "")
    if not arch or (arch == "amd64" and run == "native"):
        return ""
    return f"{arch} ({facts.get('machine', '')}), {run}"


def _output_tail(log: str) -> str:
    """The end of what the container printed (pip's output), without the machine record."""
    output = log.split("== container output ==")[-1]
    lines = [ln for ln in output.splitlines() if not ln.startswith("REPROMATRIX-RECORD ")]
    return "\n".join(lines[-OUTPUT_TAIL:]).strip("\n")[-MAX_OUTPUT_CHARS:]


def _pip_check(cell: CellResult) -> dict[str, Any] | None:
    check = cell.pip_check
    if not check:
        return None
    return {
        "command": str(check.get("command", "")),
        "exitCode": check.get("exit_code"),
        "output": check.get("output", "")[-4000:],
    }


def _import(cell: CellResult) -> dict[str, Any] | None:
    imp = cell.import_check
    return (
        {"ok": imp.get("ok"), "version": imp.get("version"), "error": imp.get("error")}
        if imp
        else None
    )


def _interpreter(cell: CellResult) -> str:
    """'CPython 3.10 (python:3.10-slim-bookworm, pypi-bundle: ...); OpenSSL ...; glibc 2.36; CA:
    ...'."""
    facts = cell.interpreter
    if not facts:
        return ""
    where = facts.get("image", "")
    if facts.get("provider"):
        where += f", {facts['provider']}" + (f": {facts['detail']}" if facts.get("detail") else "")
    paths = facts.get("ca_paths") or {}
    parts = [
        f"{facts.get('wanted', '')} ({where})",
        facts.get("openssl"),
        facts.get("glibc"),
        f"CA file {paths.get('cafile')}, dir {paths.get('capath')}" if paths else None,
    ]
    return "; ".join(str(p) for p in parts if p)


def _why_no_wheel(cell: CellResult) -> dict[str, Any] | None:
    table = cell.why_no_wheel
    if not table:
        return None
    files = table.get("files")
    rows = [
        {
            "file": str(r.get("file", "")),
            "fits": bool(r.get("fits")),
            "reason": str(r.get("reason", "")),
        }
        for r in (files if isinstance(files, list) else [])
        if isinstance(r, dict)
    ]
    shown = table.get("not_shown")
    return {
        "summary": str(table.get("summary", "")),
        "rows": rows,
        "notShown": shown if isinstance(shown, int) else 0,
    }


def _attempts(cell: CellResult) -> list[dict[str, Any]]:
    """The remedies tried on the cell, as the panel shows them; every value text (it may be
    attached)."""

    return [
        {
            "remedy": a.remedy,
            "title": a.title,
            "commands": [str(c) for c in a.commands],
            "identity": a.identity,
            "warning": a.warning,
            "outcome": a.outcome.value,
            "evidence": [str(e) for e in a.evidence],
            "fix": a.fix.value,
            "log": safe_link(a.log),
        }
        for a in cell.attempts
    ]


def _checks(cell: CellResult) -> list[dict[str, Any]]:
    return [
        {
            "name": c.get("name"),
            "identity": c.get("identity"),
            "exitCode": c.get("exit_code"),
            "output": str(c.get("output") or "")[-2000:],
        }
        for c in cell.checks
    ]


MAX_INLINED_FILE = 1024 * 1024  # a Dockerfile is a few KB; of a log, only its end is read
MAX_OUTPUT_CHARS = 64 * 1024  # of the upgrade output's last lines (one line may be megabytes)
# What the page inlines in all: a 20 KB attached run whose cells all name one large file does
# not make a 183 MB page. Past it, the rest of the cells are linked, and the page says so.
INLINE_BUDGET = 16 * 1024 * 1024


def safe_link(relative: str) -> str:
    """A link to a file of the run, or '' for anything that is not a plain relative path inside it
    (an attached results.json may say 'javascript:...', '/etc/passwd' or '../x')."""
    parts = relative.split("/")
    if (
        not relative
        or relative.startswith("/")
        or ":" in parts[0]
        or ".." in parts
        or "\\" in relative
        or any(ord(ch) < 32 for ch in relative)
    ):
        return ""
    return relative


def read_inside(run_dir: Path, relative: str, end: bool = False) -> str:
    """A run's own file, as text, at most MAX_INLINED_FILE bytes of it (`end`: its last ones);
    '' for anything else. results.json may come from someone else (an attached run): its paths
    are data, so an absolute path, '..', a symlink out of the run directory, a FIFO or a device
    is never read, and the file is opened by descriptor after the check (not swapped in)."""
    if not relative:
        return ""
    root = run_dir.resolve()
    try:
        path = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # ValueError: a NUL byte in the path
        return ""
    if not path.is_relative_to(root):
        return ""
    opened = open_regular(path)
    if isinstance(opened, str):
        return ""
    fh, info = opened
    with fh:
        if info.st_size > MAX_INLINED_FILE and not end:
            return ""
        fh.seek(max(0, info.st_size - MAX_INLINED_FILE))  # a sparse 2 GiB log: its last MiB
        return fh.read(MAX_INLINED_FILE).decode("utf-8", errors="replace")


class _Budget:
    """How much text the page may still inline."""

    def __init__(self, left: int) -> None:
        self.left, self.exhausted = left, False

    def take(self, text: str) -> str:
        size = len(_script_json(text))  # as the page holds it: a NUL is six characters there
        if size > self.left:
            self.exhausted, self.left = True, 0
            return ""
        self.left -= size
        return text


def report_data(run: RunResult, run_dir: Path | None) -> dict[str, Any]:
    axes = list(run.cells[0].axes) if run.cells else []
    inline = len(run.cells) <= INLINE_LIMIT
    budget = _Budget(INLINE_BUDGET)
    package = run.target.get("package", "")
    cells = [_cell_data(c, axes, inline, run_dir, budget, package) for c in run.cells]
    said = (
        f"The page inlines at most {INLINE_BUDGET // 2**20} MiB of Dockerfiles and logs; "
        "the rest of the cells are linked."
    )
    return {
        "runId": run.run_id,
        "axes": axes,
        "outcomes": {
            o.value: {"summary": OUTCOME_INFO[o].summary, "failed": OUTCOME_INFO[o].failed}
            for o in Outcome
        },
        "cells": cells,
        "inlineNote": said if budget.exhausted else "",
    }


def _spoken(names: list[str]) -> str:
    """'pip', 'pip and uv', 'pip, uv and pip-tools'."""
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def render_html(
    run: RunResult, run_dir: Path | None = None, budget_mb: float = DEFAULT_BUDGET_MB
) -> str:
    """The page, within `budget_mb` megabytes (10**6 bytes; see page_budget)."""
    data = report_data(run, run_dir)
    page = _page(run, data)
    budget = int(budget_mb * 10**6)
    if len(page.encode()) <= budget:
        return page
    around_cells = len(page.encode()) - len(_script_json(data["cells"]).encode())
    failed = frozenset(o.value for o in Outcome if OUTCOME_INFO[o].failed)
    fitted = fit_cells(data["cells"], budget - around_cells - NOTE_ROOM, failed, _script_json)
    data["cells"] = fitted.cells
    data["trimNote"] = _trim_note(fitted, budget_mb)
    return _page(run, data)


NOTE_ROOM = 4096  # bytes kept for the notes that say what was trimmed


def _trim_note(fitted: Fitted, budget_mb: float) -> str:
    said = (
        f"To keep this page within its {budget_mb:g} MB budget (--size-budget), it shows less "
        f"than the full record for {cells_said(fitted.trimmed)}, the cells that ended as "
        "expected first; results.json, report.zip and each cell's directory (cells/CELL/) hold "
        "everything."
    )
    if fitted.fits:
        return said
    return said + " Even so the page is over its budget: attach report.zip or summary.png."


def _page(run: RunResult, data: dict[str, Any]) -> str:
    style, script = _stylesheet(), template_text("report.js")
    return render(
        "report",
        "report.html.j2",
        run=run,
        counts=run.counts(),
        unexpected=run.unexpected()[:STATIC_UNEXPECTED],
        n_unexpected=len(run.unexpected()),
        n_cells=cells_said(len(run.cells)),
        info={o.value: OUTCOME_INFO[o] for o in Outcome},
        style=style,
        script=script,
        style_hash=_csp_hash(style),
        script_hash=_csp_hash(script),
        data_json=_script_json(data),
        inline_note=" ".join(filter(None, (data["inlineNote"], data.get("trimNote", "")))),
        package=run.target.get("package", "") or "the package",  # an attached run may lack it
        installers=_spoken(run.installers()),
    )
