"""What stage 5 decided of a cell (`Judged`, made by judging.py) and what its container recorded,
written down as the typed result (results.json's cell). Nothing is decided here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..cell.contract import Record
from ..core.errors import BaseImageError
from ..core.outcomes import Outcome
from ..core.result import (
    EMULATED_RUN,
    RESOLVED_RUN,
    TRIAGED_RUN,
    AttemptResult,
    CellResult,
    Fix,
    Verdict,
)
from ..execute.runner import AttemptRun, CellRun
from ..infra.baseimages import Provisioned
from ..plan.plan import CellPlan, extra_index_urls
from ..plan.render import reproduce_command
from .changes import broken_around, changes
from .remedies import judge


@dataclass(frozen=True)
class JudgedAttempt:
    """One remedy attempt and its verdict, by the same classifier as the cells'; what it says of
    the remedy (`fix`) follows from the verdict's outcome."""

    attempt: AttemptRun
    verdict: Verdict

    @property
    def fix(self) -> Fix:
        return judge(self.verdict.outcome)

    @property
    def after(self) -> str | None:
        """The target's version after the attempt's upgrade, as its record says."""
        record = self.attempt.observation.record
        return record.after if record else None


@dataclass(frozen=True)
class Judged:
    """Everything stage 5 decided of a cell, to be written down as it is (`to_cell_result`)."""

    verdict: Verdict
    attempts: tuple[JudgedAttempt, ...]  # in the catalogue's order of preference
    fix: str | None  # the remedy to type, of those that worked cleanly
    why_no_wheel: dict[str, Any]  # results.json's why_no_wheel ({} where a wheel fitted)


def to_cell_result(
    run: CellRun,
    judged: Judged,
    run_dir: Path,
    ready: Mapping[str, Provisioned | BaseImageError],
) -> CellResult:
    plan, record = run.job.plan, run.observation.record
    verdict = judged.verdict
    rel = run.job.context.relative_to(run_dir)
    facts = verdict.facts
    attempts = [to_attempt_result(a, run_dir) for a in judged.attempts]
    return CellResult(
        id=plan.cell.id,
        axes=plan.cell.axes,
        outcome=verdict.outcome,
        evidence=list(verdict.evidence) + _environment_lines(plan, verdict) + _origin(plan, record),
        expected=list(plan.cell.expected),
        before=facts.get("before"),
        after=facts.get("after"),
        newest=facts.get("newest"),
        newest_for_python=facts.get("newest_for_python"),
        below_newest=facts.get("below_newest"),
        **_recorded(record),
        upgrade_command=plan.upgrade_command,
        durations=run.durations,
        stages=dict(record.stages) if record else {},
        dockerfile=str(rel / "Dockerfile"),
        log=str(rel / "log.txt"),
        reproduce=reproduce_command(plan, str(rel)),
        notes=list(plan.notes),
        interpreter=_interpreter_facts(plan, ready.get(plan.base_image), record),
        why_no_wheel=judged.why_no_wheel,
        setup=run.setup,
        rerun=run.rerun,
        setup_image=run.setup_image,
        downloads=run.downloads,
        platform=_platform_facts(plan, run.job.emulated),
        resolved=_resolved(plan, facts),
        attempts=attempts,
        fix=judged.fix,
    )


def _platform_facts(plan: CellPlan, emulated: bool) -> dict[str, Any]:
    """Where the cell ran: its architecture and how (natively, under emulation); or that it was
    only resolved, and for what."""
    arch = plan.arch
    if plan.resolution is not None:
        return {
            "arch": arch.name,
            "machine": arch.machine,
            "run": RESOLVED_RUN,
            "platform": plan.resolution.platform.name,
            "for": plan.resolution.describe,
        }
    how = EMULATED_RUN if emulated else "native"
    if plan.triage:  # it ran here, but only its installer's dry run
        return {"arch": arch.name, "machine": arch.machine, "run": TRIAGED_RUN, "for": TRIAGED_FOR}
    return {"arch": arch.name, "machine": arch.machine, "run": how}


TRIAGED_FOR = "its own environment, by its installer's dry run (--triage)"


def _resolved(plan: CellPlan, facts: dict[str, Any]) -> dict[str, Any] | None:
    """A resolved cell's answer: the release it would take, and the whole resolution."""
    if plan.triage:
        return {
            "for": TRIAGED_FOR,
            "platform": "linux",
            "python": facts.get("python") or "",
            "version": facts.get("resolved"),
            "file": "",
            "distributions": facts.get("distributions") or [],
            "command": plan.upgrade_command,
        }
    if plan.resolution is None:
        return None
    return {
        "for": plan.resolution.describe,
        "platform": plan.resolution.platform.name,
        "python": plan.resolution.python,
        "version": facts.get("resolved"),
        "file": facts.get("resolved_file") or "",
        "distributions": facts.get("distributions") or [],
        "command": plan.upgrade_command,
    }


def _recorded(record: Record | None) -> dict[str, Any]:
    """What results.json keeps of a cell's record; nothing of a cell that printed none."""
    if record is None:
        return {
            "python": None,
            "pip": None,
            "pip_exit_code": None,
            "pip_check": None,
            "import_check": None,
            "checks": [],
            "imports": [],
            "changed": [],
            "around": {},
        }
    imports = record.imports
    return {
        "python": record.python,
        "pip": record.pip,
        "pip_exit_code": record.upgrade.exit_code if record.upgrade else None,
        "pip_check": record.pip_check_json,
        "import_check": imports.json if imports else None,
        "checks": [c.json for c in record.checks],
        "imports": list(imports.names) if imports else [],
        "changed": [c.to_json() for c in changes(record)],
        "around": _around(record),
    }


def _around(record: Record) -> dict[str, Any]:
    """The libraries around the target: how many modules were imported after the upgrade, how
    many the budget left out, and those that no longer import ({} when not recorded)."""
    if record.around_after is None:
        return {}
    return {
        "imported": len(record.around_after),
        "left_out": record.around_left_out,
        "broken": [b.to_json() for b in broken_around(record)],
    }


def to_attempt_result(judged: JudgedAttempt, run_dir: Path) -> AttemptResult:
    """One remedy attempt as stage 5 judged it."""
    attempt, verdict = judged.attempt, judged.verdict
    plan = attempt.job.plan
    record = attempt.observation.record
    check_exit = record.pip_check.exit_code if record and record.pip_check else None
    return AttemptResult(
        remedy=plan.remedy.name,
        outcome=verdict.outcome,
        fix=judged.fix,
        title=plan.remedy.title,
        commands=list(plan.commands),
        identity=plan.upgrader,
        warning=plan.remedy.warning,
        evidence=list(verdict.evidence),
        pip_check_exit_code=check_exit,
        after=record.after if record else None,
        log=str(attempt.log_path.relative_to(run_dir)) if attempt.log_path else "",
        seconds=attempt.seconds,
    )


def python_of(plan: CellPlan, record: Record | None) -> str:
    """The cell's Python: as recorded, or (a cell that never ran) as planned."""
    recorded = record.python if record else ""
    return recorded or plan.interpreter.python


def _interpreter_facts(
    plan: CellPlan, provisioned: Provisioned | BaseImageError | None, record: Record | None
) -> dict[str, Any]:
    """Where the cell's python3 came from, and what its ssl and libc are: all three change what pip
    does."""
    facts: dict[str, Any] = {
        "wanted": plan.interpreter.version or "system",
        "image": plan.base_image,
    }
    if isinstance(provisioned, Provisioned):
        facts |= {"provider": provisioned.how, "detail": provisioned.detail}
    runtime = record.runtime if record else None
    return facts | (runtime.facts() if runtime else {})


_FETCHED = re.compile(r"(?:Downloading|Using cached) (\S+\.whl)\b")


def _origin(plan: CellPlan, record: Record | None) -> list[str]:
    """Which extra index served the target's file, where the matrix names extra indexes (pip's
    Downloading line gives a file's whole URL wherever it is not the public index's files host;
    a resolution's report gives each file's URL)."""
    extra = extra_index_urls(plan.target)
    if not extra or record is None:
        return []
    urls = [d.url for d in record.resolution.install or ()] if record.resolution else []
    output = record.upgrade.output if record.upgrade else ""
    urls += [m.group(1) for m in _FETCHED.finditer(output)]
    itself = canonicalize_name(plan.target.name)
    for url in urls:
        file = url.rsplit("/", 1)[-1]
        if canonicalize_name(file.split("-", 1)[0]) != itself:
            continue
        for index in extra:
            if url.startswith(index.rstrip("/").removesuffix("/simple") + "/"):
                return [f"{file} came from the extra index {index} (target.extra_index)"]
    return []


def _environment_lines(plan: CellPlan, verdict: Verdict) -> list[str]:
    """A reporter's environment that could not be set up: which of its lines the installer
    named, and where they were written."""
    if verdict.outcome is not Outcome.SETUP_FAILED:
        return []
    named = plan.conflicts.written_at("\n".join(verdict.evidence))
    return [f"environment {plan.conflicts.name}: {', '.join(named)}"] if named else []
