"""Shards: a deterministic, cost-balanced share of a matrix's selected cells, so that CI (or any
job runner) can fan one matrix out over N machines and `merge` can put it back together.

Cells go to shards greedily, most expensive first, each to the shard with the least estimated
time so far (ties: the lower shard, then the cell id): the classic longest-processing-time rule,
within 4/3 of the best split. The same cells, estimates and N always give the same shards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.files import load_json
from ..core.model import Cell

# GitHub Actions runs at most 256 jobs from one matrix; GitLab's parallel:matrix allows 200.
MAX_SHARDS = 256

MAX_PLAN_BYTES = 64 * 2**20  # 256 shards of 10,000 cell ids each is about 30 MB


@dataclass(frozen=True)
class ShardSpec:
    """`--shard I/N`: the I-th of N shards, counted from 1."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    match = re.fullmatch(r"([0-9]{1,4})/([0-9]{1,4})", text.strip())
    if not match:
        raise UsageError(
            f"--shard {text!r}: write I/N, e.g. '--shard 2/3' for the second of three shards"
        )
    index, count = int(match[1]), int(match[2])
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(
            f"--shard {text}: N must be 1 to {MAX_SHARDS} (GitHub Actions runs at most "
            f"{MAX_SHARDS} jobs of one matrix)"
        )
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: I must be 1 to {count}")
    return ShardSpec(index, count)


@dataclass(frozen=True)
class Shard:
    index: int  # from 1
    count: int
    cells: tuple[Cell, ...]  # in the matrix's order
    seconds: float

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def include(self) -> dict[str, Any]:
        """One entry of a GitHub Actions `strategy.matrix.include` (or GitLab parallel:matrix)."""
        return {
            "shard": str(self),
            "cells": len(self.cells),
            "seconds": round(self.seconds),
            "ids": [c.id for c in self.cells],
        }


def split(
    cells: Sequence[Cell], seconds: Mapping[str, float], count: int, speeds: Sequence[int] = ()
) -> list[Shard]:
    """`count` shards of `cells`, balanced by `seconds` per cell id; empty shards when there are
    fewer cells than shards (a job with nothing to do, rather than a renumbered plan). `speeds`:
    how many cells each shard runs at once (several engines of one run); a shard twice as fast
    gets twice the work."""
    speed = list(speeds) or [1] * count
    load = [0.0] * count
    members: list[set[str]] = [set() for _ in range(count)]
    for cell in sorted(cells, key=lambda c: (-seconds[c.id], c.id)):
        lightest = min(range(count), key=lambda i: ((load[i] + seconds[cell.id]) / speed[i], i))
        load[lightest] += seconds[cell.id]
        members[lightest].add(cell.id)
    return [
        Shard(i + 1, count, tuple(c for c in cells if c.id in members[i]), load[i])
        for i in range(count)
    ]


def _refuse_overlaps(path: Path, entries: list[Any]) -> None:
    """A plan names each shard once and each cell in one shard once: an overlap would run cells
    twice (and the merge then refuse the shards)."""
    shards: set[str] = set()
    owner: dict[str, str] = {}
    for entry in (e for e in entries if isinstance(e, dict)):
        shard, ids = str(entry.get("shard")), entry.get("ids")
        if shard in shards:
            raise UsageError(f"{path}: shard {shard} is in the plan twice\n  hint: make it again")
        shards.add(shard)
        for cell_id in ids if isinstance(ids, list) else []:
            if not isinstance(cell_id, str):
                continue  # said below, for the shard asked for
            if cell_id in owner:
                raise UsageError(
                    f"{path}: cell {cell_id} is in shard {owner[cell_id]} and in shard {shard}"
                    "\n  hint: make the plan again with 'repromatrix list --json --shards N'"
                )
            owner[cell_id] = shard


def from_plan(path: Path, spec: ShardSpec, cells: Sequence[Cell]) -> tuple[Cell, ...]:
    """`--shard-plan FILE`: shard I's cells as a plan (`list --json --shards N`) fixed them, so
    every job of a fan-out runs what the plan said even if their histories differ."""
    try:
        data = load_json(path, "a shard plan", MAX_PLAN_BYTES)
    except UsageError as e:
        raise UsageError(
            f"--shard-plan: {e}\n  hint: write it with 'repromatrix list --json --shards N > FILE'"
        ) from None
    entries = data.get("include") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UsageError(
            f"{path}: not a shard plan (no 'include' list)\n  hint: write it with "
            "'repromatrix list --json --shards N > FILE'"
        )
    _refuse_overlaps(path, entries)
    wanted = next((e for e in entries if isinstance(e, dict) and e.get("shard") == str(spec)), None)
    if wanted is None:
        have = ", ".join(str(e.get("shard")) for e in entries if isinstance(e, dict))
        raise UsageError(f"{path}: no shard {spec} in the plan (it has {have or 'none'})")
    ids = wanted.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise UsageError(f"{path}: shard {spec}: 'ids' must be a list of cell ids")
    by_id = {c.id: c for c in cells}
    if unknown := [i for i in ids if i not in by_id]:
        raise UsageError(
            f"{path}: shard {spec} names cells the matrix's selection does not have: "
            f"{', '.join(unknown[:5])}\n  hint: the plan was made from another matrix or "
            "selection; "
            "make it again"
        )
    if not ids:
        raise UsageError(
            f"{path}: shard {spec} has no cells\n  hint: make the plan again; "
            "'list --shards' makes no empty shard"
        )
    chosen = set(ids)
    return tuple(c for c in cells if c.id in chosen)
