"""`repromatrix bisect RUN CELL --good TIME [--bad TIME]`: the first upload that changed a cell's
outcome. Each probe is a run of that one cell as of a time (run(), so every service, label and
clean-up is a run's); the probes are the two ends, then a binary search over the distinct upload
times, inside the window, of the files of the distributions whose versions differ between the
two ends' resolutions (not over calendar days). Every probe upgrades the same setup, the one built
as of the good end (the cell's cached setup after the first probe), so that only the upgrade sees
the index otherwise from probe to probe. As of TIME means what was uploaded before TIME,
as pip's --uploaded-prior-to and uv's --exclude-newer take it: a file is in from the first whole
second after its upload, and the index as it was after one upload and before the next is probed
at the last second before the next, so that the last good probe is the second before the one
that changed the outcome. The last upload is taken as bad without a probe (nothing that differs
changed after it), so the probes number at most ⌈log2(uploads)⌉ + 2.
"""

from __future__ import annotations

import datetime
import json
import math
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console

from ..core import asof
from ..core.errors import UsageError
from ..core.files import write_atomic
from ..core.model import Choice, Matrix, Selection
from ..core.outcomes import Outcome
from ..core.result import CellResult, RunResult
from ..infra.hostca import detect_host_ca
from ..infra.localindex import write_index
from ..judge.index import Releases, fetch_releases, json_files, pip_default_index
from ..results.diff import versions_between
from .prepare import RunOptions

Runner = Callable[[RunOptions, Console], RunResult]
Pages = Callable[[str], Releases]


@dataclass(frozen=True)
class Probe:
    as_of: str
    outcome: str
    target: str  # the target's version after the upgrade
    run: str  # the probe's run directory
    cell: CellResult = field(repr=False, compare=False)


@dataclass(frozen=True)
class Upload:
    name: str
    version: str
    uploaded: str  # as the index dates the file, to the microsecond where it does
    taken_from: str  # the first whole second an as-of time takes the file: the bisect's candidate


@dataclass
class Bisection:
    cell: str
    probes: list[Probe]
    candidates: list[str]  # the upload times searched, oldest first
    culprit: list[Upload]  # what was uploaded at the first time that gives the bad outcome
    said: str

    def to_json(self) -> dict[str, object]:
        probes = [{k: v for k, v in asdict(p).items() if k != "cell"} for p in self.probes]
        return {
            "cell": self.cell,
            "probes": probes,
            "candidates": self.candidates,
            "culprit": [asdict(u) for u in self.culprit],
            "said": self.said,
            "bound": bound(len(self.candidates)),
        }


def bound(uploads: int) -> int:
    """The most probes a bisection over this many upload times makes: the two ends, and a
    binary search whose last candidate is taken as bad."""
    return math.ceil(math.log2(max(uploads, 1))) + 2


def bisect(
    matrix: Matrix,
    cell_id: str,
    good: str,
    bad: str,
    out: Path,
    console: Console,
    runner: Runner,
    pages: Pages | None = None,
) -> Bisection:
    """Probe the cell at `good` and `bad` (resolved UTC times), then between them."""
    if asof.parsed(good) >= asof.parsed(bad):
        raise UsageError(f"bisect: --good {good} is not before --bad {bad}")
    probes: list[Probe] = []

    def probe(when: str) -> Probe:
        console.print(f"bisect: probing {cell_id} as of {when}")
        result = runner(_options(matrix, cell_id, when, good, out), console)
        (cell,) = [c for c in result.cells if c.id == cell_id]
        done = Probe(when, cell.outcome.value, cell.after or "–", result.run_id, cell)
        probes.append(done)
        console.print(f"bisect: as of {when}: {done.outcome} ({done.target})")
        return done

    first = probe(good)
    if first.outcome == Outcome.SETUP_FAILED.value:
        # every probe upgrades the setup built as of --good: without one there is nothing to test
        said = first.cell.evidence[0] if first.cell.evidence else "no evidence"
        raise UsageError(
            f"bisect: {cell_id}'s setup could not be built as of --good {good} ({said}): was "
            "its prior version or its environment uploaded later?\n  hint: choose a later --good"
        )
    last = probe(bad)
    if first.outcome == last.outcome:
        said = f"{cell_id} is {first.outcome} as of {good} and as of {bad}: nothing to bisect"
        return Bisection(cell_id, probes, [], [], said)
    uploads = _uploads_between(first.cell, last.cell, good, bad, pages or index_pages(matrix))
    times = sorted({u.taken_from for u in uploads})
    if not times:
        said = (
            f"{cell_id} went {first.outcome} → {last.outcome} between {good} and {bad}, but "
            "none of the distributions that resolved otherwise had an upload in between"
        )
        return Bisection(cell_id, probes, [], [], said)
    lo, hi = -1, len(times) - 1  # after times[lo]'s uploads (or at good) it is good; hi: bad
    while hi - lo > 1:
        mid = (lo + hi) // 2
        # the index after times[mid]'s uploads, as it was until the next one
        if probe(asof.shifted(times[mid + 1], -1)).outcome == last.outcome:
            hi = mid
        else:
            lo = mid
    culprit = [u for u in uploads if u.taken_from == times[hi]]
    before = next(p for p in reversed(probes) if p.outcome == first.outcome)
    said = _verdict(cell_id, first, last, culprit, before)
    return Bisection(cell_id, probes, times, culprit, said)


def _options(matrix: Matrix, cell_id: str, when: str, setup: str, out: Path) -> RunOptions:
    # One cell, no remedies: what is under test is what its upgrade resolves as of the time. Its
    # setup (the prior version, the reporter's environment) is the one built as of --good for
    # every probe: the environment that worked, built once and reused from the setup cache, and
    # made only of files every probe's index has
    return RunOptions(
        Path(matrix.path),
        only=(cell_id,),
        out=out,
        remedies=Selection(Choice.NONE),
        as_of=when,
        setup_as_of=setup,
    )


def _uploads_between(
    good: CellResult, bad: CellResult, after: str, until: str, pages: Pages
) -> list[Upload]:
    """Every upload of a file of the distributions the two ends resolved otherwise that `until`
    takes and `after` does not. Each file's, not each release's first: a release's wheels arrive
    over minutes (tensorflow 2.20.0's first file 16:50:38, its cp311 manylinux wheel 16:51:55),
    and the cell can only take the release once the file for its Python and platform is there."""
    start, end = asof.parsed(after), asof.parsed(until)
    found = []
    for name in versions_between(good, bad):
        for version, files in pages(name).files.items():
            dated = sorted({f.uploaded for f in files if f.uploaded})
            for uploaded in dated:
                taken = _taken_from(uploaded)
                if start < taken <= end:
                    stamp = taken.strftime(asof.CANONICAL)
                    found.append(Upload(name, str(version), _stamp(uploaded), stamp))
    return found


def _taken_from(uploaded: datetime.datetime) -> datetime.datetime:
    """The first whole second an as-of time takes the file: it takes what was uploaded before it,
    so a file uploaded at 16:51:55.104, or at 16:51:55 exactly, is in from 16:51:56."""
    return uploaded.replace(microsecond=0) + datetime.timedelta(seconds=1)


def _stamp(uploaded: datetime.datetime) -> str:
    """The upload time as the index gives it: with its fraction of a second where it has one."""
    exact = uploaded.microsecond == 0
    return uploaded.strftime(asof.CANONICAL if exact else "%Y-%m-%dT%H:%M:%S.%fZ")


def _verdict(cell: str, good: Probe, bad: Probe, culprit: list[Upload], before: Probe) -> str:
    names = ", ".join(f"{u.name} {u.version}" for u in culprit)
    when = culprit[0].uploaded
    # the version the last good probe had (where its upgrade left a distribution alone: the one
    # the bad end's upgrade started from)
    then = {name: pair[0] for name, pair in versions_between(before.cell, bad.cell).items()}
    was = ", ".join(f"{u.name} {then.get(u.name, '(the same)')}" for u in culprit)
    together = (
        f" ({len(culprit)} uploads at that time, which may have to move together)"
        if len(culprit) > 1
        else ""
    )
    # The search probes the second before each candidate; only when the cell went bad at the
    # first candidate is the last good probe the good end, further back
    next_second = culprit[0].taken_from == asof.shifted(before.as_of, 1)
    latest = (
        f"with --as-of {before.as_of}, which takes only what was uploaded before it,"
        if next_second
        else f"as of {before.as_of}, the last good probe (nothing that resolved otherwise "
        "was uploaded in between),"
    )
    return (
        f"{cell} went {good.outcome} → {bad.outcome} when {names} was uploaded ({when})"
        f"{together}; {latest} it resolves {was}"
    )


def index_pages(matrix: Matrix) -> Pages:
    """A distribution's page as the cells' index has it: the local index's own files (it is up
    only while a run runs), or the configured index read by the host."""
    if matrix.target.index.local:
        return _local_pages()
    if matrix.target.index.secret:
        raise UsageError(
            "bisect reads the index's pages for their upload times, and is never given an "
            "index's credentials\n  hint: bisect against an index without credentials"
        )
    url = matrix.target.index.url or pip_default_index()
    host_ca = detect_host_ca()
    context = ssl.create_default_context(cafile=str(host_ca.path) if host_ca else None)
    return lambda name: fetch_releases(url, name, context)


def _local_pages() -> Pages:
    root = Path(tempfile.mkdtemp(prefix="repromatrix-bisect-index-"))
    write_index(root)

    def page(name: str) -> Releases:
        path = root / "simple" / name.lower().replace("_", "-") / "index.json"
        listed = json.loads(path.read_text()).get("files", []) if path.is_file() else []
        return Releases.from_files(name, json_files(listed))

    return page


def write_bisection(bisection: Bisection, out: Path) -> tuple[Path, Path]:
    """bisect.json and bisect.md beside the probes' runs."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = out / f"bisect-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(bisection.to_json(), indent=2) + "\n"
    rows = "".join(
        f"| {p.as_of} | `{p.outcome}` | {p.target} | {p.run} |\n" for p in bisection.probes
    )
    text = (
        f"## repromatrix bisect: {bisection.cell}\n\n{bisection.said}\n\n"
        f"{len(bisection.probes)} probes (at most {bound(len(bisection.candidates))} for "
        f"{len(bisection.candidates)} upload times)\n\n"
        "| as of | outcome | target | run |\n|---|---|---|---|\n" + rows
    )
    write_atomic(folder / "bisect.json", data)
    write_atomic(folder / "bisect.md", text)
    return folder / "bisect.json", folder / "bisect.md"
