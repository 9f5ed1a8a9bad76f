"""`repromatrix init --from FILE...`: the reports' lines, their clues, what each report says,
the index's answers about it, the commented matrix: one cell per report, a cell two reports
share written once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from ..core.errors import UsageError
from ..judge.index import Releases
from .against_index import Answer, Page, ask, closest
from .clues import KNOWN_PROJECTS, clues_of
from .draft import Draft, cells_of, draft, index_said, render, render_many
from .report import Line, read_reports, source_label


@dataclass(frozen=True)
class Written:
    text: str
    drafts: tuple[Draft, ...]  # one a report
    cells: int


def matrix_from(
    names: Sequence[str],
    as_of: str | None = None,
    page: Page | None = None,
    unchecked: str = "not asked",
) -> Written:
    """The matrix text for the reports named ('-': standard input). A file with an install
    command is a report; one without (an os-release, a pip freeze) belongs to the report before
    it (or the first one). With `page`, the index is asked about each target (once a name) and
    pip's lists; without, the matrix says the index was not checked, and why (`unchecked`)."""
    lines = read_reports(names)
    asked = _once(page) if page is not None else None
    drafts = []
    for sources, group in _reports(lines, [source_label(n) for n in names]):
        decided = draft(clues_of(group), sources, as_of)
        answer = Answer(False, unchecked)
        if asked is not None:
            answer = ask(asked, _names_to_ask(decided))
            target = canonicalize_name(decided.reading.target.name)
            if target in answer.missing:
                raise UsageError(_no_such_project(decided, target, asked))
        index_said(decided, answer)
        drafts.append(decided)
    if len(drafts) == 1:
        return Written(render(drafts[0]), (drafts[0],), len(cells_of(drafts[0])))
    text, cells = render_many(drafts)
    return Written(text, tuple(drafts), cells)


def _once(page: Page) -> Page:
    """Each project's page read once, however many reports ask."""
    seen: dict[str, Releases | Exception] = {}

    def read(name: str) -> Releases:
        if name not in seen:
            try:
                seen[name] = page(name)
            except Exception as e:  # noqa: BLE001 - the same answer for the next report
                seen[name] = e
        said = seen[name]
        if isinstance(said, Exception):
            raise said
        return said

    return read


def _reports(lines: Sequence[Line], sources: list[str]) -> list[tuple[list[str], list[Line]]]:
    """The files grouped into reports: each file with a target starts one."""
    targets = {c.line.source for c in clues_of(lines) if c.key == "target"}
    groups: list[tuple[list[str], list[Line]]] = []
    for source in dict.fromkeys(sources):
        own = [x for x in lines if x.source == source]
        if source in targets or not groups:
            groups.append(([source], own))
        else:
            groups[-1][0].append(source)
            groups[-1][1].extend(own)
    if len(groups) > 1 and groups[0][0][0] not in targets:  # attachments before any report
        first_sources, first_lines = groups.pop(0)
        groups[0] = (first_sources + groups[0][0], first_lines + groups[0][1])
    return groups


def _names_to_ask(d: Draft) -> list[str]:
    listed = [c.value.partition(": ")[0] for c in d.reading.of("from-versions")]
    return [d.reading.target.name, *listed]


def _no_such_project(d: Draft, target: str, page: Page) -> str:
    fact = d.reading["package"]
    where = f" ({fact.clue.line.where})" if fact.clue is not None else ""
    known = {*KNOWN_PROJECTS, *(c.value.split("==")[0] for c in d.reading.environment)}
    known |= {c.value.split("==")[0] for c in d.reading.of("also-installs")}
    near = closest(target, known - {target}, page)
    said = ", ".join(near) if near else "none of the projects repromatrix knows is close"
    return (
        f"the report's target {target}{where} is not a project on the index (its page "
        f"answers 404); the closest names the index has: {said}\n  hint: check the spelling "
        "in the report, or write the matrix anyway with --offline and set target.package"
    )
