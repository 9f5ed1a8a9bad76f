"""Every clue a report's lines give, from every recogniser: what tools print (pasted.py), the
command and the installer's output (said.py), the templates' fields and the prose
(template.py). A new kind of pasted text is one more function in one of them, listed in its
RECOGNISERS."""

from __future__ import annotations

from collections.abc import Sequence

from . import pasted, said, template
from .clue import FIELD, OUTPUT, PROSE, Clue, Key, Recogniser
from .pasted import TENSORFLOW
from .report import Line
from .said import KNOWN_PROJECTS, Command, parse_command, requirement_of

RECOGNISERS: tuple[Recogniser, ...] = (
    *pasted.RECOGNISERS,
    *said.RECOGNISERS,
    *template.RECOGNISERS,
    *pasted.LISTS,
)


def clues_of(lines: Sequence[Line]) -> list[Clue]:
    return [clue for recognise in RECOGNISERS for clue in recognise(lines)]


__all__ = [
    "FIELD",
    "KNOWN_PROJECTS",
    "OUTPUT",
    "PROSE",
    "TENSORFLOW",
    "Clue",
    "Command",
    "Key",
    "clues_of",
    "parse_command",
    "requirement_of",
]
