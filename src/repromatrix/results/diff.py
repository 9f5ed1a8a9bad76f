"""`repromatrix diff RUN_A RUN_B`: what changed between two runs, cell by cell: the outcome A → B,
the target's version, and every distribution the two upgrades left at different versions (from
each cell's record of what its upgrade changed; a distribution a cell's upgrade did not touch is
at the version the other's change started from, as both start from the same setup). Markdown for
an issue comment or a job summary, JSON for a script, and a self-contained HTML page. The same
comparison marks a run against its baseline (history.py): `versions_since_baseline`.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

from ..core.result import CellResult, RunResult, cells_said
from .formats import md, md_code, versions_that_differ

DiffFormat = Literal["md", "json", "html"]
DIFF_FORMATS: tuple[DiffFormat, ...] = get_args(DiffFormat)
NOTHING = "–"  # a cell that is not in a run, a version a run's cell does not have


@dataclass(frozen=True)
class CellDiff:
    cell: str
    outcome: tuple[str, str]  # in run A, in run B
    target: tuple[str, str]  # the target's version after the upgrade, in A and B
    # {distribution: (version in A, version in B)} where they differ
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)
    # {distribution: (when the index got A's version, B's)}: PEP 700's time, '' where unknown
    uploaded: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.outcome[0] != self.outcome[1] or self.target[0] != self.target[1]


@dataclass(frozen=True)
class RunDiff:
    a: str  # the runs' ids
    b: str
    as_of: tuple[str, str]  # each run's --as-of ('' for the index as it was when it ran)
    cells: list[CellDiff]
    only_in_a: list[str]
    only_in_b: list[str]

    def differing(self) -> list[CellDiff]:
        """The cells that ended otherwise, or resolved other versions."""
        return [c for c in self.cells if c.changed or c.versions]


def versions_between(a: CellResult, b: CellResult) -> dict[str, tuple[str, str]]:
    """The distributions two runs of one cell left at different versions."""
    differ = versions_that_differ({"a": a, "b": b})
    return {dist: (v["a"], v["b"]) for dist, v in differ.items()}


def uploaded_between(
    a: CellResult, b: CellResult, versions: dict[str, tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    """When the index got each differing version, as the cell that took it recorded it."""
    times = {
        dist: (_uploaded(a, dist, va), _uploaded(b, dist, vb))
        for dist, (va, vb) in versions.items()
    }
    return {dist: pair for dist, pair in times.items() if any(pair)}


def _uploaded(cell: CellResult, dist: str, version: str) -> str:
    took = (c for c in cell.changed if c.get("name") == dist and c.get("after") == version)
    return next((str(c.get("uploaded") or "") for c in took), "")


def diff_runs(a: RunResult, b: RunResult) -> RunDiff:
    cells_a = {c.id: c for c in a.cells}
    cells_b = {c.id: c for c in b.cells}
    both = [cid for cid in cells_a if cid in cells_b]
    cells = [_cell_diff(cells_a[cid], cells_b[cid]) for cid in both]
    return RunDiff(
        a.run_id,
        b.run_id,
        (a.target.get("as_of", ""), b.target.get("as_of", "")),
        cells,
        [cid for cid in cells_a if cid not in cells_b],
        [cid for cid in cells_b if cid not in cells_a],
    )


def _cell_diff(a: CellResult, b: CellResult) -> CellDiff:
    versions = versions_between(a, b)
    return CellDiff(
        a.id,
        (a.outcome.value, b.outcome.value),
        (a.after or NOTHING, b.after or NOTHING),
        versions,
        uploaded_between(a, b, versions),
    )


def render_diff(diff: RunDiff, fmt: DiffFormat) -> str:
    if fmt == "md":
        return _markdown(diff)
    if fmt == "json":
        return json.dumps(asdict(diff) | {"differing": len(diff.differing())}, indent=2) + "\n"
    return _html(diff)


def _run_said(run_id: str, as_of: str) -> str:
    return f"{run_id} (as of {as_of})" if as_of else run_id


def _versions(cell: CellDiff) -> str:
    """'protobuf 6.33.1 (uploaded 2024-03-13T18:02:37Z) → 4.25.8', the times where known."""
    said = []
    for dist, (a, b) in cell.versions.items():
        when_a, when_b = cell.uploaded.get(dist, ("", ""))
        said.append(f"{dist} {a}{_when(when_a)} → {b}{_when(when_b)}")
    return ", ".join(said)


def _when(uploaded: str) -> str:
    return f" (uploaded {uploaded})" if uploaded else ""


def _markdown(diff: RunDiff) -> str:
    a, b = (_run_said(r, t) for r, t in zip((diff.a, diff.b), diff.as_of, strict=True))
    differing = diff.differing()
    lines = [
        f"## repromatrix diff: {md(a)} → {md(b)}",
        "",
        f"{len(differing)} of {cells_said(len(diff.cells))} in both runs differ",
        "",
    ]
    if differing:
        lines += [
            "| cell | outcome | target | versions that differ |",
            "|---|---|---|---|",
        ]
    for cell in differing:
        outcome = " → ".join(md_code(o) for o in dict.fromkeys(cell.outcome))
        target = " → ".join(dict.fromkeys(cell.target))
        lines.append(
            f"| {md_code(cell.cell)} | {outcome} | {md(target)} | "
            f"{md(_versions(cell)) or NOTHING} |"
        )
    for said, ids in (("only in " + diff.a, diff.only_in_a), ("only in " + diff.b, diff.only_in_b)):
        if ids:
            lines += ["", f"{md(said)}: " + ", ".join(md_code(i) for i in ids)]
    return "\n".join(lines) + "\n"


def _html(diff: RunDiff) -> str:
    """One page, no script, no outside resource: attachable as it is."""
    a, b = (_run_said(r, t) for r, t in zip((diff.a, diff.b), diff.as_of, strict=True))
    rows = "".join(
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(cell.cell),
            html.escape(" → ".join(dict.fromkeys(cell.outcome))),
            html.escape(" → ".join(dict.fromkeys(cell.target))),
            html.escape(_versions(cell) or NOTHING),
        )
        for cell in diff.differing()
    )
    title = f"repromatrix diff: {a} → {b}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{len(diff.differing())} of {cells_said(len(diff.cells))} in both runs differ</p>"
        "<table><tr><th>cell</th><th>outcome</th><th>target</th>"
        f"<th>versions that differ</th></tr>{rows}</table></body></html>\n"
    )
