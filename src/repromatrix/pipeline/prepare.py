"""Stages 1-2 for a run: the matrix loaded and its cells selected, and the run decided: a new
run, the stopped run `--resume` finishes, or the stored cell `remedy` tries its fixes on.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from .. import __version__
from ..config.cost import estimate, machine_time, seconds_by_cell
from ..config.expand import count_selected, iter_cells
from ..config.matrix import load_matrix
from ..config.shard import Shard, ShardSpec, from_plan, split
from ..core import asof
from ..core.errors import UsageError, did_you_mean
from ..core.model import CacheMode, Cell, DownloadCacheMode, Matrix, Selection
from ..core.outcomes import Outcome
from ..core.result import RunResult
from ..results.history import earlier_runs, past_seconds, resolve_baseline
from ..results.journal import Journal, RunHeader, matrix_hash, new_owner
from ..results.results import new_run_id, now_iso


@dataclass(frozen=True)
class RunOptions:
    matrix: Path
    only: tuple[str, ...] = ()
    keyword: str | None = None
    out: Path = Path("reports")
    max_parallel: int | None = None
    baseline: str | None = None  # a run id or directory to compare with; default: the previous run
    resume: str | None = None  # a run id under `out`, or a run directory, to finish
    cache: CacheMode | None = None  # None: the matrix's settings.cache
    # --matrix was on the command line (with --resume: where the matrix is now)
    matrix_given: bool = False
    remedies: Selection | None = None  # None: the matrix's `remedies:`
    # `repromatrix remedy RUN CELL`: try the remedies on this stored cell
    remedy_cell: str | None = None
    shard: ShardSpec | None = None  # --shard I/N: only this share of the selected cells
    # --shard-plan FILE: the shares as `list --json --shards N` fixed them
    shard_plan: Path | None = None
    yes: bool = False  # --yes: run a selection larger than settings.max_cells
    hosts: tuple[str, ...] = ()  # --docker-host URLs; () = settings.hosts, else the default engine
    as_of: str | None = None  # --as-of TIME (checked); None: the matrix's target.as_of
    setup_as_of: str | None = None  # bisect's --good (resolved): the time every setup sees
    download_cache: DownloadCacheMode | None = None  # None: the matrix's settings.download_cache
    # --triage: every cell that runs here only resolved, by its installer's dry run; those that
    # need the install are left to `--resume`
    triage: bool = False


@dataclass(frozen=True)
class Prepared:
    """A run decided: which cells, where, and with what."""

    matrix: Matrix
    cells: list[Cell]
    run_dir: Path
    journal: Journal
    header: RunHeader
    todo: list[Cell]  # the cells to run now (all of them, or on --resume those without a result)
    owner: str  # the run's token; its digest labels every Docker object the run creates
    # the run directory proved the token was there before (a new run's own, or its .owner):
    # only then may what a stopped process left in Docker be removed
    owner_proven: bool = True


def load_cells(
    matrix_path: Path,
    only: tuple[str, ...] = (),
    keyword: str | None = None,
    *,
    guard: int | None = None,
    remedies: Selection | None = None,
    doing: str = "run",
) -> tuple[Matrix, list[Cell]]:
    """The matrix and its selected cells. `guard`: refuse more than settings.max_cells cells per
    `guard` shards before any cell is planned or held (a million-cell matrix is refused in
    seconds)."""
    matrix = load_matrix(matrix_path)
    on = (remedies or matrix.remedies).on
    if guard:  # counted without making the cells: nothing is held before it is allowed
        count = count_selected(matrix, only, keyword)
        _refuse_oversize(matrix, count, guard, on, iter_cells(matrix, only, keyword), doing)
    cells = list(iter_cells(matrix, only, keyword))
    if not cells:
        raise _nothing_selected(matrix_path, only, keyword)
    return matrix, cells


def stream_cells(
    matrix_path: Path,
    only: tuple[str, ...] = (),
    keyword: str | None = None,
    *,
    guard: bool = True,
    doing: str = "list",
) -> tuple[Matrix, Iterator[Cell]]:
    """The matrix and its selected cells one at a time (`list` of a million cells holds none of
    them); the error for an empty selection comes before the first cell would. `guard`: refuse
    more than settings.max_cells first (`--yes` lifts it), counted without making the cells."""
    matrix = load_matrix(matrix_path)
    if guard:
        count = count_selected(matrix, only, keyword)
        _refuse_oversize(matrix, count, 1, False, iter_cells(matrix, only, keyword), doing)
    cells = iter_cells(matrix, only, keyword)
    first = next(cells, None)
    if first is None:
        raise _nothing_selected(matrix_path, only, keyword)
    return matrix, itertools.chain([first], cells)


def _nothing_selected(matrix_path: Path, only: tuple[str, ...], keyword: str | None) -> UsageError:
    return UsageError(
        f"{matrix_path}: no cell matches the selection (--only {list(only)}, "
        f"-k {keyword!r})\n  hint: 'repromatrix list' shows the cell ids"
    )


def _refuse_oversize(
    matrix: Matrix,
    count: int,
    shards: int,
    remedies_on: bool,
    cells: Iterator[Cell],
    doing: str = "run",
) -> None:
    """settings.max_cells per shard, with what the selection would cost (from a sample of its
    cells)."""
    limit = matrix.settings.max_cells * shards
    if count <= limit:
        return
    sample = list(itertools.islice(cells, 2000))
    seconds = (
        count
        * sum(estimate(c, matrix.target.index.local, remedies_on) for c in sample)
        / max(1, len(sample))
    )
    per = f" ({count / shards:,.0f} per shard)" if shards > 1 else ""
    raise UsageError(
        f"{matrix.path}: settings.max_cells: the selection has {count:,} cells{per}, more than "
        f"{matrix.settings.max_cells:,}: {machine_time(seconds)} of work\n  hint: narrow it "
        f"(-k, --only), split it over machines (--shard I/N), raise settings.max_cells, or pass "
        f"--yes to {doing} it anyway"
    )


def shards_of(
    matrix: Matrix, cells: list[Cell], count: int, reports: Path, remedies: Selection | None = None
) -> list[Shard]:
    """The selection in `count` shards, balanced by each cell's time in the latest earlier run of
    this matrix under `reports` (estimated from its axes where there is none)."""
    return split(cells, expected_seconds(matrix, cells, reports, remedies), count)


def expected_seconds(
    matrix: Matrix, cells: list[Cell], reports: Path, remedies: Selection | None = None
) -> dict[str, float]:
    """Each cell's time: from the latest earlier run of this matrix under `reports` that ran
    it, else estimated from its axes. What shards are balanced by, and engines ordered by."""
    probe = RunResult(
        run_id="~", matrix=str(matrix.path), target={}, started=""
    )  # after every real run id
    on = (remedies or matrix.remedies).on
    past = past_seconds(earlier_runs(reports, probe), on)
    return seconds_by_cell(cells, matrix.target.index.local, on, past)


def prepare(options: RunOptions) -> Prepared:
    """Stages 1-2: load and expand the matrix; a new run, or the one --resume names."""
    if options.baseline:
        resolve_baseline(options.out, options.baseline)  # a wrong --baseline fails before any work
    if options.remedy_cell:
        return _prepare_remedy(options)
    if options.resume:
        return _prepare_resume(options)
    shards = options.shard.count if options.shard else 1
    matrix, selection = load_cells(
        options.matrix,
        options.only,
        options.keyword,
        guard=None if options.yes else shards,
        remedies=options.remedies,
    )
    cells = _shard_cells(options, matrix, selection) if options.shard else selection
    started = now_iso()
    matrix = resolve_as_of(matrix, options.as_of or matrix.target.as_of, started)
    matrix = with_setup_as_of(matrix, options.setup_as_of)
    run_id = new_run_id()
    run_dir = options.out / run_id
    header = RunHeader(
        run_id=run_id,
        matrix=str(matrix.path),
        matrix_sha256=matrix_hash(Path(matrix.path)),
        cells=[c.id for c in cells],
        started=started,
        target=_target_json(matrix),
        only=list(options.only),
        keyword=options.keyword,
        tool_version=__version__,
        matrix_file=str(Path(matrix.path).resolve()),
        shard=str(options.shard or ""),
        selection=[c.id for c in selection] if options.shard else [],
    )
    return Prepared(matrix, cells, run_dir, Journal(run_dir), header, cells, new_owner())


def _shard_cells(options: RunOptions, matrix: Matrix, selection: list[Cell]) -> list[Cell]:
    assert options.shard
    if options.shard_plan:
        return list(from_plan(options.shard_plan, options.shard, selection))
    shard = shards_of(matrix, selection, options.shard.count, options.out, options.remedies)[
        options.shard.index - 1
    ]
    if not shard.cells:
        raise UsageError(
            f"--shard {options.shard}: this shard has no cells: the selection has only "
            f"{len(selection)}\n  hint: use fewer shards"
        )
    return list(shard.cells)


def _stored_run(
    options: RunOptions, ref: str, said: str
) -> tuple[Path, Journal, RunHeader, Matrix, list[Cell]]:
    """A run directory to continue: its journal, and the same matrix (checked by its hash) and
    cells."""
    run_dir = Path(ref) if Path(ref).is_dir() else options.out / ref
    journal = Journal(run_dir)
    if not journal.header_path.is_file():
        raise UsageError(
            f"{said} {ref}: {run_dir} is not a run directory with a run.json\n"
            f"  hint: name a run id under {options.out}/ or a run directory"
        )
    header = journal.header()
    # Where the matrix was (resume from any directory), or where --matrix says it is now.
    path = options.matrix if options.matrix_given else Path(header.matrix_file or header.matrix)
    if not path.is_file() or matrix_hash(path) != header.matrix_sha256:
        raise UsageError(
            f"{said} {header.run_id}: the matrix {path} is gone or has changed since the run "
            "started (its sha256 differs)\n  hint: --matrix names where the run's matrix is now; "
            "it must be the same file"
        )
    matrix, cells = load_cells(path, tuple(header.only), header.keyword)
    # The time the run resolved its as-of to when it started ('P1D' is a day before that)
    matrix = replace(matrix, target=replace(matrix.target, as_of=header.target.get("as_of", "")))
    matrix = with_setup_as_of(matrix, header.target.get("setup_as_of"))
    if header.shard:  # a shard's run: its own cells, out of the same selection
        if [c.id for c in cells] != header.selection:
            raise UsageError(
                f"{said} {header.run_id}: the selection now gives other cells than the run had"
            )
        mine = set(header.cells)
        cells = [c for c in cells if c.id in mine]
    if [c.id for c in cells] != header.cells:
        raise UsageError(
            f"{said} {header.run_id}: the selection now gives other cells than the run had"
        )
    return run_dir, journal, header, matrix, cells


def _prepare_remedy(options: RunOptions) -> Prepared:
    """`remedy RUN CELL`: the stored cell, rebuilt from its build context, and its remedies."""
    assert options.remedy_cell and options.resume
    run_dir, journal, header, matrix, cells = _stored_run(options, options.resume, "remedy")
    wanted = [c for c in cells if c.id == options.remedy_cell]
    if not wanted:
        raise UsageError(
            f"remedy: run {header.run_id} has no cell {options.remedy_cell!r}\n  hint: "
            + did_you_mean(options.remedy_cell, [c.id for c in cells])
        )
    if options.remedy_cell not in journal.finished():
        raise UsageError(
            f"remedy: cell {options.remedy_cell} of run {header.run_id} has no result yet\n"
            f"  hint: 'repromatrix run --resume {header.run_id}' finishes the run first"
        )
    return Prepared(matrix, cells, run_dir, journal, header, wanted, *_ownership(journal))


def _prepare_resume(options: RunOptions) -> Prepared:
    """--resume RUN: the same matrix (checked by its hash) and selection; only the unfinished
    cells."""
    assert options.resume
    run_dir, journal, header, matrix, cells = _stored_run(options, options.resume, "--resume")
    # A cell that ended in our own failure (infra-error) or was interrupted taught nothing about
    # pip: it is run again, like the cells the stopped run never reached; and the cells --triage
    # left to the install are installed.
    retry = {Outcome.INFRA_ERROR, Outcome.INTERRUPTED, Outcome.NEEDS_INSTALL}
    done = {
        cid
        for cid, cell in journal.finished().items()
        if not cell.rerun and cell.outcome not in retry
    }
    todo = [c for c in cells if c.id not in done]
    return Prepared(matrix, cells, run_dir, journal, header, todo, *_ownership(journal))


def _ownership(journal: Journal) -> tuple[str, bool]:
    """The stored run's token, and whether it had one: a directory without it (made before
    tokens, or copied without its .owner) gets a new one, and proves nothing left in Docker."""
    token = journal.owner()
    return (token, True) if token else (new_owner(), False)


def resolve_as_of(matrix: Matrix, text: str, started: str) -> Matrix:
    """The matrix with its as-of resolved, once, against the run's start: what every cell and
    the report use, and what --resume takes from run.json."""
    if not text:
        return replace(matrix, target=replace(matrix.target, as_of=""))
    resolved = asof.resolve(text, datetime.datetime.fromisoformat(started))
    return replace(matrix, target=replace(matrix.target, as_of=resolved))


def with_setup_as_of(matrix: Matrix, resolved: str | None) -> Matrix:
    """The matrix whose cells build their setup as of `resolved` (a UTC time), where that is not
    the time their upgrade sees: it takes only with an as-of time, and must not be after it."""
    upgrade = matrix.target.as_of
    if not resolved or not upgrade or resolved == upgrade:
        return matrix
    try:
        later = asof.parsed(resolved) > asof.parsed(upgrade)
    except ValueError:
        raise UsageError(f"the setup's as-of time {resolved!r} is not a UTC time") from None
    if later:
        raise UsageError(f"the setup as of {resolved} would come after the upgrade's {upgrade}")
    return replace(matrix, target=replace(matrix.target, setup_as_of=resolved))


def _target_json(matrix: Matrix) -> dict[str, str]:
    t = matrix.target
    out = {
        "package": t.package,
        "version": t.version,
        "index": str(t.index),
    }  # never the credentials
    if t.pre:
        out["pre"] = "true"
    if t.imports:
        out["imports"] = " ".join(t.imports)
    if t.as_of:
        out["as_of"] = t.as_of
    if t.setup_as_of:
        out["setup_as_of"] = t.setup_as_of
    return out
