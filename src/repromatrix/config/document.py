"""The matrix file as YAML read into plain data, with the line of every key and item, and the
readers of its values that every section shares (config/matrix.py, config/environments.py): a
failure names file, line and key (MatrixError, exit 2)."""

from __future__ import annotations

from typing import Any, NoReturn

import yaml

from ..core.errors import MatrixError, did_you_mean

KeyPath = tuple[Any, ...]
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 20_000  # scalars, lists and mappings after aliases are expanded
MAX_DEPTH = 12  # the deepest real matrix is 4 levels
MAX_TEXT = 1_000  # characters of one value; a check's Python snippet may have MAX_SNIPPET
MAX_SNIPPET = 20_000
IMPLICIT_BOOL = "tag:yaml.org,2002:bool"


class Document:
    """The YAML document as plain data, plus the line of every key and item."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[KeyPath, int] = {}
        self.booleans: set[KeyPath] = (
            set()
        )  # plain scalars YAML 1.1 reads as booleans (yes, off, ...)
        self.values = 0
        # Names the document defines for an axis, by the key that defines them (environments)
        self.defined: dict[str, frozenset[str]] = {}

    def convert(self, node: yaml.Node, at: KeyPath) -> Any:
        self.lines.setdefault(at, node.start_mark.line + 1)
        self.values += 1
        if self.values > MAX_VALUES:
            self.fail(
                at,
                f"the document expands to more than {MAX_VALUES} values (YAML aliases?)",
                "write the matrix out without aliases (&name / *name)",
            )
        if len(at) > MAX_DEPTH:
            self.fail(
                at,
                f"is nested more than {MAX_DEPTH} levels deep (a self-referencing alias?)",
                "a matrix needs at most 4 levels: key, axis, list, entry",
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, at + (i,)) for i, item in enumerate(node.value)]
        if node.tag == "tag:yaml.org,2002:null":
            return None
        if node.tag == IMPLICIT_BOOL and isinstance(node, yaml.ScalarNode) and node.style is None:
            self.booleans.add(at)
        return str(node.value)

    def _mapping(self, node: yaml.MappingNode, at: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(
                    at, "has a key that is a list or mapping", "keys are plain words such as 'os'"
                )
            key = str(key_node.value)
            if len(key) > 100 or any(ord(ch) < 32 for ch in key):
                self.fail(
                    at,
                    f"has a key that is not a plain word: {key[:40]!r}",
                    "keys are words such as 'os'",
                )
            self.lines[at + (key,)] = key_node.start_mark.line + 1
            if key in out:
                self.fail(at + (key,), "appears twice in the same mapping", "keep one of them")
            out[key] = self.convert(value_node, at + (key,))
        return out

    def fail(self, at: KeyPath, problem: str, hint: str = "") -> NoReturn:
        line = next(
            (self.lines[at[:n]] for n in range(len(at), -1, -1) if at[:n] in self.lines), None
        )
        raise MatrixError(self.path, line, dotted(at), problem, hint)


def dotted(at: KeyPath) -> str:
    text = ""
    for part in at:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def check_keys(doc: Document, data: dict[str, Any], at: KeyPath, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            doc.fail(at + (key,), f"unknown key {key!r}", did_you_mean(key, allowed))


def mapping(doc: Document, value: Any, at: KeyPath) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        doc.fail(at, "must be a mapping of 'key: value' lines")
    return value


def scalar(
    doc: Document, value: Any, at: KeyPath, limit: int = MAX_TEXT, lines: bool = False
) -> str:
    """A value that is text: no list or mapping, no implicit boolean, bounded, no control
    characters."""
    if not isinstance(value, str):
        doc.fail(at, "must be a single value, not a list or mapping")
    if at in doc.booleans:
        doc.fail(
            at,
            f"YAML reads the unquoted {value!r} as a boolean, not as text",
            f"write '{value}' in quotes if you mean it",
        )
    if len(value) > limit:
        doc.fail(
            at, f"is {len(value)} characters long (at most {limit})", "is this the value you meant?"
        )
    allowed = "\n\t" if lines else ""
    if bad := next(
        (ch for ch in value if (ord(ch) < 32 and ch not in allowed) or ord(ch) == 127), None
    ):
        doc.fail(
            at,
            f"contains the control character U+{ord(bad):04X}",
            "remove it (a stray line break or tab?)",
        )
    return value
