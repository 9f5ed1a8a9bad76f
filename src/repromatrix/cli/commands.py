"""What each command does, given its parsed options: one `_cmd_*` function a command, registered
in `COMMANDS` (`repromatrix --help` lists the same names)."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from ..config.cost import machine_time
from ..config.shard import Shard
from ..core import asof
from ..core.errors import (
    INTERRUPTED,
    InfraError,
    UsageError,
    did_you_mean,
)
from ..core.files import cache_dir, size_said, write_atomic
from ..core.model import (
    Cell,
    Choice,
    HostSpec,
    Selection,
)
from ..core.result import RunResult, cells_said
from ..infra.docker_engine import LABEL_BASE, LABEL_RUN, DockerEngine
from ..infra.downloadcache import store_volume
from ..infra.setupcache import CACHE_KINDS
from ..intake.against_index import host_context, host_index_url, index_pages
from ..intake.draft import questions_in
from ..intake.init import matrix_from
from ..pipeline.bisect import bisect, write_bisection
from ..pipeline.prepare import RunOptions, load_cells, shards_of, stream_cells
from ..pipeline.run import render_only, run
from ..results.diff import diff_runs, render_diff
from ..results.formats import (
    DEFAULT_OPTIONS,
    FORMATS,
    WRITTEN,
    Format,
    ReportOptions,
    render_format,
    write_format,
    write_formats,
)
from ..results.journal import load_any
from ..results.merge import merge
from ..results.redact import KEY_FILE, redacted_reports
from .parser import DEFAULT_MATRIX


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    if args.resume and (args.only or args.keyword or args.shard):
        raise UsageError(
            "--resume runs the stopped run's own selection (and shard): drop --only, -k and --shard"
        )
    if args.shard_plan and not args.shard:
        raise UsageError("--shard-plan needs --shard I/N: which of the plan's shards to run")
    if args.resume and args.triage:
        raise UsageError(
            "--triage starts a run and --resume finishes one (it installs what a triage left): "
            "use one of them"
        )
    options = RunOptions(
        args.matrix,
        tuple(args.only),
        args.keyword,
        args.out,
        args.max_parallel,
        args.baseline,
        args.resume,
        args.cache,
        matrix_given=args.matrix != DEFAULT_MATRIX,
        download_cache=args.download_cache,
        remedies=args.remedies,
        shard=args.shard,
        shard_plan=args.shard_plan,
        yes=args.yes,
        hosts=tuple(args.docker_host),
        as_of=args.as_of,
        triage=args.triage,
    )
    result = run(options, console)
    if args.redact:
        resumed = Path(str(args.resume or ""))
        resumed_here = bool(args.resume) and resumed.is_dir()
        _redacted(resumed if resumed_here else args.out / result.run_id, list(FORMATS), console)
    return _said(result, args.out, args.resume, console)


def _redacted(
    run_dir: Path, formats: list[Format], console: Console, options: ReportOptions = DEFAULT_OPTIONS
) -> None:
    """The public copy, and what it hid (placeholders only: the key is the owner's)."""
    target, redactor, paths = redacted_reports(run_dir, formats, options)
    replaced = "; ".join(redactor.said()) or "nothing"
    console.print(f"redacted copy: {target} (replaced: {replaced})", highlight=False)
    console.print(f"the placeholders' key (keep it private): {run_dir / KEY_FILE}", highlight=False)
    for path in paths:
        console.print(f"wrote {path}")


def _cmd_init(args: argparse.Namespace, console: Console) -> int:
    out: Path = args.out
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"{out} exists\n  hint: --force replaces it, or --out names another file")
    page, unchecked = None, "--offline"
    if not args.offline:
        url = args.index or host_index_url()
        page = index_pages(url, host_context())
    written = matrix_from(args.reports, args.as_of, page, unchecked)
    _loads(written.text, out)
    write_atomic(out, written.text)
    asked = sum(questions_in(d) for d in written.drafts)
    first = written.drafts[0]
    values = ", ".join(f"{k}: {'/'.join((v.value, *v.more))}" for k, v in first.axes.items())
    of = f" of {len(written.drafts)} reports" if len(written.drafts) > 1 else f" ({values})"
    cells = written.cells
    console.print(
        f"wrote {out}: {cells} cell{'s' if cells != 1 else ''}{of}; "
        f"{asked} QUESTION{'S' if asked != 1 else ''} in it to answer before a run",
        highlight=False,
    )
    return 0


def _loads(text: str, out: Path) -> None:
    """The written matrix must load and expand as `list` does it; else it is not written."""
    folder = out.parent if str(out.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".repromatrix-init-", dir=folder) as tmp:
        draft_path = Path(tmp) / out.name
        draft_path.write_text(text)
        try:
            _, cells = stream_cells(draft_path, (), None, guard=True)
            list(cells)
        except UsageError as e:
            raise InfraError(
                f"the matrix written from the report does not load ({e}); "
                "this is a bug in init: please report it with the report"
            ) from None


def _cmd_remedy(args: argparse.Namespace, console: Console) -> int:
    options = RunOptions(
        args.matrix,
        out=args.out,
        max_parallel=args.max_parallel,
        resume=args.run_dir,
        matrix_given=args.matrix != DEFAULT_MATRIX,
        remedy_cell=args.cell,
        remedies=args.remedies or Selection(Choice.AUTO),
    )
    result = run(options, console)
    cell = next(c for c in result.cells if c.id == args.cell)
    for attempt in cell.attempts:
        console.print(f"  {attempt.remedy}: {attempt.fix} ({attempt.outcome})", highlight=False)
    if cell.fix_attempt:
        said = f"fix: {cell.fix}: " + " && ".join(cell.fix_attempt.commands)
    elif cell.attempts:
        said = cell.remedies_said
    else:  # it upgraded this time, or never ran (setup-failed, infra-error): nothing to try
        said = "no remedy applies to this outcome"
    console.print(f"{cell.id}: {cell.outcome}; {said}", highlight=False)
    return _said(result, args.out, args.run_dir, console)


def _cmd_merge(args: argparse.Namespace, console: Console) -> int:
    result, run_dir = merge(args.runs, args.out)
    console.print(
        f"merged {len(args.runs)} runs into run [bold]{result.run_id}[/bold]: {len(result.cells)} "
        "cells",
        highlight=False,
    )
    return _said(result, args.out, str(run_dir), console, ran_here=False)


def _said(
    result: RunResult, out: Path, resume: str | None, console: Console, ran_here: bool = True
) -> int:
    """The run's last lines and its exit code."""
    counts = ", ".join(f"{k} {v}" for k, v in result.counts().items())
    unexpected = result.unexpected()
    for cell in (
        c for c in unexpected if not c.rerun
    ):  # cells the run never finished are said below
        expected = " or ".join(cell.expected) or "upgraded"
        console.print(
            f"unexpected: {cell.id}: {cell.outcome} (expected {expected}; {cell.trend})",
            highlight=False,
        )
    resumed = Path(resume) if resume else None
    where = (resumed if resumed and resumed.is_dir() else out / result.run_id) / "index.html"
    if result.incomplete:
        console.print(
            f"{result.incomplete}\ndone so far: {counts}; report: {where}", highlight=False
        )
        # 130 only for this process's interruption: a merge of a shard someone stopped is a
        # run that did not finish (3), as when its engine went
        interrupted_here = ran_here and result.stopped == "interrupted"
        return INTERRUPTED if interrupted_here else InfraError.exit_code
    if ran_here and result.stopped == "interrupted":  # every cell had finished, not its remedies
        console.print(
            f"interrupted: every cell finished, but not all of their remedies\ndone: {counts}; "
            f"{len(unexpected)} unexpected; report: {where}",
            highlight=False,
        )
        return INTERRUPTED
    console.print(f"done: {counts}; {len(unexpected)} unexpected\nreport: {where}", highlight=False)
    if triage := result.triage_said():
        console.print(triage, highlight=False)
    return 1 if unexpected else 0


def _cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.shards:
        matrix, selection = load_cells(args.matrix, tuple(args.only), args.keyword)
        count = min(args.shards, len(selection))  # no job with nothing to do
        if count < args.shards:
            console.print(
                f"{len(selection)} cells: {count} shards, not {args.shards}", highlight=False
            )
        shards = shards_of(matrix, selection, count, args.out, args.remedies)
        return _list_shards(shards, args.json, console)
    _, cells = stream_cells(args.matrix, tuple(args.only), args.keyword, guard=not args.yes)
    if args.json:
        _write_json_list(cells)
        return 0
    for cell in cells:
        sys.stdout.write(f"{cell.id}{_expected_note(cell)}\n")
    return 0


def _expected_note(cell: Cell) -> str:
    if not cell.expected:
        return ""
    return f"  (expect {' or '.join(o.value for o in cell.expected)})"


def _write_json_list(cells: Iterator[Cell]) -> None:
    """The cells as one JSON array, byte for byte as `json.dumps(..., indent=2)` writes it, a
    thousand cells at a time: a million cells are never held at once."""
    out = sys.stdout
    chunk = ["["]
    for number, cell in enumerate(cells):
        chunk.append(("\n" if number == 0 else ",\n") + _cell_json(cell))
        if len(chunk) >= 1000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk) + "\n]\n")


_quote = json.encoder.encode_basestring_ascii  # what json.dumps does to a str, without its overhead


def _cell_json(cell: Cell) -> str:
    axes = ",\n".join(f"      {_quote(k)}: {_quote(v)}" for k, v in cell.values)
    expect = ",\n".join(f"      {_quote(o.value)}" for o in cell.expected)
    axes_json = f"{{\n{axes}\n    }}" if axes else "{}"
    expect_json = f"[\n{expect}\n    ]" if expect else "[]"
    return (
        f'  {{\n    "id": {_quote(cell.id)},\n    "axes": {axes_json},\n'
        f'    "expect": {expect_json}\n  }}'
    )


def _list_shards(shards: list[Shard], as_json: bool, console: Console) -> int:
    if as_json:  # one line: it goes into $GITHUB_OUTPUT as is, and fromJSON() reads it
        sys.stdout.write(
            json.dumps({"include": [s.include() for s in shards]}, separators=(",", ":")) + "\n"
        )
        return 0
    for shard in shards:
        sys.stdout.write(
            f"shard {shard}: {cells_said(len(shard.cells))}, {machine_time(shard.seconds)}\n"
        )
        sys.stdout.writelines(f"  {c.id}\n" for c in shard.cells)
    return 0


def _cmd_render(args: argparse.Namespace, console: Console) -> int:
    dirs = render_only(args.matrix, args.out, guard=not args.yes)
    console.print(
        f"rendered {cells_said(len(dirs))} under {args.out}/ "
        "(each: docker build -t NAME DIR && docker run --rm NAME)"
    )
    return 0


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    result = load_any(args.run_dir)
    run_dir = args.run_dir if args.run_dir.is_dir() else args.run_dir.parent
    options = ReportOptions(args.size_budget)
    if args.redact:
        if args.output:
            raise UsageError("--redact writes into RUN/redacted/: drop -o/--output")
        _redacted(run_dir, list(dict.fromkeys(args.format or FORMATS)), console, options)
        return 0
    formats: list[Format] = list(dict.fromkeys(args.format or WRITTEN))
    if args.output and len(formats) != 1:
        raise UsageError("-o/--output writes one file: name one --format with it")
    if args.output and str(args.output) == "-":
        rendered = render_format(result, run_dir, formats[0], options)
        if isinstance(rendered, bytes):  # an image: its bytes, not text
            sys.stdout.flush()
            sys.stdout.buffer.write(rendered)
            return 0
        sys.stdout.write(rendered)
        return 0
    if args.output:
        written = write_format(result, run_dir, formats[0], args.output, options)
        console.print(f"wrote {written}")
        return 0
    if result.incomplete and not (run_dir / "results.json").is_file() and "json" in formats:
        # Read from the journal of a run still going (or stopped): a results.json written now
        # would be trusted by every later `report`, and outlive the cells still to come.
        why = (
            "the run has not finished: its journal (cells.jsonl) stays the truth, and a "
            "results.json beside it would be trusted instead ('-o FILE --format json' writes "
            "a copy elsewhere)"
        )
        if formats == ["json"]:
            raise UsageError(f"{run_dir}: not writing results.json: {why}")
        formats.remove("json")
        console.print(f"not writing results.json: {why}")
    for path in write_formats(result, run_dir, formats, options):
        console.print(f"wrote {path}")
    return 0


def _cmd_diff(args: argparse.Namespace, console: Console) -> int:
    text = render_diff(diff_runs(load_any(args.run_a), load_any(args.run_b)), args.format)
    if args.output is None or str(args.output) == "-":
        sys.stdout.write(text)
        return 0
    write_atomic(args.output, text)
    console.print(f"wrote {args.output}")
    return 0


def _cmd_bisect(args: argparse.Namespace, console: Console) -> int:
    ref = Path(args.run_dir)
    stored = load_any(ref if ref.is_dir() else args.out / args.run_dir)  # a run, or a merged one
    ids = [c.id for c in stored.cells]
    if args.cell not in ids:
        raise UsageError(
            f"bisect: run {stored.run_id} has no cell {args.cell!r}; {did_you_mean(args.cell, ids)}"
        )
    # The matrix the user names (default matrix.yaml), never a path the run's results.json says:
    # an attached run's fields are data. The cell must be one of its cells.
    matrix, _ = load_cells(args.matrix, (args.cell,), doing="bisect")
    started = datetime.datetime.fromisoformat(stored.started)
    bad = asof.resolve(args.bad, started) if args.bad else stored.target.get("as_of", "")
    bad = bad or started.astimezone(datetime.timezone.utc).strftime(asof.CANONICAL)
    out = args.out / "bisect" / args.cell
    found = bisect(matrix, args.cell, asof.resolve(args.good, started), bad, out, console, run)
    console.print(found.said, highlight=False)
    for path in write_bisection(found, out):
        console.print(f"wrote {path}")
    return 0


def _cmd_clean(args: argparse.Namespace, console: Console) -> int:
    for url in args.docker_host or ["default"]:
        engine = DockerEngine("clean", base_url=None if url == "default" else url)
        said = f"Docker host {HostSpec(url).label}: " if args.docker_host else ""
        console.print(said + _clean(engine, args), highlight=False)
    if args.cache:
        for kept in sorted((cache_dir() / "ca").glob("*.pem")) + sorted(
            (cache_dir() / "setup-logs").glob("*.txt")
        ):
            kept.unlink()
    return 0


def _clean(engine: DockerEngine, args: argparse.Namespace) -> str:
    flt = {"label": f"{LABEL_RUN}={args.run}" if args.run else LABEL_RUN}
    counts = engine.cleanup(flt)
    if args.base_images:
        counts["base images"] = engine.cleanup({"label": LABEL_BASE})["images"]
    if args.cache:
        cached = [image for kind in CACHE_KINDS for image in engine.cached_images(kind)]
        for image in cached:
            engine.remove_image(image.ref)
        counts[f"setup images ({size_said(sum(i.size for i in cached))})"] = len(cached)
        # this machine's download cache store (a run using it now holds it: it stays)
        counts["download cache store"] = int(engine.remove_volume(store_volume()))
    return "removed " + ", ".join(f"{n} {what}" for what, n in counts.items())


COMMANDS = {
    "run": _cmd_run,
    "list": _cmd_list,
    "render": _cmd_render,
    "report": _cmd_report,
    "clean": _cmd_clean,
    "remedy": _cmd_remedy,
    "merge": _cmd_merge,
    "diff": _cmd_diff,
    "bisect": _cmd_bisect,
    "init": _cmd_init,
}
