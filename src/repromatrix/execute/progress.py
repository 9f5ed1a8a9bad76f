"""Live progress for long runs: cells done/total, which cells run now, elapsed time.

On a terminal it is a live bar; in CI logs (no terminal) each finished cell is one line. It shows
the result the pipeline classified once (and already put in the journal); it classifies nothing.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ..core.outcomes import OUTCOME_INFO
from ..core.result import CellResult
from .runner import CellJob, CellRun


class RunProgress:
    def __init__(self, console: Console, todo: int, already_done: int = 0) -> None:
        self.console, self.total = console, todo + already_done
        self.running: list[str] = []
        self.lock = threading.Lock()  # several engines' schedulers report here at once
        self.done = already_done  # on --resume, the cells the run had finished before
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("", total=self.total, completed=already_done)

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def started(self, job: CellJob) -> None:
        with self.lock:
            self.running.append(job.plan.cell.id)
            self._describe()

    def finished(self, run: CellRun, result: CellResult) -> None:
        with self.lock:
            self._finished(run, result)

    def _finished(self, run: CellRun, result: CellResult) -> None:
        if result.id in self.running:
            self.running.remove(result.id)
        self.done += 1
        colour = OUTCOME_INFO[result.outcome].colour
        times = ", ".join(f"{k} {v:.0f}s" for k, v in run.durations.items())
        setup = f"setup {result.setup}" if result.setup else ""
        where = f"on {result.host}" if result.host and result.host != "default" else ""
        detail = "; ".join(x for x in (times, setup, result.remedies_said, where) if x)
        self.console.print(
            f"[{self.done}/{self.total}] {result.id}: [bold {colour}]{result.outcome}[/]"
            + (f" ({detail})" if detail else ""),
            highlight=False,
        )
        self.bar.advance(self.task)
        self._describe()

    def _describe(self) -> None:
        self.bar.update(
            self.task, description="running: " + ", ".join(self.running) if self.running else ""
        )
