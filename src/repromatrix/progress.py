"""Live progress for long runs: cells done/total, which cells run now, elapsed time.

On a terminal it is a live bar; in CI logs (no terminal) each finished cell is one line.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .classify import classify
from .outcomes import OUTCOME_INFO
from .runner import CellJob, CellRun


class RunProgress:
    def __init__(self, console: Console, total: int) -> None:
        self.console, self.total = console, total
        self.running: list[str] = []
        self.done = 0
        self.bar = Progress(SpinnerColumn(), TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("{task.description}"), console=console,
                            transient=True)
        self.task = self.bar.add_task("", total=total)

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.bar.stop()

    def started(self, job: CellJob) -> None:
        self.running.append(job.plan.cell.id)
        self._describe()

    def finished(self, run: CellRun) -> None:
        cell_id = run.job.plan.cell.id
        self.running.remove(cell_id)
        self.done += 1
        verdict = classify(run.observation)
        colour = OUTCOME_INFO[verdict.outcome].colour
        times = ", ".join(f"{k} {v:.0f}s" for k, v in run.durations.items())
        self.console.print(f"[{self.done}/{self.total}] {cell_id}: [bold {colour}]{verdict.outcome}[/]"
                           + (f" ({times})" if times else ""))
        self.bar.advance(self.task)
        self._describe()

    def _describe(self) -> None:
        self.bar.update(self.task, description="running: " + ", ".join(self.running) if self.running else "")
