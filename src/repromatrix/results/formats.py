"""Machine formats rendered from stored results: results.json, JUnit XML, Markdown summary.

All of them read a `RunResult` only; none needs Docker. `write_format` writes atomically.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ..core.files import write_atomic
from ..core.outcomes import OUTCOME_INFO, Outcome
from ..core.registry import complete
from ..core.result import CellResult, RunResult, cells_said
from .archive import DEFAULT_BUDGET_MB, render_zip
from .issue_fields import issue_fields
from .picture import render_png, render_svg
from .report import render_html
from .results import dumps

MARKDOWN_LIMIT = 60_000  # a GitHub issue comment holds 65,536 characters; GitLab's are larger
EVIDENCE_CHARS = 300
# Cells JUnit counts as skipped: nothing was learnt of their outcome (stopped, left to the install)
SKIPPED = frozenset({Outcome.INTERRUPTED, Outcome.NEEDS_INSTALL})
# a new one names every place below: the registries
Format = Literal["json", "junit", "md", "html", "svg", "png", "zip"]
FORMATS: tuple[Format, ...] = get_args(Format)  # the order they are written in
# What `run` and `report` write unasked: all but the archive, which copies the run once more
WRITTEN: tuple[Format, ...] = tuple(f for f in FORMATS if f != "zip")
DEFAULT_FILES: dict[Format, str] = {
    "html": "index.html",
    "json": "results.json",
    "junit": "junit.xml",
    "md": "summary.md",
    "svg": "summary.svg",
    "png": "summary.png",
    "zip": "report.zip",
}

# What each format is for (the docs' table of formats is made from this).
FORMAT_DOCS: dict[Format, str] = {
    "json": "the run for machines: every cell's outcome, evidence, versions, attempts and timings",
    "junit": "one testcase per cell; unexpected cells fail (infra errors are errors), for CI",
    "md": "Markdown for a GitHub or GitLab issue comment (under 60,000 characters)",
    "html": "the report for people: one self-contained page to attach to a bug",
    "svg": "the pivot as an image, for an issue comment",
    "png": "the pivot as an image, where a tracker takes no SVG",
    "zip": "the run as one attachment, within a size budget",
}
complete("report format", FORMAT_DOCS, FORMATS)


@dataclass(frozen=True)
class ReportOptions:
    """What the user may set about the formats."""

    # each attachment's, index.html's and report.zip's (a tracker's attachment limit)
    size_budget_mb: float = DEFAULT_BUDGET_MB


DEFAULT_OPTIONS = ReportOptions()


def render_json(run: RunResult, run_dir: Path, options: ReportOptions = DEFAULT_OPTIONS) -> str:
    return dumps(run)


def render_junit(run: RunResult, run_dir: Path, options: ReportOptions = DEFAULT_OPTIONS) -> str:
    """One testcase per cell; unexpected cells fail (ours: error) with outcome + evidence."""
    suite_name = xml_text(f"repromatrix.{Path(run.matrix).stem}")
    total = sum(sum(c.durations.values()) for c in run.cells)
    failures = [c for c in run.unexpected() if c.outcome is not Outcome.INFRA_ERROR]
    errors = [c for c in run.unexpected() if c.outcome is Outcome.INFRA_ERROR]
    counts = {
        "tests": str(len(run.cells)),
        "failures": str(len(failures)),
        "errors": str(len(errors)),
        "time": f"{total:.1f}",
    }
    skipped = sum(c.outcome in SKIPPED for c in run.cells)
    root = ET.Element("testsuites", {"name": "repromatrix", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite_name,
            **counts,
            "skipped": str(skipped),
            "timestamp": xml_text(run.started[:19]),
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", run.run_id),
        ("matrix", run.matrix),
        ("package", run.target.get("package", "")),
        ("incomplete", run.incomplete),
    ):
        ET.SubElement(props, "property", {"name": name, "value": xml_text(value)})
    for cell in run.cells:
        _testcase(suite, suite_name, cell)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(suite: ET.Element, classname: str, cell: CellResult) -> None:
    seconds = sum(cell.durations.values())
    case = ET.SubElement(
        suite,
        "testcase",
        {"name": xml_text(cell.id), "classname": xml_text(classname), "time": f"{seconds:.1f}"},
    )
    if cell.outcome in SKIPPED:
        ET.SubElement(
            case,
            "skipped",
            {"message": xml_text(cell.evidence[0] if cell.evidence else cell.outcome.value)},
        )
    elif cell.unexpected:
        kind = "error" if cell.outcome is Outcome.INFRA_ERROR else "failure"
        expected = f" (expected {' or '.join(cell.expected)})" if cell.expected else ""
        message = (
            f"{cell.outcome}{expected}: "
            f"{cell.evidence[0] if cell.evidence else ''}{_fix_said(cell)}"
        )
        ET.SubElement(
            case, kind, {"message": xml_text(message), "type": cell.outcome}
        ).text = xml_text("\n".join(cell.evidence))
    ET.SubElement(case, "system-out").text = xml_text(
        f"log: {cell.log}\nreproduce: {cell.reproduce}\n"
    )


def _fix_said(cell: CellResult) -> str:
    """'; fixed by venv: python3 -m venv ... && ...', or how many remedies were tried in vain."""
    if cell.fix_attempt:
        return f"; fixed by {cell.fix}: {' && '.join(cell.fix_attempt.commands)}"
    return f"; {cell.remedies_said}" if cell.attempts else ""


# What XML 1.0 cannot hold at all (ANSI escapes, NUL, ...): written as \xNN so the file stays
# well-formed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_markdown(run: RunResult, run_dir: Path, options: ReportOptions = DEFAULT_OPTIONS) -> str:
    """A summary for an issue comment: counts, unexpected cells first, how to reproduce."""
    head = _markdown_head(run) + _markdown_platforms(run)
    unexpected, failing = (
        run.unexpected(),
        [c for c in run.cells if not c.unexpected and _failed(c)],
    )
    sections = [("Unexpected cells", unexpected), ("Failing as expected", failing)]
    body, left_out = "", 0
    for title, cells in sections:
        if not cells:
            continue
        rows = [_markdown_row(c) for c in cells]
        table = (
            f"\n### {title} ({len(cells)})\n\n"
            "| cell | outcome | expected | trend | evidence |\n|---|---|---|---|---|\n"
        )
        for row in rows:
            if len(head) + len(body) + len(table) + len(row) + 1500 > MARKDOWN_LIMIT:
                left_out += 1
                continue
            table += row
        body += table
    if left_out:
        body += (
            f"\n{left_out} more cells are not listed here to fit the comment; see the attached "
            "report.\n"
        )
    body += _markdown_fixes(unexpected + failing, MARKDOWN_LIMIT - len(head) - len(body) - 3000)
    body += _markdown_wheels(unexpected + failing, MARKDOWN_LIMIT - len(head) - len(body) - 2000)
    body += _markdown_changes(unexpected + failing, MARKDOWN_LIMIT - len(head) - len(body) - 2000)
    body += _markdown_since(run, MARKDOWN_LIMIT - len(head) - len(body) - 2000)
    package = run.target.get("package", "")
    room = MARKDOWN_LIMIT - len(head) - len(body) - 2000
    body += _markdown_issue_fields(unexpected + failing, package, room)
    differ = _markdown_installers(run)
    if len(head) + len(body) + len(differ) + 1500 > MARKDOWN_LIMIT:
        differ = ""  # the report's table has them all
    return head + body + differ + _markdown_reproduce(run)


ISSUE_FIELDS_SHOWN = 3  # cells whose environment block the comment holds; the page has every one


def _markdown_issue_fields(cells: list[CellResult], package: str, room: int) -> str:
    """The first failing cells' environments in the TensorFlow issue template's fields."""
    blocks: list[str] = []
    for cell in cells[:ISSUE_FIELDS_SHOWN]:
        block = (
            f"<details><summary>{md_code(cell.id)}</summary>\n\n"
            f"{md_block(issue_fields(cell, package), 'text')}\n</details>\n"
        )
        if sum(map(len, blocks)) + len(block) > room:
            break
        blocks.append(block)
    if not blocks:
        return ""
    title = "\n### For the issue template (environment of each failing cell)\n\n"
    return title + "\n".join(blocks)


def _markdown_since(run: RunResult, room: int) -> str:
    """The cells whose outcome changed against the baseline, with what resolved otherwise
    (`repromatrix diff` has every cell)."""
    lines: list[str] = []
    moved = [c for c in run.cells if c.previous_outcome and c.previous_outcome is not c.outcome]
    for cell in moved:
        previous = cell.previous_outcome.value if cell.previous_outcome else ""
        # an attached results.json's field is data of any shape: said as it is, never unpacked
        versions = ", ".join(
            f"{d} {' → '.join(map(str, pair)) if isinstance(pair, list) else pair}"
            for d, pair in cell.since_baseline.items()
        )
        line = (
            f"- {md_code(cell.id)}: {md_code(previous)} → {md_code(cell.outcome)}: "
            f"{md(versions) or 'no distribution resolved otherwise'}"
        )
        if sum(len(x) + 1 for x in lines) + len(line) > room:
            lines.append(f"- … {len(moved) - len(lines)} more: `repromatrix diff` lists them")
            break
        lines.append(line)
    if not lines:
        return ""
    title = f"\n### What changed since run {md(run.baseline or '')} ({len(moved)})\n\n"
    return title + "\n".join(lines) + "\n"


def _markdown_fixes(cells: list[CellResult], room: int) -> str:
    """Per failing cell with remedies tried: the fix to type, or that none worked, with the
    tally."""
    lines: list[str] = []
    for cell in (c for c in cells if c.attempts):
        tally = ", ".join(f"{md(a.remedy)} {md(a.fix.value)}" for a in cell.attempts)
        if cell.fix_attempt:
            commands = " && ".join(cell.fix_attempt.commands)
            line = (
                f"- {md_code(cell.id)}: **{md(cell.fix or '')}**: {md_code(commands)} (tried: "
                f"{tally})"
            )
        else:
            line = f"- {md_code(cell.id)}: no remedy works cleanly (tried: {tally})"
        if sum(len(x) + 1 for x in lines) + len(line) > room:
            lines.append(
                f"- … {sum(1 for c in cells if c.attempts) - len(lines)} more in the attached "
                "report"
            )
            break
        lines.append(line)
    return "\n### What fixes it\n\n" + "\n".join(lines) + "\n" if lines else ""


def _markdown_wheels(cells: list[CellResult], room: int) -> str:
    """'Why no wheel matched', per failing cell: the summary and each reason with its number of
    wheels."""
    lines: list[str] = []
    for cell in cells:
        table = cell.why_no_wheel
        if not table:
            continue
        counts: dict[str, int] = {}
        files = table.get("files")
        for row in files if isinstance(files, list) else []:
            reason = str(row.get("reason", "")) if isinstance(row, dict) else ""
            counts[reason] = counts.get(reason, 0) + 1
        reasons = "; ".join(f"{n}× {md(reason)}" for reason, n in counts.items())
        line = f"- {md_code(cell.id)}: {md(str(table.get('summary', '')))}" + (
            f": {reasons}" if reasons else ""
        )
        if sum(len(x) + 1 for x in lines) + len(line) > room:
            break
        lines.append(line)
    return "\n### Why no wheel matched\n\n" + "\n".join(lines) + "\n" if lines else ""


def _markdown_changes(cells: list[CellResult], room: int, shown: int = 8) -> str:
    """What the upgrade changed, per failing cell: the first few distributions, and how many."""
    lines: list[str] = []
    for cell in (c for c in cells if c.changed):
        named = ", ".join(md(_change_said(d)) for d in cell.changed[:shown])
        more = f" (and {len(cell.changed) - shown} more)" if len(cell.changed) > shown else ""
        line = f"- {md_code(cell.id)}: {named}{more}"
        line += "".join(f"\n  - {md(said)}" for said in _broken_said(cell)[:shown])
        if sum(len(x) + 1 for x in lines) + len(line) > room:
            break
        lines.append(line)
    return "\n### What the upgrade changed\n\n" + "\n".join(lines) + "\n" if lines else ""


def _broken_said(cell: CellResult) -> list[str]:
    """What the record said of each library around the target that the upgrade broke (an
    attached run's results.json: read as data)."""
    broken = cell.around.get("broken") if isinstance(cell.around, dict) else None
    rows = broken if isinstance(broken, list) else []
    return [str(row["said"]) for row in rows if isinstance(row, dict) and row.get("said")]


def _change_said(change: object) -> str:
    """'numpy 1.26.4 → 2.3.5', '+keras 3.15.1', '-tf-keras 2.15.0' from a results.json entry."""
    entry = change if isinstance(change, dict) else {}
    name, kind = str(entry.get("name", "")), str(entry.get("change", ""))
    before, after = str(entry.get("before") or ""), str(entry.get("after") or "")
    if kind == "added":
        return f"+{name} {after}"
    if kind == "removed":
        return f"-{name} {before}"
    return f"{name} {before} → {after}"


def _failed(cell: CellResult) -> bool:
    return OUTCOME_INFO[cell.outcome].failed


def installer_differences(run: RunResult) -> list[tuple[str, dict[str, CellResult]]]:
    """The environments (every axis but the installer) that more than one installer ran in and
    where they did not end alike (another outcome, another version of the target, or another
    version of any other distribution after the upgrade), each named by a cell id."""
    same_place: dict[tuple[tuple[str, str], ...], dict[str, CellResult]] = {}
    for cell in run.cells:
        where = tuple(sorted((k, v) for k, v in cell.axes.items() if k != "installer"))
        same_place.setdefault(where, {})[cell.axes.get("installer", "pip")] = cell
    out = []
    for by in same_place.values():
        ends = {(c.outcome, c.after) for c in by.values()}
        parted = len(ends) > 1 or bool(versions_that_differ(by))
        if len(by) > 1 and parted:
            # Named by its shortest cell id: the default installer's, which says no installer
            out.append((min((c.id for c in by.values()), key=len), by))
    return out


def versions_that_differ(by: dict[str, CellResult]) -> dict[str, dict[str, str]]:
    """Each distribution that the installers left at different versions in the same environment:
    {name: {installer: version}}, '–' where one removed it or never had it. A distribution one
    installer did not touch is at the version the other's change started from."""
    after: dict[str, dict[str, str]] = {}
    before: dict[str, str] = {}
    for name, cell in by.items():
        for entry in cell.changed:
            dist = str(entry.get("name", ""))
            after.setdefault(dist, {})[name] = str(entry.get("after") or "–")
            before.setdefault(dist, str(entry.get("before") or "–"))
    differ: dict[str, dict[str, str]] = {}
    for dist, changed_by in sorted(after.items()):
        versions = {name: changed_by.get(name, before[dist]) for name in by}
        if len(set(versions.values())) > 1:
            differ[dist] = versions
    return differ


def _markdown_installers(run: RunResult) -> str:
    differ = installer_differences(run)
    if not differ:
        return ""
    lines = [
        f"\n### Where the installers disagree ({len(differ)})\n",
        "| environment | installer | outcome | after | versions that differ | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for where, by in differ:
        versions = versions_that_differ(by)
        for name, cell in by.items():
            evidence = " · ".join(cell.evidence)[:EVIDENCE_CHARS]
            theirs = ", ".join(f"{dist} {v[name]}" for dist, v in versions.items())
            lines.append(
                f"| {md(where)} | {md_code(name)} | {md_code(cell.outcome)} | "
                f"{md(cell.after or '–')} | {md(theirs[:EVIDENCE_CHARS] or '–')} | {md(evidence)} |"
            )
    return "\n".join(lines) + "\n"


def _markdown_platforms(run: RunResult) -> str:
    """Per platform (each architecture run, natively or emulated, and each platform only
    resolved for), what the installer did there: its outcomes, and the versions it took or would
    take; '' when every cell ran on one."""
    groups: dict[str, list[CellResult]] = {}
    for cell in run.cells:
        groups.setdefault(cell.runs_on, []).append(cell)
    if len(groups) < 2:
        return ""
    lines = [
        f"\n### On each platform ({len(groups)})\n",
        "| runs on | cells | outcomes | the target's version |",
        "|---|---|---|---|",
    ]
    for where, cells in groups.items():
        outcomes = Counter(c.outcome.value for c in cells)
        said = ", ".join(f"{md_code(o)} {n}" for o, n in outcomes.items())
        lines.append(f"| {md(where)} | {len(cells)} | {said} | {md(_versions_said(cells))} |")
    return "\n".join(lines[:MAX_PLATFORM_ROWS]) + "\n"


MAX_PLATFORM_ROWS = 60


def _versions_said(cells: list[CellResult]) -> str:
    """'2.21.0', 'would take 2.16.1 (not installed)', 'none: ...' for a group of cells."""
    said = []
    for cell in cells:
        if cell.resolved_only:
            taken = (cell.resolved or {}).get("version")
            said.append(f"would take {taken} (not installed)" if taken else "none would be taken")
        else:
            said.append(cell.after or "none installed")
    return ", ".join(dict.fromkeys(said))


def _markdown_head(run: RunResult) -> str:
    target = f"{run.target.get('package', '')}{run.target.get('version') or ''}"
    all_as_expected = (
        "the cell as expected" if len(run.cells) == 1 else f"all {len(run.cells)} cells as expected"
    )
    verdict = (
        f"**{len(run.unexpected())} unexpected** of {cells_said(len(run.cells))}"
        if run.unexpected()
        else all_as_expected
    )
    # What the cells ran: the installers by name (pip, uv, pip-tools), each with its own command
    installers = ", ".join(md(name) for name in run.installers())
    upgrade = f"{md_code(target)} upgraded with {installers}"
    lines = [f"## repromatrix: {upgrade}, run {md(run.run_id)}", ""]
    if run.incomplete:
        lines += [f"**{md(run.incomplete)}**", ""]
    said = [verdict, f"matrix {md_code(run.matrix)}", f"{md(run.target.get('index', ''))} index"]
    if run.target.get("as_of"):
        said.append(f"**as of {md(run.target['as_of'])}**")
    if run.target.get("setup_as_of"):
        said.append(f"setups as of {md(run.target['setup_as_of'])}")
    if run.baseline:
        said.append(f"compared with run {md(run.baseline)}")
    if run.merged_from:
        said.append(f"merged from {len(run.merged_from)} shard runs")
    if downloads := run.downloads_said():
        said.append(md(downloads))
    if triage := run.triage_said():
        said.append(md(triage))
    lines += [
        " · ".join(said),
        "",
        "| outcome | cells |",
        "|---|---|",
    ]
    lines += [f"| {md_code(outcome)} | {n} |" for outcome, n in run.counts().items()]
    return "\n".join(lines) + "\n"


def _markdown_row(cell: CellResult) -> str:
    evidence = " · ".join(cell.evidence)[:EVIDENCE_CHARS]
    expected = md(" or ".join(cell.expected)) or "–"
    return (
        f"| {md_code(cell.id)} | {md_code(cell.outcome)} | {expected} | {md(cell.trend)} | "
        f"{md(evidence)} |\n"
    )


# Every value in summary.md goes through md() or md_code(): a value from an attached run can
# then neither close a code fence nor add headings, links, images, HTML or @mentions.
# Values never start a line (they sit in table cells and sentences), so list and heading markers
# at line start need no escape; what acts anywhere in a line does.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~:&])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def md(text: str) -> str:
    """Plain text in Markdown: one line, every character Markdown might read escaped."""
    text = _CONTROL.sub(" ", text)
    return _MD_SPECIAL.sub(r"\\\1", text).replace("@", "@\u200b")  # a zero-width space: no @mention


def md_code(text: str) -> str:
    """Inline code that nothing inside can close: a fence longer than any run of backticks in it."""
    text = _CONTROL.sub(" ", text).replace(
        "|", "\\|"
    )  # a pipe would split a table cell even in code
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = (
        " " if text[:1] == "`" or text[-1:] == "`" or not text.strip() else ""
    )  # CommonMark strips one space
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(text: str, info: str = "") -> str:
    """A fenced code block that nothing inside can close."""
    text = _CONTROL.sub(lambda m: "\n" if m.group() == "\n" else " ", text)
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}{info}\n{text}\n{fence}\n"


def _markdown_reproduce(run: RunResult) -> str:
    example = next(iter(run.unexpected()), run.cells[0] if run.cells else None)
    if example is None:
        return ""
    return (
        "\n### Reproduce a cell\n\nEach cell's directory in the attached report is a plain Docker "
        "build "
        f"context. From the run directory:\n\n{md_block(example.reproduce, 'sh')}"
    )


Rendered = str | bytes  # text, or an image's bytes


def render_archive(run: RunResult, run_dir: Path, options: ReportOptions) -> bytes:
    """report.zip: every other format, rendered now, and the cells' files."""
    others = (f for f in FORMATS if f != "zip")
    reports = {DEFAULT_FILES[f]: _bytes(RENDERERS[f](run, run_dir, options)) for f in others}
    return render_zip(run, run_dir, reports, options.size_budget_mb)


def _bytes(rendered: Rendered) -> bytes:
    return rendered if isinstance(rendered, bytes) else rendered.encode("utf-8")


RENDERERS: dict[Format, Callable[[RunResult, Path, ReportOptions], Rendered]] = {
    "html": lambda run, run_dir, options: render_html(run, run_dir, options.size_budget_mb),
    "json": render_json,
    "junit": render_junit,
    "md": render_markdown,
    "svg": lambda run, run_dir, options: render_svg(run),
    "png": lambda run, run_dir, options: render_png(run),
    "zip": render_archive,
}
complete("report format", RENDERERS, FORMATS)
complete("report file", DEFAULT_FILES, FORMATS)


def write_format(
    run: RunResult,
    run_dir: Path,
    fmt: Format,
    out: Path | None = None,
    options: ReportOptions = DEFAULT_OPTIONS,
) -> Path:
    path = out or run_dir / DEFAULT_FILES[fmt]
    write_atomic(path, RENDERERS[fmt](run, run_dir, options))
    return path


def write_formats(
    run: RunResult,
    run_dir: Path,
    formats: Sequence[Format],
    options: ReportOptions = DEFAULT_OPTIONS,
) -> list[Path]:
    """All or nothing: every format is rendered before any is written, so a failure in one leaves
    the run directory's reports as they were, not a mix of old and new."""
    texts = {fmt: RENDERERS[fmt](run, run_dir, options) for fmt in formats}
    paths = []
    for fmt, text in texts.items():
        write_atomic(run_dir / DEFAULT_FILES[fmt], text)
        paths.append(run_dir / DEFAULT_FILES[fmt])
    return paths


def render_format(
    run: RunResult, run_dir: Path, fmt: Format, options: ReportOptions = DEFAULT_OPTIONS
) -> Rendered:
    return RENDERERS[fmt](run, run_dir, options)


def write_all(run: RunResult, run_dir: Path) -> list[Path]:
    return write_formats(run, run_dir, WRITTEN)
