"""Stage 2: expand a `Matrix` into `Cell`s and select among them.

Expansion follows GitHub Actions' matrix semantics: the product of the axes, minus every
combination that an `exclude` entry partially matches, then each `include` entry is added to
every original combination it does not contradict, or becomes a new combination of its own.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence

from ..core.axes import AXES, AXIS_ORDER, PlanDraft, cell_id
from ..core.errors import MatrixError, UsageError
from ..core.model import Cell, Matrix
from ..core.outcomes import Outcome, applies
from ..core.platforms import PLATFORMS, RUN_PLATFORM, platform_named

Combo = dict[str, str]


def expand(matrix: Matrix) -> list[Cell]:
    return list(iter_cells(matrix))


def iter_cells(
    matrix: Matrix, only: Sequence[str] = (), keyword: str | None = None
) -> Iterator[Cell]:
    """The matrix's cells one at a time, the selected ones only: a matrix of a million cells is
    counted (for the size guard) without ever being held in memory."""
    seen: set[str] = set()
    expr = KeywordExpr(keyword) if keyword else None
    globs = _globs(only)
    short_name = matrix.target.short_name  # parsed once: a million cells share it
    for combo in combinations(matrix):
        cell = _make_cell(matrix, combo, short_name)
        if cell.id in seen:
            raise MatrixError(
                matrix.path,
                None,
                "include",
                f"several cells get the id {cell.id}",
                "an include entry repeats a cell the axes already produce; remove or change it",
            )
        seen.add(cell.id)
        if _selected(cell, globs, expr):
            # Only for cells that will be planned: it is the costly step.
            _check_cell(matrix, cell.axes)
            yield cell


def count_cells(matrix: Matrix) -> int:
    """How many cells the matrix has, by arithmetic rather than by making them: the product of
    the axes, less what the excludes remove (inclusion-exclusion over the entries that overlap),
    plus each include that matches no combination left (GitHub Actions' rule). A 96,000,000-cell
    matrix is counted at once; a pathological set of excludes falls back to counting one by one."""
    axes = dict(matrix.axes)
    excludes = [dict(entry) for entry in matrix.exclude]
    try:
        kept = _remaining(axes, {}, excludes)
        unmatched = sum(
            1
            for entry in matrix.include
            if _remaining(axes, {k: v for k, v in entry if k in axes}, excludes) == 0
        )
    except _TooManyTerms:
        return sum(1 for _ in combinations(matrix))
    return kept + unmatched


def count_selected(matrix: Matrix, only: Sequence[str] = (), keyword: str | None = None) -> int:
    """How many cells a selection has: by arithmetic for the whole matrix, else by looking at
    each cell's id and axes once (no cell is held, none is checked for planning)."""
    if not only and not keyword:
        return count_cells(matrix)
    expr = KeywordExpr(keyword) if keyword else None
    globs = _globs(only)
    short_name = matrix.target.short_name
    picked = (_make_cell(matrix, combo, short_name) for combo in combinations(matrix))
    return sum(1 for cell in picked if _selected(cell, globs, expr))


class _TooManyTerms(Exception):
    pass


MAX_TERMS = 200_000  # inclusion-exclusion terms before counting one by one is cheaper


def _remaining(axes: Mapping[str, Sequence[str]], fixed: Combo, excludes: list[Combo]) -> int:
    """How many combinations of the axes agree with `fixed` and match no exclude entry."""
    total, terms = 0, 0
    stack: list[tuple[int, Combo, int]] = [(0, fixed, 1)]  # next entry, assignment so far, sign
    while stack:
        start, assignment, sign = stack.pop()
        total += sign * _size(axes, assignment)
        for i in range(start, len(excludes)):
            merged = _agreeing(assignment, excludes[i])
            if merged is not None and _size(axes, merged):  # empty: so is every superset
                stack.append((i + 1, merged, -sign))
                terms += 1
        if terms > MAX_TERMS:
            raise _TooManyTerms
    return total


def _size(axes: Mapping[str, Sequence[str]], fixed: Combo) -> int:
    """Combinations of the axes with the `fixed` values (an entry naming no axis matches none)."""
    if any(name not in axes for name in fixed):
        return 0
    size = 1
    for name, values in axes.items():
        size *= values.count(fixed[name]) if name in fixed else len(values)
    return size


def _agreeing(a: Combo, b: Combo) -> Combo | None:
    """Both assignments at once, or None when they disagree on an axis."""
    if any(a[k] != v for k, v in b.items() if k in a):
        return None
    return a | b


def combinations(matrix: Matrix) -> Iterator[Combo]:
    """The product of the axes minus the excludes, each extended by the includes it matches, then
    the includes that matched no original combination (GitHub Actions' order)."""
    names = [name for name, _ in matrix.axes]
    axis_names = set(names)
    matched: set[int] = set()
    for values in itertools.product(*(v for _, v in matrix.axes)):
        original = dict(zip(names, values, strict=True))
        if any(_matches(original, entry) for entry in matrix.exclude):
            continue
        combo = dict(original)
        for i, entry in enumerate(matrix.include):
            # An include may not overwrite an original axis value, but may overwrite values
            # added by earlier includes; only original combinations are candidates.
            if all(original[k] == v for k, v in entry if k in axis_names):
                combo.update(entry)
                matched.add(i)
        yield combo
    yield from (dict(entry) for i, entry in enumerate(matrix.include) if i not in matched)


def _matches(combo: Combo, entry: Sequence[tuple[str, str]]) -> bool:
    return all(combo.get(k) == v for k, v in entry)


def _make_cell(matrix: Matrix, combo: Combo, short_name: str) -> Cell:
    full = {name: combo.get(name, AXES[name].default) for name in AXIS_ORDER}
    environment = matrix.environment_map.get(full["conflicts"])
    if environment and environment.prior and full["prior"] == AXES["prior"].default:
        # The environment's pin of the target is the prior version: the id says so.
        full["prior"] = environment.prior
    expected: tuple[Outcome, ...] = ()
    resolved_only = not (platform_named(full["platform"]) or PLATFORMS[RUN_PLATFORM]).runs
    for rule in matrix.expect:  # later rules win, like CSS
        if rule.applies_to(full) and applies(rule.outcomes, resolved_only):
            expected = rule.outcomes
    if resolved_only and not expected:
        expected = (Outcome.RESOLVED,)  # what a resolution that works ends in
    values = tuple(full.items())
    return Cell(id=cell_id(full, short_name), values=values, expected=expected)


def _check_cell(matrix: Matrix, values: Combo) -> None:
    """Combinations no plan can be made for (e.g. a CPython X.Y on an image that is not Debian)."""
    draft = PlanDraft(values=values, environments=matrix.environment_map)
    for axis in AXES.values():
        axis.contribute(values[axis.name], draft)
    for axis_name, problem, hint in draft.problems[:1]:
        raise MatrixError(matrix.path, None, f"axes.{axis_name}", problem, hint)


def select(cells: list[Cell], only: Sequence[str] = (), keyword: str | None = None) -> list[Cell]:
    """Cells whose id matches any --only glob and the -k expression."""
    expr = KeywordExpr(keyword) if keyword else None
    globs = _globs(only)
    return [c for c in cells if _selected(c, globs, expr)]


def _globs(only: Sequence[str]) -> re.Pattern[str] | None:
    """Every --only glob in one compiled pattern: 2,000 globs cost one match a cell, not 2,000."""
    if not only:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in only))


def _selected(cell: Cell, globs: re.Pattern[str] | None, expr: KeywordExpr | None) -> bool:
    if globs is not None and not globs.match(cell.id):
        return False
    return expr is None or expr.matches(cell)


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
            raise UsageError(
                f"-k: {len(self.tokens)} words and parentheses; at most {self.MAX_TOKENS}"
            )

    def matches(self, cell: Cell) -> bool:
        self.pos, self.depth = 0, 0
        result = self._or(cell)
        if self.pos != len(self.tokens):
            raise UsageError(
                f"-k {self.text!r}: unexpected {self.tokens[self.pos]!r}; "
                "use words joined by 'and', 'or', 'not' and parentheses"
            )
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
