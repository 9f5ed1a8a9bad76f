"""`repromatrix init --from FILE...`: the report's lines, their clues, the commented matrix."""

from __future__ import annotations

from collections.abc import Sequence

from .clues import clues_of
from .draft import Draft, draft, render
from .report import read_reports, source_label


def matrix_from(names: Sequence[str], as_of: str | None = None) -> tuple[str, Draft]:
    """The matrix text for the reports named ('-': standard input), and what it decided."""
    lines = read_reports(names)
    decided = draft(clues_of(lines), [source_label(name) for name in names], as_of)
    return render(decided), decided
