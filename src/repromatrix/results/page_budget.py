"""index.html within a size budget, whatever the run's size.

Trackers cap attachments (GitHub 25 MB, Jira Server 10 MB by default); a 10,000-cell run's full
records alone come to about 40 MB. Over the budget the page keeps every cell (its id, axes,
outcome and first evidence: the pivot, the filters and the list stay whole) and gives up detail
in stages, the cells that ended as expected first, the unexpected ones last: first the inlined
Dockerfile and log, then the bulk of the record (each remedy's evidence, what the upgrade
changed, the checks, the issue block), then all but the outcome's first evidence and the remedies'
verdicts. A cell with less than its record says so in its panel; results.json, report.zip and
the cell directories keep everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CellData = dict[str, Any]  # one cell as the page's script reads it

LEAN_EVIDENCE = 5  # lines of evidence a lean cell keeps
MINIMAL_EVIDENCE = 1


def _without_files(cell: CellData) -> CellData:
    return {k: v for k, v in cell.items() if k not in ("dockerfileText", "output")}


def _lean_attempt(attempt: dict[str, Any], fix: str) -> dict[str, Any]:
    if attempt.get("remedy") == fix:
        return attempt | {"evidence": list(attempt.get("evidence") or [])[:LEAN_EVIDENCE]}
    return attempt | {"commands": [], "evidence": [], "warning": ""}


def _lean(cell: CellData) -> CellData:
    lean = _without_files(cell)
    pip_check = lean.get("pipCheck")
    lean |= {
        "evidence": list(cell["evidence"])[:LEAN_EVIDENCE],
        "attempts": [_lean_attempt(a, cell.get("fix", "")) for a in cell.get("attempts", [])],
        "changed": [],
        "around": {},
        "checks": [],
        "whyNoWheel": None,
        "issueFields": "",
        "pipCheck": pip_check | {"output": ""} if pip_check else None,
        "trimmed": "lean",
    }
    return lean


def _minimal(cell: CellData) -> CellData:
    minimal = _lean(cell)
    # the remedies' verdicts stay: the list's "fix" column and the panel's count are true
    verdicts = [
        {"remedy": a.get("remedy"), "title": a.get("title"), "fix": a.get("fix")}
        | {"outcome": a.get("outcome"), "commands": [], "evidence": [], "warning": ""}
        for a in cell.get("attempts", [])
    ]
    minimal |= {
        "evidence": list(cell["evidence"])[:MINIMAL_EVIDENCE],
        "attempts": verdicts,
        "notes": [],
        "reproduce": "",
        "interpreter": None,
        "setup": "",
        "belowNewest": "",
        "trimmed": "minimal",
    }
    return minimal


STAGES: tuple[Callable[[CellData], CellData], ...] = (_without_files, _lean, _minimal)


@dataclass
class Fitted:
    cells: list[CellData]
    size: int  # bytes of the cells' JSON as the page holds it
    trimmed: int  # cells that hold less than their record
    fits: bool


def fit_cells(
    cells: list[CellData],
    room: int,
    failed: frozenset[str],
    encode: Callable[[Any], str] = json.dumps,
) -> Fitted:
    """The cells within `room` bytes of page, as little trimmed as that allows: stage by stage,
    each stage over the cells in their order of loss (as expected first, unexpected last).
    failed: the outcomes that are failures."""
    fitted = list(cells)
    sizes = [_size(c, encode) for c in fitted]
    total = sum(sizes) + len(fitted)  # the commas between them
    order = _order_of_loss(fitted, failed)
    for stage in STAGES:
        for i in order:
            if total <= room:
                break
            smaller = stage(fitted[i])
            size = _size(smaller, encode)
            if size < sizes[i]:
                total += size - sizes[i]
                fitted[i], sizes[i] = smaller, size
    trimmed = sum(1 for new, old in zip(fitted, cells, strict=True) if new is not old)
    return Fitted(fitted, total, trimmed, total <= room)


def _order_of_loss(cells: list[CellData], failed: frozenset[str]) -> list[int]:
    """Cells that ended as expected and passed, then expected failures, then unexpected cells;
    the last of each kind first, so that the list's top keeps its detail longest."""

    def rank(i: int) -> tuple[bool, bool, int]:
        cell = cells[i]
        return (bool(cell.get("unexpected")), cell.get("outcome") in failed, -i)

    return sorted(range(len(cells)), key=rank)


def _size(cell: CellData, encode: Callable[[Any], str]) -> int:
    return len(encode(cell).encode("utf-8"))
