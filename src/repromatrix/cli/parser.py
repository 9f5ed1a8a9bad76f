"""The command line's grammar: every command, its options and the checks of their values
(a value that is not one is exit 2 naming the option, before anything runs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from .. import __version__
from ..config.matrix import LIMITS
from ..config.shard import MAX_SHARDS, ShardSpec, parse_shard
from ..core import asof
from ..core.errors import (
    UsageError,
    did_you_mean,
)
from ..core.model import (
    CacheMode,
    DownloadCacheMode,
    Selection,
    docker_host_problem,
)
from ..installers import REMEDY_NAMES, parse_selection
from ..results.archive import DEFAULT_BUDGET_MB
from ..results.diff import DIFF_FORMATS
from ..results.formats import (
    FORMATS,
    WRITTEN,
)

DEFAULT_MATRIX = Path("matrix.yaml")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}\n  hint: '{self.prog} --help' lists the options")


# The subcommands' parsers: one function below adds each (COMMAND_PARSERS, in --help's order).
Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="repromatrix",
        description="Reproduce `pip install --upgrade tensorflow` across "
        "a matrix of environments, classify what happened and report it.",
    )
    p.add_argument("--version", action="version", version=f"repromatrix {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    for add in COMMAND_PARSERS:
        add(sub)
    return p


def _run_command(sub: Commands) -> None:
    """`repromatrix run`."""
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


def _remedy_command(sub: Commands) -> None:
    """`repromatrix remedy`."""
    rm = sub.add_parser(
        "remedy",
        help="try the remedies on one cell of a stored run: rebuild it from its build "
        "context, reproduce it, try each fix; updates the run's results and reports",
    )
    _stored_cell_args(rm)
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


def _bisect_command(sub: Commands) -> None:
    """`repromatrix bisect`."""
    bs = sub.add_parser(
        "bisect",
        help="the first upload that changed a cell's outcome: re-run it as of chosen times "
        "between --good and --bad",
    )
    _stored_cell_args(bs)
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


def _merge_command(sub: Commands) -> None:
    """`repromatrix merge`."""
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


def _list_command(sub: Commands) -> None:
    """`repromatrix list`."""
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


def _render_command(sub: Commands) -> None:
    """`repromatrix render`."""
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


def _clean_command(sub: Commands) -> None:
    """`repromatrix clean`."""
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


def _report_command(sub: Commands) -> None:
    """`repromatrix report`."""
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


def _diff_command(sub: Commands) -> None:
    """`repromatrix diff`."""
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


def _init_command(sub: Commands) -> None:
    """`repromatrix init`."""
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


COMMAND_PARSERS: tuple[Callable[[Commands], None], ...] = (
    _run_command,
    _remedy_command,
    _bisect_command,
    _merge_command,
    _list_command,
    _render_command,
    _clean_command,
    _report_command,
    _diff_command,
    _init_command,
)


def _stored_cell_args(p: argparse.ArgumentParser) -> None:
    """One cell of a stored run (remedy, bisect)."""
    p.add_argument("run_dir", metavar="RUN", help="a run id under --out, or a run directory")
    p.add_argument("cell", metavar="CELL_ID", help="the cell's id, as in the report")


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
