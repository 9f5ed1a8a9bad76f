"""What a reporter's environment held, read from what they paste: `pip freeze`, `pip list`
(either format), `uv pip freeze` or a requirements file with `-r`/`-c` includes.

Every line is data: it becomes a line of a requirements file that the cell's installer reads,
never a shell word, and an include is a file next to the matrix, never a path outside its
folder. What a container cannot reproduce from the index (an editable checkout, a local path, a
VCS or other direct URL, another index) is refused with its file and line, and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..core.errors import MatrixError, UsageError
from ..core.files import read_regular

MAX_FILE = 1024 * 1024  # a freeze of 2,000 packages is about 50 KiB
MAX_DEPTH = 8  # includes within includes
MAX_LINES = 5_000
# What `pip list --format=freeze` and `pip freeze --all` name that is the installer itself: its
# version is the pip axis's, not the environment's.
INSTALLER_ITSELF = frozenset({"pip"})
# Options that choose another index or file source: the matrix's target.index decides that.
INDEX_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--no-index")
# Options a requirements file may carry that change nothing the cell reproduces.
HARMLESS_OPTIONS = ("--trusted-host", "--prefer-binary", "--use-feature", "--pre")
FIX_PIN = "write it as NAME==VERSION (the version `pip list` shows for it)"


@dataclass(frozen=True)
class Line:
    """One requirement of the environment, and where it was written."""

    text: str  # as the installer reads it: 'numpy==1.26.4; python_version < "3.13"'
    name: str  # canonical: 'numpy'
    where: str  # 'freeze.txt:12'
    pinned: str | None = None  # the version of an '==' pin


@dataclass(frozen=True)
class Requirements:
    requirements: tuple[Line, ...] = ()
    constraints: tuple[Line, ...] = ()
    dropped: tuple[str, ...] = ()  # what was left out, and why ('freeze.txt:3: pip==24.0: ...')


def read_file(path: Path, root: Path, key: str) -> Requirements:
    """The requirements of `path` and its includes; `root` is the folder they must stay in."""
    return _Reader(root, key).file(path, constraint=False, depth=0)


def read_lines(
    lines: list[str], source: str, first_line: int, root: Path, key: str
) -> Requirements:
    """Requirements given inline in the matrix (`source` its path, `first_line` their line)."""
    return _Reader(root, key).lines(lines, source, first_line, root, constraint=False, depth=0)


class _Reader:
    def __init__(self, root: Path, key: str) -> None:
        self.root = root.resolve()
        self.key = key
        self.requirements: list[Line] = []
        self.constraints: list[Line] = []
        self.dropped: list[str] = []
        self.count = 0

    def result(self) -> Requirements:
        return Requirements(tuple(self.requirements), tuple(self.constraints), tuple(self.dropped))

    def label(self, source: str) -> str:
        """A file as reports name it: relative to the matrix's folder (no path of this machine
        reaches a report)."""
        path = Path(source).resolve()
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else path.name

    def fail(self, source: str, line: int | None, problem: str, hint: str) -> MatrixError:
        return MatrixError(source, line, self.key, problem, hint)

    def file(self, path: Path, constraint: bool, depth: int) -> Requirements:
        shown = str(path)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise self.fail(
                shown,
                None,
                "is outside the matrix's folder",
                "copy the file next to the matrix and name it relative to it",
            )
        try:
            data = read_regular(resolved, "a requirements file", MAX_FILE)
        except UsageError as e:
            raise self.fail(shown, None, str(e).split(": ", 1)[-1], "name a text file") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise self.fail(
                shown, None, "is not UTF-8 text", "save it as UTF-8 (pip freeze > file)"
            ) from None
        return self.lines(text.splitlines(), shown, 1, resolved.parent, constraint, depth)

    def lines(
        self,
        lines: list[str],
        source: str,
        first: int,
        folder: Path,
        constraint: bool,
        depth: int,
    ) -> Requirements:
        table = _list_table(lines)
        for number, text in _logical_lines(lines, first):
            self.count += 1
            if self.count > MAX_LINES:
                raise self.fail(
                    source, number, f"more than {MAX_LINES} lines", "is this a requirements file?"
                )
            if table and text:
                text = _table_row(text, table)
            if text:
                self.line(text, source, number, folder, constraint, depth)
        return self.result()

    def line(
        self, text: str, source: str, number: int, folder: Path, constraint: bool, depth: int
    ) -> None:
        where = f"{self.label(source)}:{number}"
        if text.startswith("-"):
            self.option(text, source, number, folder, depth)
            return
        requirement, _, options = text.partition(" --hash")
        hashes = f" --hash{options}" if options else ""
        try:
            req = Requirement(requirement.strip())
        except InvalidRequirement as e:
            raise self.fail(
                source, number, f"{text!r} is not a requirement ({e})", FIX_PIN
            ) from None
        if req.url:
            raise self.fail(source, number, _url_problem(req), FIX_PIN)
        name = canonicalize_name(req.name)
        if name in INSTALLER_ITSELF and not constraint:
            self.dropped.append(f"{where}: {text}: the installer's version is the pip axis's")
            return
        pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
        line = Line(str(req) + hashes, name, where, pins[0] if len(pins) == 1 else None)
        (self.constraints if constraint else self.requirements).append(line)

    def option(self, text: str, source: str, number: int, folder: Path, depth: int) -> None:
        parts = re.split(r"[=\s]+", text, maxsplit=1)
        flag, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
        if flag in ("-r", "--requirement", "-c", "--constraint"):
            if depth >= MAX_DEPTH:
                raise self.fail(
                    source, number, f"includes nest more than {MAX_DEPTH} deep", "a loop?"
                )
            if not value:
                raise self.fail(source, number, f"{flag} names no file", "-r other.txt")
            if re.match(r"[a-z][a-z0-9+.-]*://", value):
                raise self.fail(
                    source, number, f"{value!r} is a URL", "download it next to the matrix"
                )
            constraint = flag in ("-c", "--constraint")
            self.file(folder / value, constraint, depth + 1)
            return
        if flag in ("-e", "--editable"):
            raise self.fail(
                source,
                number,
                f"{text!r} is an editable install (a checkout on the reporter's machine)",
                FIX_PIN,
            )
        if flag in INDEX_OPTIONS:
            raise self.fail(
                source,
                number,
                f"{flag} chooses another index",
                "the matrix's target.index is the cell's index; remove the line",
            )
        if flag in HARMLESS_OPTIONS:
            why = "changes nothing a cell reproduces"
            self.dropped.append(f"{self.label(source)}:{number}: {text}: {why}")
            return
        raise self.fail(source, number, f"option {flag} is not supported here", "remove the line")


def _url_problem(req: Requirement) -> str:
    url = req.url or ""
    if url.startswith("file:") or url.startswith("/"):
        return f"{req.name} @ {url} is a file on the reporter's machine"
    if re.match(r"(git|hg|svn|bzr)\+", url):
        return f"{req.name} is installed from version control ({url.split('+', 1)[0]})"
    return f"{req.name} @ {url} is a direct URL: cells install only from the index"


def _logical_lines(lines: list[str], first: int) -> list[tuple[int, str]]:
    """(line number, text) with comments stripped and backslash continuations joined, as pip
    reads them."""
    out: list[tuple[int, str]] = []
    pending, start = "", first
    for i, raw in enumerate(lines):
        number = first + i
        if not pending:
            start = number
        text = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        out.append((start, (pending + text).strip()))
        pending = ""
    if pending:
        out.append((start, pending.strip()))
    return out


def _list_table(lines: list[str]) -> tuple[str, ...]:
    """`pip list`'s default format, 'Package  Version [...]' over a row of dashes: its header's
    words, else ()."""
    heads = [line.split() for line in lines if line.strip()][:2]
    is_table = (
        len(heads) == 2
        and heads[0][:2] == ["Package", "Version"]
        and all(set(w) == {"-"} for w in heads[1])
    )
    return tuple(heads[0]) if is_table else ()


def _table_row(text: str, header: tuple[str, ...]) -> str:
    """A row of `pip list`'s table as a pin ('' for its header lines). An editable row (under
    'Editable project location') becomes an -e line, which is refused like one; `pip list -v`'s
    Location and Installer columns say nothing to reproduce."""
    words = text.split()
    if words[:2] == ["Package", "Version"] or all(set(w) == {"-"} for w in words):
        return ""
    if len(words) >= 3 and "Editable" in header:
        return f"-e {words[2]}"
    if len(words) >= 2:
        return f"{words[0]}=={words[1]}"
    return text
