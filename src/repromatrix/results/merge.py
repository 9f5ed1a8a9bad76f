"""`repromatrix merge RUN... --out DIR`: the runs of one matrix's shards, joined into one run.

The shards' runs may come from other machines (CI artifacts): each is read like any attached run
(validated, never through a symlink). They must be runs of the same matrix (by its sha256) and
selection, and together hold every selected cell exactly once. The merged run is an ordinary run
directory under DIR: its journal, the four reports, history against earlier runs there, and each
cell's build context and logs copied from its shard. A merge of shards equals the single-host
run of the same matrix except for timings.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import UsageError
from ..core.files import copy_regular
from ..core.model import cell_name
from ..core.result import CellResult, RunResult
from .formats import write_all
from .history import earlier_runs, mark_history
from .journal import Journal, RunHeader, load_any
from .results import new_run_id, now_iso, point_latest

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")  # what cell_id() makes; a directory name


@dataclass(frozen=True)
class ShardRun:
    """One run to merge: where it is, what it set out to do, what it holds."""

    run_dir: Path
    header: RunHeader
    result: RunResult

    @property
    def selection(self) -> list[str]:
        """Every cell of the matrix's selection (a plain run's selection is its own cells)."""
        return self.header.selection or self.header.cells

    @property
    def said(self) -> str:
        return f"{self.run_dir} (run {self.header.run_id}" + (
            f", shard {self.header.shard})" if self.header.shard else ")"
        )


def merge(run_dirs: Sequence[Path], out: Path) -> tuple[RunResult, Path]:
    """Join the shards' runs into a new run under `out`; returns it and its directory."""
    shards = [_read(d) for d in run_dirs]
    _same_matrix(shards)
    owners = _owners(shards)
    run_id = new_run_id()
    run_dir = out / run_id
    first = shards[0]
    header = replace(
        first.header,
        run_id=run_id,
        cells=first.selection,
        shard="",
        selection=[],
        started=min(s.header.started for s in shards),
    )
    journal = Journal(run_dir)
    try:
        journal.start(header)
        for cell_id in header.cells:
            shard = owners[cell_id]
            _copy_cell(shard.run_dir, run_dir, cell_id)
            journal.record(_cell(shard.result, cell_id))
        result = journal.result(
            finished=max((s.result.finished for s in shards), default="") or now_iso(),
            stopped=next((s.result.stopped for s in shards if s.result.stopped), ""),
        )
        result.merged_from = [s.header.run_id for s in shards]
        mark_history(result, earlier_runs(out, result))
        write_all(result, run_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-merged is left behind
        raise
    point_latest(out, run_dir)
    return result, run_dir


def _read(named: Path) -> ShardRun:
    if not named.is_dir():
        raise UsageError(
            f"merge: {named}: not a run directory\n"
            "  hint: name the shards' run directories, e.g. reports/<run-id> or reports/latest"
        )
    run_dir = named.resolve()  # reports/latest names one; inside it, nothing is read through a link
    journal = Journal(run_dir)
    if not journal.header_path.is_file():
        raise UsageError(
            f"merge: {run_dir}: no run.json; only runs made by this repromatrix can be merged"
        )
    return ShardRun(run_dir, journal.header(), load_any(run_dir))


def _same_matrix(shards: list[ShardRun]) -> None:
    first = shards[0]
    for other in shards[1:]:
        if other.header.matrix_sha256 != first.header.matrix_sha256:
            raise UsageError(
                f"merge: {other.said} ran another matrix than {first.said} (their matrix sha256 "
                "differ)\n  hint: merge only the shards of one run of one matrix file"
            )
        if other.selection != first.selection:
            raise UsageError(
                f"merge: {other.said} selected other cells (-k, --only) than {first.said}"
            )
        if other.header.run_id == first.header.run_id:
            raise UsageError(f"merge: {other.said} is named twice")


def _owners(shards: list[ShardRun]) -> dict[str, ShardRun]:
    """Which shard ran each selected cell; a cell in two shards, or in none, is an error naming
    it."""
    owners: dict[str, ShardRun] = {}
    wanted = set(shards[0].selection)
    for shard in shards:
        for cell in shard.result.cells:
            if not SAFE_ID.fullmatch(cell.id) or cell.id not in wanted:
                raise UsageError(
                    f"merge: {shard.said} has a cell {cell.id[:80]!r} that the matrix's selection "
                    "does not have"
                )
            if cell.id in owners:
                raise UsageError(
                    f"merge: cell {cell.id} is in both {owners[cell.id].said} and {shard.said}\n"
                    "  hint: each shard of one fan-out runs its own cells; merge one run per shard"
                )
            owners[cell.id] = shard
    missing = [c for c in shards[0].selection if c not in owners]
    if missing:
        meant = {c: s for s in shards for c in s.header.cells}
        absent = _absent_shards(shards)
        where = "; ".join(
            f"{c} ({'should be in ' + meant[c].said if c in meant else absent})"
            for c in missing[:10]
        )
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise UsageError(
            f"merge: {len(missing)} selected cells are in none of the runs: {where}{more}\n"
            "  hint: add the missing shard's run, or finish it with 'repromatrix run --resume RUN'"
        )
    return owners


def _absent_shards(shards: list[ShardRun]) -> str:
    """Which shards of the fan-out no given run is, e.g. 'shard 3/3 is not among the runs'."""
    counts = {s.header.shard.partition("/")[2] for s in shards if s.header.shard}
    if len(counts) != 1:
        return "no run given ran it"
    count = int(counts.pop())
    given = {s.header.shard for s in shards}
    absent = [f"{i}/{count}" for i in range(1, count + 1) if f"{i}/{count}" not in given]
    return f"shard {', '.join(absent)} is not among the runs" if absent else "no run given ran it"


def _cell(result: RunResult, cell_id: str) -> CellResult:
    cell = next(c for c in result.cells if c.id == cell_id)
    return replace(
        cell, trend="no-history", previous_outcome=None
    )  # history is the merged run's own


# The most one file of a shard's cell may add to the merged run: a log of a real cell is under a
# megabyte; a sparse or padded one is not copied.
MAX_COPIED = 32 * 2**20


def _copy_cell(source_run: Path, run_dir: Path, cell_id: str) -> None:
    """A cell's build context and logs: regular files only, from a real directory inside its run (an
    attached shard is untrusted: no symlink is followed or copied)."""
    source = source_run / "cells" / cell_name(cell_id)  # one path component (results checked it)
    if (
        source.is_symlink()
        or not source.is_dir()
        or not source.resolve().is_relative_to(source_run.resolve())
    ):
        return  # a cell that never got a build context (or an odd one): its results still merge
    target = run_dir / "cells" / cell_name(cell_id)
    for folder, dirs, files in os.walk(
        source
    ):  # os.walk does not descend into symlinked directories
        here = Path(folder)
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
        (target / here.relative_to(source)).mkdir(parents=True, exist_ok=True)
        for name in files:
            copied = target / here.relative_to(source) / name
            why = copy_regular(here / name, copied, MAX_COPIED)
            if why:  # the report's link still opens, and says why there is nothing more
                copied.write_text(f"(repromatrix merge did not copy {here / name}: {why})\n")
