"""A bug report as lines: what people paste into an issue (Markdown, code fences, the issue
templates' headings), each line kept with its file and number so that every value inferred
from it can cite it. A report is data: it is read, never run, and nothing in it names a file
to open."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UsageError
from ..core.files import read_regular

MAX_REPORT = 4 * 1024 * 1024  # an issue body is at most 65,536 characters; logs are attached
QUOTE_LIMIT = 90
STDIN = "-"

# Markdown that is not the reporter's words: emphasis, code spans, inline HTML the templates use.
MARKUP = re.compile(r"\*\*|__|`|</?(?:em|b|strong|code|br)\s*/?>", re.IGNORECASE)
# A line's lead: quote marks, a heading's hashes, a list bullet or checkbox, a number.
LEAD = re.compile(r"^\s*(?:>\s*)*(?:#{1,6}\s+|[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+)?")
# The templates' own examples ("(e.g., Linux Ubuntu 16.04)"): never the reporter's system.
EXAMPLE = re.compile(r"\s*\((?:e\.\s?g\.?|for example|use command below)[^)]*\)", re.IGNORECASE)
# A fence opens or closes a block; '```pip install x```' on one line is inline code.
FENCE = re.compile(r"^\s*(?:```|~~~)[^`]*$")
# Hidden in the rendered issue: the templates' instructions and examples live in them.
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s]+@")
HEADING = re.compile(r"^\s*#{2,6}\s+(?P<label>.+?)\s*#*\s*$")
# An issue copied with its title ('# Cannot install with pip'); not conda list's own first line
TITLE = re.compile(r"^# (?!packages in environment at )\S")
# A template's one-line field in a list ('- Python version: 3.8'): the next field, not an answer
LIST_FIELD = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\*\*)?[A-Za-z][\w /?.,'()&-]{1,60}?:")
BOLD_ONLY = re.compile(r"^\s*\*\*[^*]+\*\*\s*$")  # '**Describe the problem**': a heading
LABELLED = re.compile(r"^(?P<label>[A-Za-z][\w /?.,'()&-]{1,80}?)\s*:\s*(?P<value>.*)$")


@dataclass(frozen=True)
class Line:
    """One line of a report, with where it is."""

    source: str  # the file's name as the user gave it, without folders; 'stdin' for '-'
    number: int
    text: str  # as written, control characters removed
    plain: str  # without Markdown and the template's examples: what the reporter typed
    fenced: bool  # inside a ``` block: pasted output, not prose
    block: int  # the paragraph or fenced block it is in (a blank line or a fence ends one)
    title: bool = False  # the file's first line, a '# ' heading: the title, not a step

    @property
    def where(self) -> str:
        return f"{self.source}:{self.number}"

    def quote(self) -> str:
        """The line as a comment may cite it: one line, short, no credentials in URLs."""
        said = USERINFO.sub(r"\1***@", self.plain.strip())
        return said if len(said) <= QUOTE_LIMIT else said[: QUOTE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Field:
    """A field of an issue template ('Python version: 3.11', or '### Python version' over its
    answer), its label normalised ('python version')."""

    label: str
    value: str
    line: Line  # the line the value is on


def read_reports(names: Sequence[str]) -> list[Line]:
    """Every line of every report named ('-' is standard input), in order."""
    lines: list[Line] = []
    for name in names:
        after = lines[-1].block + 1 if lines else 0  # a file's first block is its own
        lines.extend(lines_of(_text(name), source_label(name), block_base=after))
    return lines


def source_label(name: str) -> str:
    return "stdin" if name == STDIN else Path(name).name


def _text(name: str) -> str:
    if name == STDIN:
        data = sys.stdin.buffer.read(MAX_REPORT + 1)
        if len(data) > MAX_REPORT:
            raise UsageError(f"standard input: more than {MAX_REPORT} bytes; is this a report?")
    else:
        data = read_regular(Path(name), "a report", MAX_REPORT)
    return data.decode("utf-8-sig", errors="replace")


def lines_of(text: str, source: str, block_base: int = 0) -> list[Line]:
    out: list[Line] = []
    fenced, block = False, block_base
    # Blank out comments, keeping their newlines so that line numbers stay the report's.
    text = HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for number, raw in enumerate(text.splitlines(), start=1):
        clean = CONTROL.sub("", raw.replace("\t", "    "))
        if FENCE.match(clean):
            fenced, block = not fenced, block + 1
            continue
        if not clean.strip():
            block += 1
            continue
        is_title = not out and not fenced and bool(TITLE.match(clean))
        out.append(Line(source, number, clean, plain_text(clean), fenced, block, is_title))
    return out


def plain_text(text: str) -> str:
    return EXAMPLE.sub("", LEAD.sub("", MARKUP.sub("", text))).strip()


def normalised(label: str) -> str:
    """'Installed using virtualenv? pip? conda?' -> 'installed using virtualenv pip conda'."""
    label = re.sub(r"\([^)]*\)", " ", label.lower())
    return " ".join(re.sub(r"[?:*_]", " ", label).split())


def fields(lines: Sequence[Line], known: re.Pattern[str]) -> list[Field]:
    """The template fields whose normalised label `known` matches, with their answers: on the
    label's line, or (an empty one-line field, or a heading) on the next line that is not
    itself a label."""
    found: list[Field] = []
    for i, line in enumerate(lines):
        if line.fenced:
            continue
        heading = HEADING.match(line.text)
        labelled = None if heading else LABELLED.match(line.plain)
        label = _label_of(heading or labelled)
        name = normalised(plain_text(label))
        if not name or not known.fullmatch(name):
            continue
        value = labelled.group("value").strip() if labelled else ""
        if value:
            found.append(Field(name, value, line))
            continue
        answer = _answer(lines, i, same_block=heading is None)
        if answer is not None:
            found.append(Field(name, answer.plain, answer))
    return found


def _label_of(match: re.Match[str] | None) -> str:
    return match.group("label") if match else ""


def _answer(lines: Sequence[Line], i: int, same_block: bool) -> Line | None:
    """The line after a label or heading, if it answers it: under a one-line label, on the
    next line of its paragraph; under a heading, the next line that is no heading or label."""
    if i + 1 >= len(lines):
        return None
    nxt = lines[i + 1]
    moved_on = same_block and nxt.block != lines[i].block
    is_question = bool(HEADING.match(nxt.text) or BOLD_ONLY.match(nxt.text))
    is_label = nxt.plain.rstrip().endswith(":") or bool(LIST_FIELD.match(nxt.text))
    return None if moved_on or is_question or is_label or not nxt.plain else nxt
