"""The run's journal: every finished cell is on disk the moment it finishes.

Layout, beside the reports in reports/<run-id>/:
  run.json      what the run set out to do: the matrix (and its hash), the selection, the cell ids
  cells.jsonl   one line per finished cell, appended as it finishes (a later line for the same cell
                replaces an earlier one: that is how --resume reruns a cell)
  .lock         held while a process runs (or resumes) the run
  .owner        the run's token (0600): only it proves which Docker objects are this run's

A run directory may come from anyone (attached to a bug). Its run id is only a name: `--resume`
and `remedy` act on Docker objects only by the token's digest, which every object the run
creates carries as a label, and never on a run that is live on this machine (its lock, kept
under the cache directory by run id, is held).

A run killed with SIGKILL, a reboot or a lost Docker engine leaves a journal; `report` renders
it (marked incomplete) and `run --resume` runs the cells it lacks. A torn last line (the process
died mid-write) is ignored, the cell then counts as not run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.files import NotJSON, live_lock, load_json, parse_json, read_regular, write_atomic
from ..core.result import CellResult, RunResult
from .results import MAX_RESULTS_BYTES, load_run, validate_results

HEADER = "run.json"
CELLS = "cells.jsonl"
LOCK = ".lock"
OWNER = ".owner"
JOURNAL_SCHEMA = 1
# A run id names Docker objects and a lock file: letters, digits, '.', '_', '-' (new_run_id's).
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
TOKEN = re.compile(r"[0-9a-f]{64}")
WRITE_HERE = os.O_NOFOLLOW | os.O_CLOEXEC  # a file of the run directory, never through a symlink


def new_owner() -> str:
    return secrets.token_hex(32)


def owner_label(token: str) -> str:
    """What the run's Docker objects carry: a digest, so `docker inspect` shows no token."""
    return hashlib.sha256(f"repromatrix owner {token}".encode()).hexdigest()[:32]


def matrix_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class RunHeader:
    run_id: str
    matrix: str
    matrix_sha256: str
    cells: list[str]  # the selected cell ids, in report order
    started: str
    target: dict[str, str]
    only: list[str] = field(default_factory=list)
    keyword: str | None = None
    host_ca: str | None = None
    tool_version: str = ""
    matrix_file: str = ""  # the matrix's absolute path, for --resume from another directory
    shard: str = ""  # "I/N" when the run is one shard of the selection (--shard)
    selection: list[str] = field(
        default_factory=list
    )  # a shard's: every selected cell id, of all shards

    def to_json(self) -> dict[str, Any]:
        return {"schema": JOURNAL_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any, path: Path) -> RunHeader:
        shapes: dict[str, type | tuple[type, ...]] = {
            "run_id": str,
            "matrix": str,
            "matrix_sha256": str,
            "cells": list,
            "started": str,
            "target": dict,
            "only": list,
            "keyword": (str, type(None)),
            "host_ca": (str, type(None)),
            "tool_version": str,
            "matrix_file": str,
            "shard": str,
            "selection": list,
        }
        if not isinstance(data, dict) or data.get("schema") != JOURNAL_SCHEMA:
            raise UsageError(f"{path}: not a repromatrix run header (schema {JOURNAL_SCHEMA})")
        for key, shape in shapes.items():
            if key in data and not isinstance(data[key], shape):
                raise UsageError(
                    f"{path}: {key}: {json.dumps(data[key])[:80]} is not a valid value"
                )
        for key in ("cells", "selection", "only"):
            if not all(isinstance(c, str) for c in data.get(key, [])):
                raise UsageError(f"{path}: {key}: every entry must be text")
        if not all(isinstance(v, str) for v in data.get("target", {}).values()):
            raise UsageError(f"{path}: target: every value must be text")
        if not RUN_ID.fullmatch(str(data.get("run_id", ""))):
            raise UsageError(
                f"{path}: run_id: {json.dumps(data.get('run_id'))[:80]} is not a run id "
                "(1 to 100 letters, digits, '.', '_' or '-', as repromatrix makes them)"
            )
        return cls(**{k: data[k] for k in shapes if k in data})


class Journal:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.header_path, self.cells_path = run_dir / HEADER, run_dir / CELLS

    def start(self, header: RunHeader) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.header_path, json.dumps(header.to_json(), indent=2) + "\n")

    def header(self) -> RunHeader:
        try:
            data = load_json(self.header_path, "the run's header (run.json)", MAX_RESULTS_BYTES)
        except UsageError as e:
            raise UsageError(
                f"{e}\n  hint: only runs made by this repromatrix (with a run.json) can be resumed"
            ) from None
        return RunHeader.from_json(data, self.header_path)

    def record(self, cell: CellResult) -> None:
        """Append one finished cell: one write of one line, then fsync, so a crash loses at most
        it."""
        line = json.dumps(cell.to_json(), separators=(",", ":"), allow_nan=False) + "\n"
        fd = _open_here(self.cells_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def finished(self) -> dict[str, CellResult]:
        """The journal's cells by id, the last line of each winning."""
        if not os.path.lexists(self.cells_path):
            return {}
        text = read_regular(self.cells_path, "the run's journal (cells.jsonl)", MAX_RESULTS_BYTES)
        out: dict[str, CellResult] = {}
        for n, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), 1):
            where = f"{self.cells_path}:{n}"
            try:
                data = parse_json(line, where)
            except NotJSON:
                continue  # a torn line: the process died while writing it
            # An attached journal is as untrusted as an attached results.json.
            validate_results({"cells": [data]}, Path(where), whole=False)
            out[data["id"]] = CellResult.from_json(data)
        return out

    def result(self, finished: str = "", stopped: str = "") -> RunResult:
        """The run as far as it got: its cells in the planned order."""
        header, done = self.header(), self.finished()
        return RunResult(
            run_id=header.run_id,
            matrix=header.matrix,
            target=header.target,
            started=header.started,
            finished=finished,
            host_ca=header.host_ca,
            tool_version=header.tool_version,
            cells=[done[c] for c in header.cells if c in done],
            planned=len(header.cells),
            stopped=stopped,
        )

    def owner(self) -> str | None:
        """The run's token, if its directory holds one (a run made before tokens, or a copy
        without the file, holds none: it proves no Docker object its own)."""
        if not os.path.lexists(self.run_dir / OWNER):
            return None
        text = read_regular(self.run_dir / OWNER, "the run's owner token (.owner)", 256)
        token = text.decode("ascii", errors="replace").strip()
        if not TOKEN.fullmatch(token):
            raise UsageError(f"{self.run_dir / OWNER}: not a repromatrix owner token")
        return token

    def claim(self, token: str) -> None:
        """Store the run's token: readable by its owner only, written once, never through a
        symlink (a planted .owner is refused, not overwritten)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = _open_here(self.run_dir / OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (token + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def lock(self, run_id: str) -> Iterator[None]:
        """Held while this process runs the run; the kernel drops it if the process dies. Two
        locks: the run directory's, and one by run id on this machine, so a copy of a live
        run's directory (or an attached one naming its id) cannot act on it either."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        by_id = live_lock(run_id)
        by_id.parent.mkdir(parents=True, exist_ok=True)
        with (
            _held(
                self.run_dir / LOCK,
                f"{self.run_dir}: another repromatrix process is running this run",
            ),
            _held(
                by_id,
                f"run {run_id} is live in another "
                "repromatrix process on this machine (perhaps from another directory)",
            ),
        ):
            # When it went live: the setup cache keeps what live runs use (files.live_since)
            os.utime(by_id)
            yield


@contextlib.contextmanager
def _held(path: Path, busy: str) -> Iterator[None]:
    fd = _open_here(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{busy}\n  hint: wait for it, or stop it, then --resume") from None
        yield
    finally:
        os.close(fd)


def _open_here(path: Path, flags: int, mode: int) -> int:
    """A file of the run directory opened for writing: never through a symlink, never anything
    but a regular file (exit 2 naming it)."""
    try:
        fd = os.open(path, flags | WRITE_HERE | os.O_NONBLOCK, mode)
    except FileExistsError:
        raise UsageError(f"{path}: is already there; refusing to replace it") from None
    except OSError as e:
        why = "a symbolic link" if os.path.islink(path) else e.strerror
        raise UsageError(f"{path}: cannot write it ({why})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path}: not a regular file; refusing to write it")
    return fd


def load_any(run_dir: Path) -> RunResult:
    """A run's results: results.json when the run wrote it, else what its journal holds so far."""
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    journal = Journal(folder)
    if (
        run_dir.is_dir()
        and not (folder / "results.json").is_file()
        and journal.header_path.is_file()
    ):
        return journal.result()
    return load_run(run_dir)
