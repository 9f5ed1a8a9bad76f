"""The one rule for the files repromatrix reads from places it does not own: an attached run
directory (run.json, cells.jsonl, results.json), a shard plan, the host's configuration.

Such a file is opened without following a symbolic link at its own name, without waiting (a
FIFO is refused, not read), checked by its descriptor to be a regular file no larger than its
limit (a sparse file counts by its apparent size), and, for JSON, parsed strictly: no NaN or
Infinity, no number too large to be one of ours, no nesting deeper than anything we write. A
file that breaks the rule is bad input (exit 2, naming the file), never a traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from .errors import UsageError

MAX_DIGITS = 20  # an integer of ours fits 64 bits
MAX_DEPTH = 64  # results.json nests about six levels


def cache_dir() -> Path:
    """Where repromatrix keeps what outlives a run on this machine (the local index's CA, the
    setup logs, the locks of the runs now live)."""
    if configured := os.environ.get("REPROMATRIX_CACHE_DIR"):
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "repromatrix"


def live_lock(run_id: str) -> Path:
    """The lock a live run holds by its id on this machine (results/journal.py takes it)."""
    return cache_dir() / "live" / f"{hashlib.sha256(run_id.encode()).hexdigest()[:32]}.lock"


def live_since() -> str | None:
    """When the earliest run now live on this machine (any process's, this one's too) took its
    lock, as UTC ISO text ('2026-12-03T12:03:00'), or None: what a cache shared by concurrent
    runs must not evict from under them."""
    starts = []
    for path in sorted((cache_dir() / "live").glob("*.lock")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:  # held: that run is live
            starts.append(os.fstat(fd).st_mtime)
        finally:
            os.close(fd)
    if not starts:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(min(starts)))


@contextlib.contextmanager
def machine_lock(kind: str, name: str) -> Iterator[None]:
    """Held by one process of this machine at a time (waiting for it): what two concurrent runs
    must not do twice, such as building one base image with debootstrap."""
    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def paths_are_input() -> Iterator[None]:
    """A file-system error on a path the user named (an --out that is a file, /proc, read-only,
    full, not theirs) is bad input, said with the path and why: exit 2, never a traceback."""
    try:
        yield
    except OSError as e:
        if not e.filename:
            raise  # not about a path (a socket, a pipe): someone else's to say
        raise UsageError(
            f"{e.filename}: {e.strerror or e}\n  hint: name a directory you can write "
            "(--out, -o), on a file system with room"
        ) from None


def open_regular(path: Path, follow: bool = False) -> tuple[BinaryIO, os.stat_result] | str:
    """`path` opened as the rule says (without following a symlink at its name unless `follow`,
    without waiting on a FIFO), with what its descriptor says it is; or, as text, why not."""
    nofollow = 0 if follow else os.O_NOFOLLOW
    try:
        fd = os.open(path, os.O_RDONLY | nofollow | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return "a symbolic link" if os.path.islink(path) and not follow else str(e.strerror)
    info = os.fstat(fd)  # before fdopen, which refuses a folder with an error of its own
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return "not a regular file (a FIFO, a device or a folder)"
    return os.fdopen(fd, "rb"), info


def read_regular(path: Path, what: str, limit: int) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes, opened as the rule says."""
    opened = open_regular(path)
    if isinstance(opened, str):
        raise UsageError(f"{path}: cannot read {what} ({opened}; it must be a regular file)")
    fh, info = opened
    with fh:
        if info.st_size > limit:
            raise UsageError(
                f"{path}: {info.st_size:,} bytes, more than {what} may be ({limit:,} at most)"
            )
        return fh.read(limit + 1)


def copy_regular(source: Path, target: Path, limit: int) -> str:
    """Copy `source` (from a place repromatrix does not own) to `target`, as the rule says: by
    descriptor (a symlink swapped in after a check is not followed), only a regular file with
    one link (a hard link to a file elsewhere, say a 0600 secret, is not one of the run's), at
    most `limit` bytes by its apparent size (a sparse 2 GiB log is not copied). '' when copied,
    else why not."""
    opened = open_regular(source)
    if isinstance(opened, str):
        return opened
    fh, info = opened
    with fh:
        if info.st_nlink != 1:
            return f"a hard link ({info.st_nlink} names): perhaps of a file outside the run"
        if info.st_size > limit:
            return f"{info.st_size:,} bytes, more than the {limit:,} a copied file may be"
        data = fh.read(limit + 1)
    target.write_bytes(data[:limit])
    return ""


def parse_json(text: str | bytes, where: str) -> Any:
    """JSON as this repromatrix writes it, or UsageError naming `where` (a path, `path:line`)."""
    try:
        data = json.loads(
            text, parse_constant=_no_constant, parse_int=_small_int, parse_float=_finite
        )
    except json.JSONDecodeError as e:
        raise NotJSON(f"{where}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text") from None
    except RecursionError:
        raise UsageError(f"{where}: JSON nested too deeply to be ours") from None
    except _Refused as e:
        raise UsageError(f"{where}: {e}") from None
    if _depth(data) > MAX_DEPTH:
        raise UsageError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels: not ours")
    return data


def load_json(path: Path, what: str, limit: int) -> Any:
    return parse_json(read_regular(path, what, limit), str(path))


class NotJSON(UsageError):
    """Not JSON at all (a journal's torn last line is this), as opposed to JSON we never write."""


class _Refused(ValueError):
    pass


def _no_constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not a number this repromatrix writes")


def _small_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"a {len(text)}-digit integer is not one this repromatrix writes")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text[:20]} is not a finite number")
    return value


def _depth(data: Any) -> int:
    """How deeply `data` nests, counted without recursion (a hostile file may nest thousands)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)
    return deepest


def size_said(size: float) -> str:
    """'1.2 GB', '640.0 kB', '12 B': sizes in decimal units, as pip and Docker print them."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


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
