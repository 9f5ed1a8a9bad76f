"""Stage 5 for one cell, in one place: when its container is done, its verdict (once: it stays
with the cell) and the remedies to try on it; when its attempts are done too, each attempt's
verdict, why no wheel fitted, and the fix to recommend, written down as the cell's typed result
(record.py). The scheduler calls `attempts_for` (the execute stage's `Remedies`) and, once the
cell's attempts are done, `result`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BaseImageError
from ..core.model import Selection
from ..core.result import CellResult
from ..execute.runner import AttemptJob, AttemptRun, CellRun
from ..infra.baseimages import Provisioned
from ..installers.remedy import Resource
from .classify import classify
from .index import Releases
from .record import Judged, JudgedAttempt, python_of, to_cell_result
from .remedies import facts_for, plan_attempts, recommended
from .wheelmatch import why_no_wheel


@dataclass(frozen=True)
class CellJudge:
    """One run's judge on one engine: what the index offers (`releases` as the run's target
    asks, `everything` it lists), which remedies the run may try and what they may use."""

    selection: Selection
    releases: Releases | None
    everything: Releases | None
    default_index: str  # the index a cell uses when its plan names none
    resources: frozenset[Resource]
    run_dir: Path
    ready: Mapping[str, Provisioned | BaseImageError]  # the cells' base images, or why not
    file_hosts: tuple[str, ...] = ()  # where the index's files live (for --trusted-host)

    def attempts_for(self, run: CellRun) -> list[AttemptJob]:
        """A finished cell's verdict, decided now and kept with it; the remedies to try on it."""
        plan = run.job.plan
        run.verdict = classify(run.observation, self.releases, plan.installer)
        if not self.selection.on or plan.resolved_only:
            return []  # no fix can be tried on a platform that does not run here
        if plan.triage:
            return []  # --triage installs nothing: a fix is tried on an install
        facts = facts_for(
            plan,
            run.observation.record,
            run.verdict.facts.get("newest_for_python"),
            plan.index_url or self.default_index,
            self.resources,
            "\n".join(run.verdict.evidence),
            self.file_hosts,
        )
        attempts = plan_attempts(run.verdict.outcome, facts, self.selection, plan.installer)
        return [AttemptJob(run, attempt) for attempt in attempts]

    def judged(self, run: CellRun, python: str) -> Judged:
        """A cell whose attempts are done too: every verdict, and the fix to recommend. `python`
        is the cell's Python (as recorded, else as planned)."""
        plan, record = run.job.plan, run.observation.record
        verdict = run.verdict or classify(run.observation, self.releases, plan.installer)
        attempts = tuple(self._attempt(a) for a in self._in_order(run))
        tried = ((a.attempt.job.plan.remedy.name, a.fix, a.after) for a in attempts)
        below_newest = bool(verdict.facts.get("below_newest"))
        outcome = verdict.outcome.value
        return Judged(
            verdict=verdict,
            attempts=attempts,
            fix=recommended(tried, plan.installer),
            why_no_wheel=why_no_wheel(
                outcome, below_newest, plan.prior, python, record, self.releases, self.everything
            ),
        )

    def result(self, run: CellRun) -> CellResult:
        """The cell judged (`judged`) and written down as results.json's cell."""
        judged = self.judged(run, python_of(run.job.plan, run.observation.record))
        return to_cell_result(run, judged, self.run_dir, self.ready)

    def _attempt(self, attempt: AttemptRun) -> JudgedAttempt:
        """One remedy attempt, judged by the same classifier as the cells."""
        installer = attempt.job.cell.job.plan.installer
        return JudgedAttempt(attempt, classify(attempt.observation, self.releases, installer))

    @staticmethod
    def _in_order(run: CellRun) -> Iterable[AttemptRun]:
        order = [r.name for r in run.job.plan.installer.remedies]
        return sorted(run.attempts, key=lambda a: order.index(a.job.plan.remedy.name))
