"""The pipeline, stage by stage: load and expand the matrix (config/) → plan and render each cell
(plan/) → provision images and run the cells on the engines (infra/, execute/) → classify them and
try their remedies (judge/) → store results and render reports (results/). Each stage lives in its
own package; `run` only calls them in order and owns the run's resources.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from ..infra.downloadcache import run_counts
from ..plan.plan import plan_cell
from ..plan.render import render_cell
from ..results.formats import write_all
from ..results.history import earlier_runs, mark_history, resolve_baseline
from ..results.results import RunResult, cells_said, now_iso, point_latest
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


def run(options: RunOptions, console: Console) -> RunResult:
    """The pipeline, one call a stage; the run's resources are held only in here."""
    prepared = prepare(options)  # 1-2: the matrix and its cells; a new run, or a stopped one
    hosts = connect(prepared, options, console)  # no engine: exit 3 before a run directory exists
    with prepared.journal.lock(prepared.header.run_id):  # never a run live elsewhere
        trust = trust_for(prepared, options.download_cache, options.triage)  # what plans need
        plans = [plan_cell(cell, trust.ctx) for cell in prepared.todo]  # 3: one typed plan a cell
        begin(prepared, hosts, options, trust, console)
        console.print(announcement(prepared, options, trust, len(plans), len(hosts)))
        stopped = execute(prepared, options, trust, plans, hosts, console)  # 4-5, on every engine
        result = prepared.journal.result(finished=now_iso(), stopped=stopped)
        if counted := run_counts(prepared.run_dir):  # what the download cache counted
            result.download_cache = counted.to_json()
        store(result, options, prepared.run_dir)  # 6: history, every report format, reports/latest
    return result


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
