"""Stage 7: results as serialisable records, stored atomically in the run directory.

Layout of reports/<run-id>/:
  results.json            the run (schema below, versioned by SCHEMA)
  index.html              the report (rendered from results.json only)
  cells/<cell-id>/        Dockerfile, scenario.py [, ca-bundle.pem]: the reproduction
  cells/<cell-id>/log.txt build log + container output
  cells/<cell-id>/remedies/<remedy>.log   a remedy attempt: its commands + container output
reports/latest -> <run-id>
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.files import load_json
from ..core.model import is_cell_id
from ..core.outcomes import Fix, Outcome

SCHEMA = 1
RESOLVED_RUN = "resolved"  # platform.run of a cell that was only resolved
EMULATED_RUN = "emulated (qemu-user)"
TRIAGED_RUN = "triaged"  # platform.run of a cell `run --triage` only resolved, in its own image


@dataclass
class CellResult:
    id: str
    axes: dict[str, str]
    outcome: Outcome
    evidence: list[str]
    expected: list[Outcome] = field(default_factory=list)
    before: str | None = None
    after: str | None = None
    newest: str | None = None
    newest_for_python: str | None = None
    below_newest: str | None = None
    python: str | None = None
    pip: str | None = None
    upgrade_command: str = ""
    pip_exit_code: int | None = None
    pip_check: dict[str, Any] | None = None
    import_check: dict[str, Any] | None = None
    durations: dict[str, float] = field(default_factory=dict)
    # Inside the container, the scenario's seconds by stage (probes, checks_before, around_before,
    # upgrade, after, pip_check, imports, checks, around_after): where `run` goes
    stages: dict[str, float] = field(default_factory=dict)
    dockerfile: str = ""  # relative to the run directory
    log: str = ""
    reproduce: str = ""
    notes: list[str] = field(default_factory=list)
    interpreter: dict[str, Any] = field(
        default_factory=dict
    )  # where python3 came from; its ssl, CA paths, glibc
    imports: list[str] = field(
        default_factory=list
    )  # the import names checked (from metadata or target.imports)
    checks: list[dict[str, Any]] = field(
        default_factory=list
    )  # the user's checks: name, identity, exit, output
    # What the upgrade changed: each distribution upgraded, downgraded, added or removed
    changed: list[dict[str, Any]] = field(default_factory=list)
    # The libraries around it: modules imported after the upgrade, left out, and no longer importing
    around: dict[str, Any] = field(default_factory=dict)
    why_no_wheel: dict[str, Any] = field(
        default_factory=dict
    )  # each wheel of the wanted release: fits, or why not
    trend: str = "no-history"  # against earlier runs; see history.py
    previous_outcome: Outcome | None = None
    # Where the outcome changed against the baseline run: each distribution the two upgrades left
    # at different versions, {name: [baseline's, this run's]} (diff.py)
    since_baseline: dict[str, list[str]] = field(default_factory=dict)
    # The cell's setup image: "cached" (reused), "built", "failed"; "" if it got none
    setup: str = ""
    rerun: bool = False  # the run stopped before this cell finished: `run --resume` runs it again
    setup_image: str = ""  # the cached setup image the cell started from
    # What of its downloads went through the run's download cache: "" (none: each from the
    # index), "setup" (its setup's; the upgrade's path to the index is what the cell tests) or
    # "all" (setup, upgrade and remedies)
    downloads: str = ""
    attempts: list[dict[str, Any]] = field(
        default_factory=list
    )  # remedies tried (see ATTEMPT_FIELDS)
    fix: str | None = None  # the recommended remedy: the first, by preference, that works cleanly
    host: str = ""  # the Docker engine the cell ran on ("default": the one DOCKER_HOST names)
    # Where it ran: {"arch", "machine", "run": "native" | "emulated (qemu-user)" | "resolved"};
    # a resolved cell adds {"platform", "for"}: what it was resolved for ({} in older runs)
    platform: dict[str, Any] = field(default_factory=dict)
    # A resolved cell's answer (None: it ran): the release its installer would take, its file,
    # every distribution of the resolution [[name, version, file]], and what it was resolved for
    resolved: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Outcomes are the registry's members however the result was made (a journal line, an
        # attached results.json, a test): an unknown id fails here, not in a report.
        self.outcome = Outcome(self.outcome)
        self.expected = [Outcome(o) for o in self.expected]
        self.previous_outcome = Outcome(self.previous_outcome) if self.previous_outcome else None

    @property
    def fix_attempt(self) -> dict[str, Any] | None:
        return (
            next((a for a in self.attempts if a.get("remedy") == self.fix), None)
            if self.fix
            else None
        )

    @property
    def remedies_said(self) -> str:
        """What the remedies did, truly: '3 remedies tried, fix: venv', 'none of the 2 remedies
        tried works cleanly', and how many were not tried (the run stopped, or our side failed);
        '' when there were none."""
        untried = sum(1 for a in self.attempts if a.get("fix") == Fix.NOT_TRIED.value)
        tried = len(self.attempts) - untried
        said = []
        if self.fix:
            said.append(f"{tried} remedies tried, fix: {self.fix}")
        elif tried:
            said.append(f"none of the {tried} remedies tried works cleanly")
        if untried:
            said.append(f"{untried} not tried (the run stopped or our side failed)")
        return "; ".join(said)

    @property
    def resolved_only(self) -> bool:
        """Was the cell only resolved (another platform, or by --triage)? Nothing was
        installed."""
        return self.platform.get("run") in (RESOLVED_RUN, TRIAGED_RUN)

    @property
    def triaged(self) -> bool:
        return self.platform.get("run") == TRIAGED_RUN

    @property
    def runs_on(self) -> str:
        """Where the cell ran, for the pivot's platform columns: 'amd64', 'arm64 (emulated)',
        'macos-arm64 (resolved)'."""
        arch = self.axes.get("arch", "amd64")
        platform = self.axes.get("platform", "linux")
        if self.triaged:
            return f"{arch} (triage: resolved)"
        if self.resolved_only or platform != "linux":
            return f"{arch if platform == 'resolved' else platform} (resolved)"
        return arch + (" (emulated)" if self.platform.get("run") == EMULATED_RUN else "")

    @property
    def matches_expectation(self) -> bool | None:
        return None if not self.expected else self.outcome in self.expected

    @property
    def unexpected(self) -> bool:
        """What CI keys on: not an expected outcome, or, with none expected, not `upgraded`."""
        if self.outcome in (Outcome.INTERRUPTED, Outcome.NEEDS_INSTALL):
            return False  # stopped, or left to the install: nothing was learnt of the outcome
        if self.expected:
            return self.outcome not in self.expected
        return self.outcome is not Outcome.UPGRADED

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "matches_expectation": self.matches_expectation,
            "unexpected": self.unexpected,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class RunResult:
    run_id: str
    matrix: str
    target: dict[str, str]
    started: str
    finished: str = ""
    host_ca: str | None = None  # where the trusted CA bundle came from, if any
    cells: list[CellResult] = field(default_factory=list)
    tool_version: str = ""
    baseline: str | None = None  # the run the trends compare against
    planned: int = 0  # cells the run set out to run (0: as many as it has)
    stopped: str = ""  # why the run stopped early: "interrupted" (Ctrl-C) or "engine-lost"
    merged_from: list[str] = field(default_factory=list)  # `merge`: the shards' run ids
    # The download cache's own counts (infra/downloadcache.Counts): files and bytes the run's
    # cells got from the index and from the cache; {} when it had no cache
    download_cache: dict[str, int] = field(default_factory=dict)

    @property
    def finished_cells(self) -> int:
        return sum(1 for c in self.cells if not c.rerun)

    @property
    def incomplete(self) -> str:
        """'' for a complete run, else e.g. 'incomplete: 12 of 30 cells (interrupted)'."""
        planned = max(self.planned, len(self.cells))
        if self.finished_cells >= planned:
            return ""
        why = {
            "interrupted": "interrupted",
            "engine-lost": "the Docker engine stopped answering",
        }.get(self.stopped, "still running, or stopped without a word")
        return (
            f"incomplete: {self.finished_cells} of {cells_said(planned)} ({why}; "
            f"`repromatrix run --resume {self.run_id}` runs the rest)"
        )

    def unexpected(self) -> list[CellResult]:
        return [c for c in self.cells if c.unexpected]

    def downloads_said(self) -> str:
        """What the download cache did, in a sentence; '' for a run without one."""
        counts = self.download_cache
        through = [c for c in self.cells if c.downloads]
        if not counts and not through:
            return ""
        setup_only = sum(1 for c in through if c.downloads == "setup")
        cells = f"{cells_said(len(through))} of {len(self.cells)} through it"
        cells += f" ({setup_only} only for their setup)" if setup_only else ""
        from_index = counts.get("files_from_index", 0), counts.get("bytes_from_index", 0)
        from_cache = counts.get("files_from_cache", 0), counts.get("bytes_from_cache", 0)
        return (
            f"download cache: {from_index[0]} files ({size_said(from_index[1])}) from the index, "
            f"{from_cache[0]} ({size_said(from_cache[1])}) from the cache; {cells}"
        )

    def triage_said(self) -> str:
        """What --triage decided, in a sentence; '' for a run without it."""
        triaged = [c for c in self.cells if c.triaged]
        if not triaged:
            return ""
        left = sum(1 for c in triaged if c.outcome is Outcome.NEEDS_INSTALL)
        decided = len(triaged) - left
        said = (
            f"triage: {decided} of {cells_said(len(self.cells))} decided by their dry run alone "
            "(nothing installed)"
        )
        if left:
            said += f"; {left} need the install: `repromatrix run --resume {self.run_id}`"
        return said

    def installers(self) -> list[str]:
        """The installers its cells upgrade with, by name ('pip', 'uv', 'pip-tools'), in order
        of first appearance (a cell without the axis is pip's)."""
        names = (c.axes.get("installer", "pip").partition("==")[0] for c in self.cells)
        return list(dict.fromkeys(names)) or ["pip"]

    def counts(self) -> dict[str, int]:
        out: dict[Outcome, int] = {}
        for cell in self.cells:
            out[cell.outcome] = out.get(cell.outcome, 0) + 1
        order = list(Outcome)
        return {o.value: n for o, n in sorted(out.items(), key=lambda kv: order.index(kv[0]))}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cells"] = [c.to_json() for c in self.cells]
        return {
            "schema": SCHEMA,
            **data,
            "counts": self.counts(),
            "unexpected": len(self.unexpected()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "cells"}
        return cls(**fields, cells=[CellResult.from_json(c) for c in data.get("cells", [])])


def size_said(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def cells_said(count: int) -> str:
    """'1 cell', '12 cells': the reports' titles count a run of one cell too."""
    noun = "cell" if count == 1 else "cells"
    return f"{count} {noun}"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write via a temporary file and rename, so readers never see half a file.

    A file that is there keeps its mode (a new one gets the umask's, not mkstemp's 0600). A
    symlink or anything but a regular file (a device, a FIFO) is refused, never followed or
    replaced: `-o /dev/stdout` as root must not turn a device into a file.
    """
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UsageError(
            f"{path}: not a regular file (a symlink, a device or a directory); refusing to "
            "write it\n  hint: name a plain file, or '-' for standard output"
        )
    if path.parent.is_symlink():  # an attached run's cells/X/remedies -> /etc: not through it
        raise UsageError(
            f"{path.parent}: a symbolic link; refusing to write {path.name} through it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def dumps(run: RunResult) -> str:
    # allow_nan=False: a NaN or an infinity is never written (a page's JSON.parse would throw).
    return json.dumps(run.to_json(), indent=2, allow_nan=False) + "\n"


def save_run(run: RunResult, run_dir: Path) -> Path:
    path = run_dir / "results.json"
    write_atomic(path, dumps(run))
    return path


# The most a results.json, run.json or cells.jsonl may be: about 19,000 cells of a real run
# (7 KB each), 38 times settings.max_cells' default. `report` of one this size takes under
# 2 GB of memory (scripts/bench-cli measures it); a bigger file is refused before it is read.
MAX_RESULTS_BYTES = 128 * 1024 * 1024
MAX_SECONDS = 10**7  # about four months: no duration of a cell or an attempt is longer
# The shape of every field an attached results.json may carry (it may come from anyone).
Shape = str
RUN_FIELDS: dict[str, Shape] = {
    "run_id": "str",
    "matrix": "str",
    "target": "dict[str]",
    "started": "str",
    "finished": "str",
    "host_ca": "str?",
    "tool_version": "str",
    "baseline": "str?",
    "cells": "list[cell]",
    "planned": "int",
    "stopped": "str",
    "merged_from": "list[str]",
    "download_cache": "dict[number]",
}
CELL_FIELDS: dict[str, Shape] = {
    "id": "cell-id",
    "axes": "dict[str]",
    "outcome": "outcome",
    "evidence": "list[str]",
    "expected": "list[outcome]",
    "before": "str?",
    "after": "str?",
    "newest": "str?",
    "newest_for_python": "str?",
    "below_newest": "str?",
    "python": "str?",
    "pip": "str?",
    "upgrade_command": "str",
    "pip_exit_code": "int?",
    "pip_check": "dict?",
    "import_check": "dict?",
    "durations": "dict[number]",
    "stages": "dict[number]",
    "dockerfile": "str",
    "log": "str",
    "reproduce": "str",
    "notes": "list[str]",
    "interpreter": "dict",
    "imports": "list[str]",
    "checks": "list[dict]",
    "why_no_wheel": "dict",
    "changed": "list[dict]",
    "around": "dict",
    "trend": "str",
    "previous_outcome": "outcome?",
    "since_baseline": "dict",
    "setup": "str",
    "rerun": "bool",
    "setup_image": "str",
    "downloads": "str",
    "attempts": "list[attempt]",
    "fix": "str?",
    "host": "str",
    "platform": "dict[str]",
    "resolved": "resolved?",
}
# A resolved cell's answer (pipeline/record.py _resolved writes it)
RESOLVED_FIELDS: dict[str, Shape] = {
    "for": "str",
    "platform": "str",
    "python": "str",
    "version": "str?",
    "file": "str",
    "distributions": "list[list[str]]",
    "command": "str",
}
REQUIRED_RUN_FIELDS = ("run_id", "matrix", "target", "started")
# One remedy attempt of a cell (remedies.py; pipeline.to_attempt_result writes them).
ATTEMPT_FIELDS: dict[str, Shape] = {
    "remedy": "str",
    "title": "str",
    "commands": "list[str]",
    "identity": "str",
    "warning": "str",
    "outcome": "outcome",
    "evidence": "list[str]",
    "fix": "fix",
    "pip_check_exit_code": "int?",
    "after": "str?",
    "log": "str",
    "seconds": "number",
}


SHAPES_SAID = {
    "cell-id": "a cell id: letters, digits, '.', '_' and '-', as repromatrix makes them",
    "resolved?": "null or an object with " + ", ".join(RESOLVED_FIELDS),
}


def _shape_ok(value: Any, shape: Shape) -> bool:
    if shape.endswith("?"):
        return value is None or _shape_ok(value, shape[:-1])
    simple = {"str": str, "dict": dict, "int": int}
    if shape == "bool":
        return isinstance(value, bool)
    if shape in simple:
        return isinstance(value, simple[shape]) and not isinstance(value, bool)
    if shape == "outcome":
        return isinstance(value, str) and value in {o.value for o in Outcome}
    if shape == "cell-id":  # it names a folder: what cell_id makes, one path component
        return isinstance(value, str) and is_cell_id(value)
    if shape == "fix":
        return isinstance(value, str) and value in {f.value for f in Fix}
    if shape == "attempt":
        return (
            isinstance(value, dict)
            and all(k in value for k in ("remedy", "outcome", "fix"))
            and all(_shape_ok(value[k], ATTEMPT_FIELDS[k]) for k in value if k in ATTEMPT_FIELDS)
        )
    if shape == "resolved":
        return isinstance(value, dict) and all(
            k in value and _shape_ok(value[k], RESOLVED_FIELDS[k]) for k in RESOLVED_FIELDS
        )
    if shape == "number":  # seconds: finite (the parser saw to that), not negative, not absurd
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return is_number and 0 <= value <= MAX_SECONDS
    if shape.startswith("list["):
        return isinstance(value, list) and all(_shape_ok(v, shape[5:-1]) for v in value)
    if shape.startswith("dict["):
        return isinstance(value, dict) and all(
            isinstance(k, str) and _shape_ok(v, shape[5:-1]) for k, v in value.items()
        )
    return shape == "cell" and isinstance(value, dict)


def validate_results(data: Any, path: Path, whole: bool = True) -> None:
    """Refuse a results.json whose fields are not what this repromatrix writes, naming the field."""

    def fail(at: str, value: Any, shape: Shape) -> None:
        raise UsageError(
            f"{path}: {at}: {json.dumps(value)[:80]} is not a valid value (expected "
            f"{SHAPES_SAID.get(shape, shape)})\n"
            "  hint: this results.json was not written by this repromatrix, or was edited"
        )

    if not isinstance(data, dict):
        fail("(top level)", data, "an object")
    for key, shape in RUN_FIELDS.items():
        if key in data and not _shape_ok(data[key], shape):
            fail(key, data[key], shape)
    for key in REQUIRED_RUN_FIELDS if whole else ():
        if key not in data:
            fail(key, None, RUN_FIELDS[key])
    for i, cell in enumerate(data.get("cells", [])):
        for key, shape in CELL_FIELDS.items():
            if key in cell and not _shape_ok(cell[key], shape):
                fail(f"cells[{i}].{key}", cell[key], shape)
        for key in ("id", "axes", "outcome", "evidence"):
            if key not in cell:
                fail(f"cells[{i}].{key}", None, CELL_FIELDS[key])


def load_run(run_dir: Path) -> RunResult:
    path = run_dir / "results.json" if run_dir.is_dir() else run_dir
    try:
        data = load_json(path, "results", MAX_RESULTS_BYTES)
    except UsageError as e:
        raise UsageError(f"{e}\n  hint: pass a run directory such as reports/latest") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise UsageError(f"{path}: results schema {found!r}, this repromatrix reads {SCHEMA}")
    validate_results(data, path)
    return RunResult.from_json(data)


def point_latest(reports: Path, run_dir: Path) -> None:
    link = reports / "latest"
    tmp = reports / f".latest.{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)
