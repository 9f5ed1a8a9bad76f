"""Expectations and history: is a cell unexpected, and how does it compare with earlier runs?

A cell *fails* when it is unexpected: its outcome is not one the matrix expects, or, with no
expectation, anything but `upgraded`. Against earlier runs of the same matrix each cell gets a
trend: new-failure, fixed, still-failing, passing, flaky (its pass/fail flipped at least twice
within the last FLAKY_WINDOW runs) or no-history.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..core.errors import UsageError
from ..core.outcomes import Outcome
from ..core.result import RunResult
from .diff import versions_between
from .results import load_run

FLAKY_WINDOW = 5


UNDECIDED = frozenset({Outcome.INTERRUPTED, Outcome.NEEDS_INSTALL})


def trend(current: bool, previous: list[bool | None]) -> str:
    """current: does the cell fail now; previous: oldest → newest, None where it was absent."""
    known = [p for p in previous if p is not None]
    if not known:
        return "no-history"
    window = (known + [current])[-FLAKY_WINDOW:]
    flips = sum(a != b for a, b in zip(window, window[1:], strict=False))
    if flips >= 2:
        return "flaky"
    before = known[-1]
    if current:
        return "still-failing" if before else "new-failure"
    return "fixed" if before else "passing"


def earlier_runs(reports: Path, run: RunResult) -> list[RunResult]:
    """Earlier runs of the same matrix under reports/, oldest first (run ids sort by time)."""
    runs = []
    for path in sorted(reports.glob("*/results.json")):
        if path.parent.is_symlink() or path.parent.name >= run.run_id:
            continue
        try:
            other = load_run(path.parent)
        except UsageError:
            continue  # an unreadable or older-schema run is no history
        if other.matrix == run.matrix:
            runs.append(other)
    return runs[-FLAKY_WINDOW:]


def resolve_baseline(reports: Path, baseline: str) -> RunResult:
    """--baseline: a run directory, or a run id under reports/."""
    path = Path(baseline)
    return load_run(path if path.exists() else reports / baseline)


def mark_history(run: RunResult, history: list[RunResult]) -> None:
    """Set each cell's trend and previous outcome against `history` (oldest first)."""
    run.baseline = history[-1].run_id if history else None
    # A cell an earlier run never finished (interrupted, or cut off by a lost engine), or left to
    # the install (--triage), is no history.
    by_run = [
        {c.id: c for c in h.cells if not c.rerun and c.outcome not in UNDECIDED} for h in history
    ]
    for cell in run.cells:
        past = [cells.get(cell.id) for cells in by_run]
        if cell.outcome is Outcome.NEEDS_INSTALL:  # nothing to compare yet: neither fixed nor not
            cell.trend = "no-history"
            continue
        cell.trend = trend(cell.unexpected, [p.unexpected if p else None for p in past])
        baseline = next((p for p in reversed(past) if p), None)  # the last run that decided it
        cell.previous_outcome = baseline.outcome if baseline else None
        if baseline and baseline.outcome is not cell.outcome:
            # what resolved otherwise: the first question after a red night
            moved = versions_between(baseline, cell)
            cell.since_baseline = {dist: list(pair) for dist, pair in moved.items()}


def past_seconds(runs: Iterable[RunResult], remedies_on: bool = True) -> dict[str, float]:
    """Each cell's machine time in the latest run (oldest first in `runs`) that finished it (without
    its remedy attempts' when remedies are off now)."""
    out: dict[str, float] = {}
    for run in runs:
        for cell in run.cells:
            if cell.rerun or cell.outcome in (Outcome.INTERRUPTED, Outcome.INFRA_ERROR):
                continue  # a cell the run never finished says nothing about its cost
            tried = sum(a.seconds for a in cell.attempts) if remedies_on else 0.0
            spent = sum(cell.durations.values()) + tried
            if spent > 0:
                out[cell.id] = spent
    return out
