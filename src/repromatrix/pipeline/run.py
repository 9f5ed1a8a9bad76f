"""The pipeline as a tuple of stages (`STAGES`), nox's workflow: 1-2 load and expand the matrix
(config/) → 3 plan and render each cell (plan/) → 4 run the cells in containers on the engines
(execute/, on infra/) → 5 judge each cell as it finishes: its verdict, its remedies, its typed
result (judge/) → 6 store, compare and report (results/). Each stage lives in its own package;
`run` calls them in order and holds the run's resources.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console

from ..core.result import RunResult, cells_said
from ..infra.downloadcache import run_counts
from ..plan.plan import CellPlan, plan_cell
from ..plan.render import render_cell
from ..results.formats import write_all
from ..results.history import earlier_runs, mark_history, resolve_baseline
from ..results.results import now_iso, point_latest
from .hosts import Host, connect, execute
from .prepare import Prepared, RunOptions, load_cells, prepare, resolve_as_of
from .trust import Trust, needs_of, render_context, run_ca_for, trust_for, wanted_host_ca


def render_only(matrix_path: Path, out: Path, guard: bool = True) -> list[Path]:
    """`repromatrix render`: the build contexts alone, no Docker needed; more than
    settings.max_cells only with `guard` off (`--yes`)."""
    matrix, cells = load_cells(matrix_path, guard=1 if guard else None, doing="render")
    matrix = resolve_as_of(matrix, matrix.target.as_of, now_iso())  # 'P1D': a day before now
    ctx = render_context(
        matrix, cells, wanted_host_ca(needs_of(matrix, cells)), run_ca_for(matrix, "render")
    )
    return [render_cell(plan_cell(cell, ctx), ctx, out) for cell in cells]


@dataclass
class Run:
    """What the stages hand on: the run's options, then what each stage made. A field is set by
    the stage that makes it (reading it earlier is an AttributeError, not a None)."""

    options: RunOptions
    console: Console
    held: contextlib.ExitStack  # what the run holds until it ends (its live lock)
    prepared: Prepared = field(init=False)
    hosts: list[Host] = field(init=False)
    trust: Trust = field(init=False)
    plans: list[CellPlan] = field(init=False)
    stopped: str = field(init=False)  # why the run stopped early, "" if it did not
    result: RunResult = field(init=False)


Stage = Callable[[Run], None]


def load(run: Run) -> None:
    """1-2: the matrix read and its cells expanded and selected; a new run, or a stopped one."""
    run.prepared = prepare(run.options)


def engines(run: Run) -> None:
    """The engines answer now: without one, exit 3 before a run directory exists; then the
    run's live lock (never a run live elsewhere)."""
    run.hosts = connect(run.prepared, run.options, run.console)
    run.held.enter_context(run.prepared.journal.lock(run.prepared.header.run_id))


def plan(run: Run) -> None:
    """3: what the plans need trusted (CAs, credentials), then one typed plan a cell."""
    run.trust = trust_for(run.prepared, run.options.download_cache, run.options.triage)
    run.plans = [plan_cell(cell, run.trust.ctx) for cell in run.prepared.todo]


def start(run: Run) -> None:
    """The run's journal opened (or a stopped run's leftovers removed), and the run announced."""
    begin(run.prepared, run.hosts, run.options, run.trust, run.console)
    said = announcement(run.prepared, run.options, run.trust, len(run.plans), len(run.hosts))
    run.console.print(said)


def execute_and_judge(run: Run) -> None:
    """4-5: every plan in fresh containers on the engines; each cell judged as it finishes
    (judge/judging.py: its verdict, the remedies tried on it, its typed result, journalled)."""
    run.stopped = execute(run.prepared, run.options, run.trust, run.plans, run.hosts, run.console)


def collect(run: Run) -> None:
    """The journal's cells as the run's result, with what the download cache counted."""
    run.result = run.prepared.journal.result(finished=now_iso(), stopped=run.stopped)
    if counted := run_counts(run.prepared.run_dir):
        run.result.download_cache = counted.to_json()


def report(run: Run) -> None:
    """6: history, every report format, reports/latest."""
    store(run.result, run.options, run.prepared.run_dir)


# The pipeline: each stage in turn, each given what the ones before it made.
STAGES: tuple[Stage, ...] = (load, engines, plan, start, execute_and_judge, collect, report)
# The one numbering of the stages, by the package that holds each (docstrings use it): infra/ is
# what stage 4 runs on; intake/, a report read into a matrix (`init`), comes before any run.
STAGE_NUMBERS = {
    "config": "1-2",
    "plan": "3",
    "execute": "4",
    "judge": "5",
    "results": "6",
}


def run(options: RunOptions, console: Console) -> RunResult:
    """The pipeline, one call a stage; the run's resources are held only in here."""
    with contextlib.ExitStack() as held:
        state = Run(options, console, held)
        for stage in STAGES:
            stage(state)
    return state.result


def begin(
    prepared: Prepared, hosts: list[Host], options: RunOptions, trust: Trust, console: Console
) -> None:
    """A new run's journal opened; or what a stopped run left on its engines removed, if the
    run directory proves those objects its own."""
    if not options.resume:
        host_ca = trust.host_ca.source if trust.host_ca else None
        prepared.journal.start(replace(prepared.header, host_ca=host_ca))
        prepared.journal.claim(prepared.owner)
        return
    if not prepared.owner_proven:
        prepared.journal.claim(prepared.owner)  # from now on, what this process makes is its own
        console.print(
            f"{prepared.run_dir}: no owner token (.owner): a run made before repromatrix had "
            "them, or a copy; what its stopped process left in Docker, if anything, is left "
            f"alone ('repromatrix clean --run {prepared.header.run_id}' removes it)"
        )
    for host in hosts if prepared.owner_proven else []:
        # the stopped process's containers and networks (by the token's label), before again
        host.engine.cleanup()
    (prepared.run_dir / "results.json").unlink(
        missing_ok=True
    )  # the journal is the truth until the end


def announcement(
    prepared: Prepared, options: RunOptions, trust: Trust, planned: int, engines: int
) -> str:
    run_id = prepared.header.run_id
    if options.remedy_cell:
        said = (
            f"run [bold]{run_id}[/bold]: rebuilding cell {options.remedy_cell} from its build "
            "context to try its remedies"
        )
    elif options.resume:
        left = f"{planned} of {cells_said(len(prepared.cells))} left"
        said = f"resuming run [bold]{run_id}[/bold]: {left}"
    else:
        said = f"run [bold]{run_id}[/bold]: {cells_said(planned)} from {prepared.matrix.path}"
    if engines > 1:
        said += f" over {engines} Docker hosts"
    if options.triage:
        said += "; --triage: each cell only resolves (its installer's dry run), nothing installed"
    if trust.host_ca:
        said += f"; trusting the host's CA bundle ({trust.host_ca.source})"
    return said


def store(result: RunResult, options: RunOptions, run_dir: Path) -> None:
    """Compare with history, write every report format, then point reports/latest here (when
    the run is under the output directory)."""
    history = (
        [resolve_baseline(options.out, options.baseline)]
        if options.baseline
        else earlier_runs(options.out, result)
    )
    mark_history(result, history)
    write_all(result, run_dir)
    # `latest` names a run beside it: a run resumed from elsewhere (an attached one) is not
    # under the output directory, and nothing is written outside its own directory for it.
    if run_dir.resolve().parent == options.out.resolve():
        point_latest(options.out, run_dir)
