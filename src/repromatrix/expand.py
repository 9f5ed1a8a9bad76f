"""Stage 2: expand a `Matrix` into `Cell`s and select among them.

Expansion follows GitHub Actions' matrix semantics: the product of the axes, minus every
combination that an `exclude` entry partially matches, then each `include` entry is added to
every original combination it does not contradict, or becomes a new combination of its own.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections import Counter
from collections.abc import Sequence

from .axes import AXES, AXIS_ORDER, PlanDraft, cell_id
from .errors import MatrixError, UsageError
from .model import Cell, Matrix
from .outcomes import Outcome

Combo = dict[str, str]


def expand(matrix: Matrix) -> list[Cell]:
    combos = apply_include(matrix, apply_exclude(matrix, product(matrix)))
    cells = [_make_cell(matrix, combo) for combo in combos]
    _check_unique(matrix, cells)
    return cells


def product(matrix: Matrix) -> list[Combo]:
    names = [name for name, _ in matrix.axes]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(v for _, v in matrix.axes))]


def _matches(combo: Combo, entry: Sequence[tuple[str, str]]) -> bool:
    return all(combo.get(k) == v for k, v in entry)


def apply_exclude(matrix: Matrix, combos: list[Combo]) -> list[Combo]:
    return [c for c in combos if not any(_matches(c, entry) for entry in matrix.exclude)]


def apply_include(matrix: Matrix, originals: list[Combo]) -> list[Combo]:
    axis_names = {name for name, _ in matrix.axes}
    extended = [dict(c) for c in originals]
    added: list[Combo] = []
    for entry in matrix.include:
        # An include may not overwrite an original axis value, but may overwrite values
        # added by earlier includes; only original combinations are candidates.
        hits = [c for c, orig in zip(extended, originals, strict=True)
                if all(orig[k] == v for k, v in entry if k in axis_names)]
        for combo in hits:
            combo.update(entry)
        if not hits:
            added.append(dict(entry))
    return extended + added


def _make_cell(matrix: Matrix, combo: Combo) -> Cell:
    full = {name: combo.get(name, AXES[name].default) for name in AXIS_ORDER}
    _check_cell(matrix, full)
    expected: tuple[Outcome, ...] = ()
    for rule in matrix.expect:  # later rules win, like CSS
        if rule.applies_to(full):
            expected = rule.outcomes
    values = tuple(full.items())
    return Cell(id=cell_id(full, matrix.target.short_name), values=values, expected=expected)


def _check_cell(matrix: Matrix, values: Combo) -> None:
    """Combinations no plan can be made for (e.g. a CPython X.Y on an image that is not Debian)."""
    draft = PlanDraft(values=values)
    for axis in AXES.values():
        axis.contribute(values[axis.name], draft)
    for axis_name, problem, hint in draft.problems[:1]:
        raise MatrixError(matrix.path, None, f"axes.{axis_name}", problem, hint)


def _check_unique(matrix: Matrix, cells: list[Cell]) -> None:
    counts = Counter(c.id for c in cells)
    dupes = sorted(cell_id for cell_id, n in counts.items() if n > 1)
    if dupes:
        raise MatrixError(matrix.path, None, "include", f"several cells get the id {', '.join(dupes)}",
                          "an include entry repeats a cell the axes already produce; remove or change it")


def select(cells: list[Cell], only: Sequence[str] = (), keyword: str | None = None) -> list[Cell]:
    """Cells whose id matches any --only glob and the -k expression."""
    chosen = [c for c in cells if not only or any(fnmatch.fnmatchcase(c.id, g) for g in only)]
    if keyword:
        expr = KeywordExpr(keyword)
        chosen = [c for c in chosen if expr.matches(c)]
    return chosen


class KeywordExpr:
    """pytest-style -k: words joined by and/or/not and parentheses.

    A word matches a cell when it is a substring of the cell id; `install=venv` matches
    that axis value exactly.
    """

    TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
    MAX_DEPTH = 32  # parentheses; deeper is no expression a person writes
    MAX_TOKENS = 1000

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self.TOKEN.findall(text)
        self.depth = 0
        if not self.tokens:
            raise UsageError(f"-k {text!r}: empty expression")
        if len(self.tokens) > self.MAX_TOKENS:
            raise UsageError(f"-k: {len(self.tokens)} words and parentheses; at most {self.MAX_TOKENS}")

    def matches(self, cell: Cell) -> bool:
        self.pos, self.depth = 0, 0
        result = self._or(cell)
        if self.pos != len(self.tokens):
            raise UsageError(f"-k {self.text!r}: unexpected {self.tokens[self.pos]!r}; "
                             "use words joined by 'and', 'or', 'not' and parentheses")
        return result

    def _next(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self, cell: Cell) -> bool:
        result = self._and(cell)
        while self._next() == "or":
            self.pos += 1
            result = self._and(cell) or result
        return result

    def _and(self, cell: Cell) -> bool:
        result = self._not(cell)
        while self._next() == "and":
            self.pos += 1
            result = self._not(cell) and result
        return result

    def _not(self, cell: Cell) -> bool:
        token = self._next()
        if token == "not":
            self.pos += 1
            return not self._not(cell)
        if token == "(":
            self.pos += 1
            self.depth += 1
            if self.depth > self.MAX_DEPTH:
                raise UsageError(f"-k: parentheses nested more than {self.MAX_DEPTH} deep")
            result = self._or(cell)
            self.depth -= 1
            if self._next() != ")":
                raise UsageError(f"-k {self.text!r}: missing ')'")
            self.pos += 1
            return result
        if token is None or token in ("and", "or", ")"):
            raise UsageError(f"-k {self.text!r}: expected a word, got {token or 'the end'}")
        self.pos += 1
        return self._word(token, cell)

    @staticmethod
    def _word(word: str, cell: Cell) -> bool:
        if "=" in word:
            key, _, value = word.partition("=")
            return cell.axes.get(key) == value
        return word in cell.id
