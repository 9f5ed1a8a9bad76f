"""report.zip: the run directory as a user attaches it, within a size they set.

What it holds: the reports (rendered from the run, as `report` writes them) and each cell's
build context and logs. Trackers cap attachments (GitHub 25 MB, Jira Server 10 MB by default),
so over the budget the logs are trimmed around their decisive lines (the cell's evidence, with
context, and the log's start and end), then the logs of cells that ended as expected are left
out; README.txt in the archive says what was trimmed, and the full logs stay in the run
directory. Made in memory from the run's own regular files; nothing outside the run is read.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UsageError
from ..core.files import open_regular
from ..core.model import cell_name
from ..core.result import CellResult, RunResult

DEFAULT_BUDGET_MB = 25  # GitHub's attachment limit
CONTEXT_LINES = 30  # around each decisive line
HEAD_LINES, TAIL_LINES = 40, 120
MAX_MEMBER = 256 * 1024 * 1024  # a cell file above it is never read whole


@dataclass(frozen=True)
class Member:
    """One file of the archive: where it goes, what it holds, whether it is a log to trim."""

    name: str
    data: bytes
    cell: CellResult | None = None  # the cell whose log it is


Reports = dict[str, bytes]  # file name in the archive: its bytes


def render_zip(
    run: RunResult, run_dir: Path, reports: Reports, budget_mb: float = DEFAULT_BUDGET_MB
) -> bytes:
    """The archive within `budget_mb` megabytes (10**6 bytes), trimmed as it has to be."""
    budget = int(budget_mb * 10**6)
    files = list(_cell_files(run, run_dir))
    for stage, said in _STAGES:
        kept = [stage(m) for m in files]
        archive = _zipped(reports, [m for m in kept if m is not None], said)
        if len(archive) <= budget:
            return archive
    raise UsageError(
        f"report.zip: {len(archive) / 10**6:.1f} MB even with every log trimmed or left out, over "
        f"its budget of {budget_mb:g} MB\n  hint: raise it (--size-budget MB), or attach "
        "summary.png and summary.md instead"
    )


def _whole(member: Member) -> Member | None:
    return member


def _trimmed(member: Member) -> Member | None:
    if member.cell is None:
        return member
    return Member(member.name, trim_log(member.data.decode("utf-8", "replace"), member.cell))


def _failing_only(member: Member) -> Member | None:
    if member.cell is not None and not member.cell.unexpected:
        return None
    return _trimmed(member)


_STAGES: tuple[tuple[Callable[[Member], Member | None], str], ...] = (
    (_whole, ""),
    (
        _trimmed,
        "The logs are trimmed around their decisive lines to fit the archive's size budget; the "
        "full logs are in the run directory (cells/CELL/log.txt).",
    ),
    (
        _failing_only,
        "Only the unexpected cells' logs are here, trimmed around their decisive lines, to fit "
        "the archive's size budget; every cell's full log is in the run directory.",
    ),
)


def trim_log(log: str, cell: CellResult) -> bytes:
    """The log's start and end and the lines that hold the cell's evidence, with context; each
    gap says how many lines it stands for."""
    lines = log.splitlines()
    wanted = [e.strip() for e in cell.evidence if len(e.strip()) >= 8]
    keep = set(range(min(HEAD_LINES, len(lines))))
    keep |= set(range(max(0, len(lines) - TAIL_LINES), len(lines)))
    for i, line in enumerate(lines):
        if any(w in line or line.strip() in w for w in wanted if line.strip()):
            keep |= set(range(max(0, i - CONTEXT_LINES), min(len(lines), i + CONTEXT_LINES + 1)))
    out: list[str] = []
    gap = 0
    for i, line in enumerate(lines):
        if i not in keep:
            gap += 1
            continue
        if gap:
            out.append(f"[... {gap} lines left out of report.zip to fit its size budget ...]")
            gap = 0
        out.append(line)
    if gap:
        out.append(f"[... {gap} lines left out of report.zip to fit its size budget ...]")
    return ("\n".join(out) + "\n").encode()


def _cell_files(run: RunResult, run_dir: Path) -> Iterator[Member]:
    """Every regular file under each cell's directory (Dockerfile, scenario, logs), never
    through a symbolic link, never outside the run."""
    root = run_dir.resolve()
    for cell in run.cells:
        folder = root / "cells" / cell_name(cell.id)
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            if any(p.is_symlink() for p in path.relative_to(root).parents if str(p) != "."):
                continue
            data = _read(path)
            if data is None:
                continue
            name = path.relative_to(root).as_posix()
            is_log = path.suffix in (".txt", ".log")
            yield Member(name, data, cell if is_log else None)


def _read(path: Path) -> bytes | None:
    opened = open_regular(path)
    if isinstance(opened, str):
        return None
    fh, info = opened
    with fh:
        if info.st_size > MAX_MEMBER:
            return f"(left out of report.zip: {info.st_size} bytes)\n".encode()
        return fh.read()


def _zipped(reports: Reports, members: list[Member], said: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        readme = "repromatrix report: open index.html.\n" + (f"\n{said}\n" if said else "")
        _add(archive, "README.txt", readme.encode())
        for name, data in reports.items():
            _add(archive, name, data)
        for member in members:
            _add(archive, member.name, member.data)
    return out.getvalue()


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # a fixed time: the same run, the same archive
    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
