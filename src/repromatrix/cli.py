"""Command line: `repromatrix run | list | render | report | remedy | clean`.

The only place errors become exit codes: 0 every cell as expected, 1 some cell unexpected
(what a nightly job keys on), 2 bad input or usage, 3 Docker or other infrastructure
unavailable, 4 a bug in repromatrix (never 1: CI must not read a crash as a regression),
130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.text import Text

from . import __version__
from .config.cost import machine_time
from .config.matrix import LIMITS
from .config.shard import MAX_SHARDS, Shard, ShardSpec, parse_shard
from .core import asof
from .core.errors import (
    INTERNAL_ERROR,
    INTERRUPTED,
    InfraError,
    ReproMatrixError,
    UsageError,
    did_you_mean,
)
from .core.files import cache_dir, paths_are_input, size_said, write_atomic
from .core.model import (
    CacheMode,
    Cell,
    Choice,
    DownloadCacheMode,
    HostSpec,
    Selection,
    docker_host_problem,
)
from .core.result import RunResult, cells_said
from .infra.docker_engine import ENGINE_FAILED, LABEL_BASE, LABEL_RUN, DockerEngine
from .infra.downloadcache import store_volume
from .infra.setupcache import CACHE_KINDS
from .installers import REMEDY_NAMES, parse_selection
from .intake.against_index import host_context, host_index_url, index_pages
from .intake.draft import questions_in
from .intake.init import matrix_from
from .pipeline.bisect import bisect, write_bisection
from .pipeline.prepare import RunOptions, load_cells, shards_of, stream_cells
from .pipeline.run import render_only, run
from .results.archive import DEFAULT_BUDGET_MB
from .results.diff import DIFF_FORMATS, diff_runs, render_diff
from .results.formats import (
    DEFAULT_OPTIONS,
    FORMATS,
    WRITTEN,
    Format,
    ReportOptions,
    render_format,
    write_format,
    write_formats,
)
from .results.journal import load_any
from .results.merge import merge
from .results.redact import KEY_FILE, redacted_reports

DEFAULT_MATRIX = Path("matrix.yaml")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}\n  hint: '{self.prog} --help' lists the options")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="repromatrix",
        description="Reproduce `pip install --upgrade tensorflow` across "
        "a matrix of environments, classify what happened and report it.",
    )
    p.add_argument("--version", action="version", version=f"repromatrix {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser(
        "run", help="build and run every selected cell, write results and the report"
    )
    _matrix_arg(r)
    _select_args(r)
    r.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports directory (default: reports)"
    )
    r.add_argument(
        "--max-parallel",
        type=_parallel,
        help="cells at once (default: the matrix's setting; at most "
        "what the engine's CPUs and memory hold)",
    )
    r.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only the I-th of N cost-balanced shares of the "
        "selected cells (one job of a fan-out; 'repromatrix merge' joins the shards' runs)",
    )
    r.add_argument(
        "--shard-plan",
        type=Path,
        metavar="FILE",
        help="with --shard: take the shard's cells from "
        "this plan ('list --json --shards N' output), so every job runs what the plan said",
    )
    r.add_argument(
        "--yes", action="store_true", help="run a selection larger than settings.max_cells"
    )
    r.add_argument(
        "--redact",
        action="store_true",
        help="also write a copy of the reports fit for a public attachment (RUN/redacted/: hosts, "
        "users, IPs, paths and the run CA's subject replaced; see `report --redact`)",
    )
    r.add_argument(
        "--as-of",
        type=_as_of,
        metavar="TIME",
        help="every cell sees the index as it was at TIME: ISO 8601 with a timezone "
        "('2024-03-13T18:02:00Z') or a duration before the run starts ('P1D'); overrides "
        "target.as_of",
    )
    r.add_argument(
        "--docker-host",
        action="append",
        default=[],
        type=_docker_host,
        metavar="URL",
        help="spread the cells over this Docker engine (repeatable; unix://, tcp://, ssh://, or "
        "'default' "
        "for the one DOCKER_HOST names); default: settings.hosts, else DOCKER_HOST's",
    )
    r.add_argument(
        "--baseline",
        metavar="RUN",
        help="compare with this run (id or directory) instead of the "
        "previous run of the same matrix",
    )
    r.add_argument(
        "--resume",
        metavar="RUN",
        help="finish a stopped run (id under --out, or its directory): run "
        "only its cells without a result; same matrix, checked by its hash",
    )
    cache = r.add_mutually_exclusive_group()
    cache.add_argument(
        "--fresh",
        dest="cache",
        action="store_const",
        const=CacheMode.REFRESH,
        help="rebuild every cell's setup now (and keep the new ones): today's dependency versions",
    )
    cache.add_argument(
        "--no-cache",
        dest="cache",
        action="store_const",
        const=CacheMode.OFF,
        help="build every cell from scratch (docker build --no-cache), share and keep nothing",
    )
    r.add_argument(
        "--download-cache",
        type=DownloadCacheMode,
        choices=list(DownloadCacheMode),
        help="each file once per machine through repromatrix's download cache (auto: for an "
        "index on the network; default: the matrix's settings.download_cache, else auto)",
    )
    r.add_argument(
        "--triage",
        action="store_true",
        help="resolve every cell first, in its own container, by its installer's dry run "
        "(nothing installed, no remedies): a failing resolution is the cell's outcome, the "
        "rest end as needs-install, which `--resume RUN` installs",
    )
    _remedies_arg(r, "the matrix's 'remedies:', else auto")

    rm = sub.add_parser(
        "remedy",
        help="try the remedies on one cell of a stored run: rebuild it from its build "
        "context, reproduce it, try each fix; updates the run's results and reports",
    )
    rm.add_argument("run_dir", metavar="RUN", help="a run id under --out, or a run directory")
    rm.add_argument("cell", metavar="CELL_ID", help="the cell's id, as in the report")
    rm.add_argument(
        "--matrix",
        type=Path,
        default=DEFAULT_MATRIX,
        help="where the run's matrix is now, if it moved (default: where it was)",
    )
    rm.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports directory (default: reports)"
    )
    rm.add_argument(
        "--max-parallel", type=_parallel, help="attempts at once (default: the matrix's setting)"
    )
    _remedies_arg(rm, "auto")

    bs = sub.add_parser(
        "bisect",
        help="the first upload that changed a cell's outcome: re-run it as of chosen times "
        "between --good and --bad",
    )
    bs.add_argument("run_dir", metavar="RUN", help="a run id under --out, or a run directory")
    bs.add_argument("cell", metavar="CELL_ID", help="the cell's id, as in the report")
    bs.add_argument(
        "--good",
        type=_as_of,
        required=True,
        metavar="TIME",
        help="a time the cell had its good outcome (as --as-of: with a timezone, or 'P7D')",
    )
    bs.add_argument(
        "--bad",
        type=_as_of,
        metavar="TIME",
        help="a time it had the other (default: the run's --as-of, else when it started)",
    )
    bs.add_argument(
        "--matrix",
        type=Path,
        default=DEFAULT_MATRIX,
        help="the run's matrix, whose cell is probed (default: matrix.yaml)",
    )
    bs.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports directory (default: reports)"
    )

    mg = sub.add_parser(
        "merge",
        help="join the runs of one matrix's shards (--shard I/N) into one run with all "
        "four reports; no Docker needed",
    )
    mg.add_argument(
        "runs", metavar="RUN_DIR", nargs="+", type=Path, help="the shards' run directories"
    )
    mg.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        help="reports directory of the merged run, with its history (default: reports)",
    )

    ls = sub.add_parser("list", help="list the cells the matrix expands to")
    _matrix_arg(ls)
    _select_args(ls)
    ls.add_argument("--json", action="store_true", help="machine-readable output for CI")
    ls.add_argument(
        "--yes", action="store_true", help="list a selection larger than settings.max_cells"
    )
    ls.add_argument(
        "--shards",
        type=_shard_count,
        metavar="N",
        help="split the selection into N cost-balanced shards "
        "and print them (with --json: a GitHub Actions matrix 'include' list)",
    )
    ls.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        help="where earlier runs are, whose durations balance the shards (default: reports)",
    )
    _remedies_arg(
        ls, "the matrix's 'remedies:', else auto; with --shards: what the shards' runs will use"
    )

    rd = sub.add_parser(
        "render", help="write one Dockerfile build context per cell; no Docker needed"
    )
    _matrix_arg(rd)
    rd.add_argument(
        "--out",
        type=Path,
        default=Path("dockerfiles"),
        help="output directory (default: dockerfiles)",
    )
    rd.add_argument("--yes", action="store_true", help="render more cells than settings.max_cells")

    cl = sub.add_parser(
        "clean",
        help="remove what runs left behind if they were killed hard (not while a run "
        "is in progress)",
    )
    cl.add_argument(
        "--run", metavar="RUN_ID", help="only this run's leftovers (default: every run's)"
    )
    cl.add_argument(
        "--base-images", action="store_true", help="also remove the debootstrapped base images"
    )
    cl.add_argument(
        "--cache",
        action="store_true",
        help="also empty the setup cache (cached setup images and "
        "the kept CAs of the local index, the interceptor and the download cache) and the "
        "download cache's store of files",
    )
    cl.add_argument(
        "--docker-host",
        action="append",
        type=_docker_host,
        metavar="URL",
        help="clean this Docker engine (repeatable; default: the one DOCKER_HOST names)",
    )

    rp = sub.add_parser(
        "report", help="re-render a run's reports from its results.json; no Docker needed"
    )
    rp.add_argument("run_dir", type=Path, help="a run directory, e.g. reports/latest")
    rp.add_argument(
        "--format",
        choices=sorted(FORMATS),
        action="append",
        help=f"{', '.join(FORMATS)} (repeatable; default: {', '.join(WRITTEN)}; zip is "
        "report.zip, the run as an attachment)",
    )
    rp.add_argument(
        "-o",
        "--output",
        type=Path,
        help="write to this file instead of the run directory ('-': standard output)",
    )
    rp.add_argument(
        "--size-budget",
        type=_megabytes,
        default=DEFAULT_BUDGET_MB,
        metavar="MB",
        help=f"the size at most of report.zip and of index.html (default {DEFAULT_BUDGET_MB}, "
        "GitHub's attachment limit): over it the zip's logs are trimmed around their decisive "
        "lines and the page's cells give up detail, the expected ones first, saying so",
    )
    rp.add_argument(
        "--redact",
        action="store_true",
        help="write the reports into RUN/redacted/ with host names (but the public index's), "
        "user names, home and workspace paths, internal IP addresses and the run CA's subject "
        "replaced by placeholders, the same one for the same value; the key stays in "
        "RUN/redactions.txt",
    )
    df = sub.add_parser(
        "diff",
        help="what changed between two runs: each cell's outcome and the versions it resolved; "
        "no Docker needed",
    )
    df.add_argument("run_a", type=Path, metavar="RUN_A", help="a run directory (the earlier)")
    df.add_argument("run_b", type=Path, metavar="RUN_B", help="a run directory (the later)")
    df.add_argument(
        "--format", choices=DIFF_FORMATS, default="md", help="md (default), json or html"
    )
    df.add_argument(
        "-o", "--output", type=Path, help="write to this file instead of standard output"
    )
    it = sub.add_parser(
        "init",
        help="write a commented matrix.yaml from a bug report: pip freeze/list, python -VV, "
        "/etc/os-release, the TensorFlow template, the failing command's output",
    )
    it.add_argument(
        "--from",
        dest="reports",
        nargs="+",
        required=True,
        metavar="FILE",
        help="report texts as pasted (Markdown is fine), in any mix; '-' reads standard input",
    )
    it.add_argument(
        "--out", type=Path, default=DEFAULT_MATRIX, help="where to write it (default: matrix.yaml)"
    )
    it.add_argument("--force", action="store_true", help="replace the file if it exists")
    it.add_argument(
        "--as-of",
        type=_as_of,
        metavar="TIME",
        help="write target.as_of: the index as it was then (the day the report was filed)",
    )
    it.add_argument(
        "--index",
        metavar="URL",
        help="the index to check the report's target and pip's lists against (default: the one "
        "the host's pip is configured with)",
    )
    it.add_argument(
        "--offline",
        action="store_true",
        help="do not ask the index: the matrix says its target was not checked",
    )
    return p


def _matrix_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--matrix", type=Path, default=DEFAULT_MATRIX, help="matrix file (default: matrix.yaml)"
    )


def _select_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="cell ids matching GLOB (repeatable)",
    )
    p.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        help="pytest-style expression over ids and axis values",
    )


def _remedies_arg(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--remedies",
        type=_selection,
        metavar="auto|none|NAME,...",
        help=f"which fixes to try on cells that failed (default: {default}); names: "
        f"{', '.join(REMEDY_NAMES)}",
    )


def _selection(text: str) -> Selection:
    selection, problem = parse_selection(text)
    if selection is None:
        wrong = next((n for n in text.split(",") if n.strip() not in REMEDY_NAMES), text)
        raise argparse.ArgumentTypeError(
            f"{problem} ({did_you_mean(wrong.strip(), ['auto', 'none', *REMEDY_NAMES])})"
        )
    return selection


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _parallel(text: str) -> int:
    number = _positive(text)
    if number > LIMITS["max_parallel"]:
        raise argparse.ArgumentTypeError(
            f"{number} is more than {LIMITS['max_parallel']}; the run also lowers it "
            "to what the engine's CPUs and memory hold"
        )
    return number


def _shard_count(text: str) -> int:
    number = _positive(text)
    if number > MAX_SHARDS:
        raise argparse.ArgumentTypeError(
            f"{number}: GitHub Actions runs at most {MAX_SHARDS} jobs of one matrix; use "
            f"at most {MAX_SHARDS} shards (each then runs more cells)"
        )
    return number


def _docker_host(text: str) -> str:
    if problem := docker_host_problem(text):
        raise argparse.ArgumentTypeError(problem)
    return text


def _as_of(text: str) -> str:
    if bad := asof.problem(text):
        raise argparse.ArgumentTypeError(f"{bad}; {asof.HINT}")
    return text


def _megabytes(text: str) -> float:
    try:
        size = float(text)
    except ValueError:
        size = 0.0
    if not 0.1 <= size <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r}: a size in megabytes, such as 25 or 9.5")
    return size


def _shard(text: str) -> ShardSpec:
    try:
        return parse_shard(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--shard {text!r}: ")) from None


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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # A cancelled CI job, `docker stop` or `kill` sends SIGTERM: clean up exactly as on Ctrl-C. Only
    # the main thread may set handlers, and the old one comes back when main returns (tests call
    # main).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        return _main(argv)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


DEBUG_VALUES = {
    "1": True,
    "true": True,
    "yes": True,
    "": False,
    "0": False,
    "false": False,
    "no": False,
}


def debugging() -> bool:
    """REPROMATRIX_DEBUG: 1/true/yes shows an internal error's traceback; 0/false/no or unset
    does not; anything else is a usage error (it used to turn debugging on, even for 0)."""
    value = os.environ.get("REPROMATRIX_DEBUG", "")
    if value.strip().lower() not in DEBUG_VALUES:
        raise UsageError(f"REPROMATRIX_DEBUG={value[:40]!r}: not 1, true, yes, 0, false or no")
    return DEBUG_VALUES[value.strip().lower()]


def _main(argv: list[str] | None) -> int:
    # soft_wrap: never break a message (or a path in it) at the terminal or CI log width.
    console = Console(stderr=True, soft_wrap=True)
    debug = False
    try:
        debug = debugging()
        args = _parser().parse_args(argv)
        with paths_are_input():
            return COMMANDS[args.command](args, console)
    except ReproMatrixError as e:
        console.print(Text.assemble(("error: ", "bold red"), str(e)), highlight=False)
        return e.exit_code
    except KeyboardInterrupt:
        console.print("interrupted: removed this run's containers, networks and images")
        return INTERRUPTED
    except ENGINE_FAILED as e:  # a call the engine failed that no stage turned into a cell's own
        said = f"the Docker engine failed a call: {type(e).__name__}: {e}"[:2000]
        console.print(Text.assemble(("error: ", "bold red"), said), highlight=False)
        return InfraError.exit_code
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, said as one
        if debug:
            raise
        console.print(
            Text.assemble(
                ("internal error: ", "bold red"),
                f"{type(e).__name__}: {e}"[:2000],
                "\n  this is a bug in repromatrix; rerun with REPROMATRIX_DEBUG=1 for the "
                "traceback and report it",
            ),
            highlight=False,
        )
        return INTERNAL_ERROR
