"""The pivot as an image: summary.png and summary.svg, the one form every tracker shows inline.

Made from a `RunResult` like the other formats (no Docker, no browser): the report page's
default pivot (report.js: rows and columns by the axes that vary; with several installers, the
installers as columns and each environment as a row), one chip per outcome with its count, and
the legend. Drawn with matplotlib's Agg and SVG back ends, so nothing but the wheel is needed.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..core.outcomes import OUTCOME_INFO, Outcome
from ..core.result import RunResult, cells_said

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.patches import Rectangle

MAX_ROWS = 40  # beyond them the image says how many rows the report has besides
MAX_COLUMNS = 8
WIDTH_INCHES = 9.0  # at DPI: 1800 pixels, shown at half size in a GitHub comment
DPI = 200
LABEL_INCHES = 3.3  # the row labels' column
ROW_INCHES = 0.28
FONT = 8.0
ALL = "all"  # the column of a pivot with one varying axis
RUNS_ON = "runs on"  # the pivot's platform columns: each arch (run, emulated) or resolved platform
PLATFORM_AXES = ("arch", "platform")

ImageKind = Literal["png", "svg"]


@dataclass(frozen=True)
class Pivot:
    """What the image shows: which axis runs down and which across, and per (row, column) how
    many cells ended in each outcome."""

    row_axis: str
    column_axis: str
    rows: list[str]
    columns: list[str]
    counts: dict[tuple[str, str], Counter[Outcome]]
    rows_left_out: int
    columns_left_out: int


def pivot(run: RunResult) -> Pivot:
    """The report page's default pivot over every cell."""
    axes = list(run.cells[0].axes) if run.cells else []
    values = {a: list(dict.fromkeys(c.axes.get(a, "") for c in run.cells)) for a in axes}
    varying = [a for a in axes if len(values[a]) > 1]
    by_installer = "installer" in varying
    by_platform = len({c.runs_on for c in run.cells}) > 1
    if by_platform:  # a column a platform, each row one environment on all of them
        others = [a for a in varying if a not in PLATFORM_AXES]
        row_axis, column_axis = "environment", RUNS_ON
    elif by_installer:
        others = [a for a in varying if a != "installer"]
        row_axis, column_axis = "environment", "installer"
    else:
        others = varying[:1]
        # nothing varies (one cell, or cells alike): one row of every cell, not an axis' name
        row_axis = varying[0] if varying else "cells"
        column_axis = varying[1] if len(varying) > 1 else ""
    counts: dict[tuple[str, str], Counter[Outcome]] = {}
    for cell in run.cells:
        row = " · ".join(cell.axes.get(a, "") for a in others) or ALL
        column = cell.axes.get(column_axis, "") if column_axis else ALL
        column = cell.runs_on if column_axis == RUNS_ON else column
        counts.setdefault((row, column), Counter())[cell.outcome] += 1
    rows = list(dict.fromkeys(r for r, _ in counts))
    columns = list(dict.fromkeys(c for _, c in counts))
    return Pivot(
        row_axis,
        column_axis,
        rows[:MAX_ROWS],
        columns[:MAX_COLUMNS],
        counts,
        max(0, len(rows) - MAX_ROWS),
        max(0, len(columns) - MAX_COLUMNS),
    )


def render_png(run: RunResult) -> bytes:
    return _render(run, "png")


def render_svg(run: RunResult) -> str:
    return _render(run, "svg").decode("utf-8")


def _render(run: RunResult, kind: ImageKind) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display, no browser: a file
    from matplotlib import pyplot

    table = pivot(run)
    legend = _legend(run)
    # title, header, the rows, what is left out, the legend's lines, margins
    lines = 2.2 + len(table.rows) + 1 + len(_left_out(table)) + (len(legend) + 2) // 3 + 1
    height = ROW_INCHES * lines
    # svg.fonttype none: text stays text, so the counts can be read (and searched) in it;
    # the hash salt: the same run draws the same file
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "repromatrix", "font.size": FONT}
    ):
        figure = pyplot.figure(figsize=(WIDTH_INCHES, height), dpi=DPI)
        try:
            ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_xlim(0, WIDTH_INCHES)
            ax.set_ylim(height, 0)  # inches from the top
            ax.axis("off")
            _draw(ax, run, table, legend)
            out = io.BytesIO()
            # no creation date or software version in the file: the same run, the same bytes
            figure.savefig(out, format=kind, dpi=DPI, metadata=_metadata(kind))
        finally:
            pyplot.close(figure)
    return out.getvalue()


def _metadata(kind: ImageKind) -> dict[str, str | None]:
    if kind == "svg":
        return {"Date": None, "Creator": "repromatrix"}
    return {"Software": "repromatrix"}


def _legend(run: RunResult) -> list[tuple[Outcome, int]]:
    counted = Counter(c.outcome for c in run.cells)
    return [(o, counted[o]) for o in Outcome if counted[o]]


def _draw(ax: Axes, run: RunResult, table: Pivot, legend: list[tuple[Outcome, int]]) -> None:
    package = run.target.get("package", "") or "the package"
    unexpected = len(run.unexpected())
    title = (
        f"repromatrix {run.run_id}: upgrading {package}, {cells_said(len(run.cells))}, "
        f"{unexpected} unexpected"
    )
    y = ROW_INCHES
    ax.text(0.1, y, _fit(title, WIDTH_INCHES - 0.2), fontsize=FONT + 2, weight="bold", va="center")
    y += ROW_INCHES * 1.2
    width = (WIDTH_INCHES - LABEL_INCHES - 0.2) / max(1, len(table.columns))
    corner = f"{table.row_axis} \\ {table.column_axis}" if table.column_axis else table.row_axis
    ax.text(0.1, y, _fit(corner, LABEL_INCHES - 0.2), weight="bold", va="center")
    for i, column in enumerate(table.columns):
        x = LABEL_INCHES + i * width
        ax.text(x + width / 2, y, _fit(column, width), weight="bold", ha="center", va="center")
    for row in table.rows:
        y += ROW_INCHES
        ax.text(0.1, y, _fit(row, LABEL_INCHES - 0.2), va="center")
        for i, column in enumerate(table.columns):
            found = table.counts.get((row, column), Counter())
            _chips(ax, LABEL_INCHES + i * width, y, width, found)
    y += ROW_INCHES
    for said in _left_out(table):
        ax.text(0.1, y, said, style="italic", va="center")
        y += ROW_INCHES
    _draw_legend(ax, y + ROW_INCHES / 2, legend)


def _chips(ax: Axes, x: float, y: float, width: float, found: Counter[Outcome]) -> None:
    """One coloured chip per outcome the group holds, as wide as the box allows, with its count."""
    present = [o for o in Outcome if found[o]]
    if not present:
        ax.text(x + width / 2, y, "–", ha="center", va="center", color="#999999")
        return
    chip = (width - 0.08) / len(present)
    for i, outcome in enumerate(present):
        left = x + 0.04 + i * chip
        box = _box(left, y, chip - 0.03, OUTCOME_INFO[outcome].colour)
        ax.add_patch(box)
        ax.text(
            left + (chip - 0.03) / 2,
            y,
            str(found[outcome]),
            ha="center",
            va="center",
            color="white",
            weight="bold",
        )


def _box(left: float, y: float, width: float, colour: str) -> Rectangle:
    from matplotlib.patches import Rectangle

    return Rectangle((left, y - ROW_INCHES * 0.4), width, ROW_INCHES * 0.8, color=colour)


def _draw_legend(ax: Axes, y: float, legend: list[tuple[Outcome, int]]) -> None:
    """Three outcomes to a line: the chip's colour, the outcome, how many cells."""
    column = (WIDTH_INCHES - 0.2) / 3
    for i, (outcome, count) in enumerate(legend):
        left = 0.1 + (i % 3) * column
        row_y = y + (i // 3) * ROW_INCHES
        ax.add_patch(_box(left, row_y, 0.25, OUTCOME_INFO[outcome].colour))
        ax.text(left + 0.32, row_y, _fit(f"{outcome.value}: {count}", column - 0.4), va="center")


def _left_out(table: Pivot) -> list[str]:
    said = []
    if table.rows_left_out:
        said.append(f"{table.rows_left_out} more rows: see the report (index.html)")
    if table.columns_left_out:
        said.append(f"{table.columns_left_out} more columns: see the report (index.html)")
    return said


def _fit(text: str, inches: float) -> str:
    """Cut to what fits the width at the font size (about 14 characters an inch at 8 points)."""
    shown = _printable(text)
    room = max(3, int(inches * 14))
    return shown if len(shown) <= room else shown[: room - 1] + "…"


def _printable(text: str) -> str:
    """A control character (an attached run's cell may name anything) as its escape, \\x00: no
    font has a glyph for it, and an empty box would hide what the value holds."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
