"""Stage 1: load and validate matrix.yaml into a frozen `Matrix`.

Every error names the file, the line and the key, and suggests a fix. Scalars are kept as
the text the user wrote, so `python: [3.10]` stays "3.10" instead of becoming the float 3.1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .errors import MatrixError, did_you_mean
from .model import AXIS_SPECS, Expectation, Matrix, Settings, Target, check_specifier
from .outcomes import Outcome, parse_outcome

SCHEMA_VERSION = "1"
TOP_KEYS = ("version", "target", "axes", "exclude", "include", "expect", "settings")
TARGET_KEYS = ("package", "version", "index")
SETTINGS_KEYS = ("timeout", "max_parallel", "debian_mirror")
KeyPath = tuple[Any, ...]


class _Document:
    """The YAML document as plain data, plus the line of every key and item."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[KeyPath, int] = {}

    def convert(self, node: yaml.Node, at: KeyPath) -> Any:
        self.lines.setdefault(at, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, at + (i,)) for i, item in enumerate(node.value)]
        if node.tag == "tag:yaml.org,2002:null":
            return None
        return str(node.value)

    def _mapping(self, node: yaml.MappingNode, at: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            self.lines[at + (key,)] = key_node.start_mark.line + 1
            if key in out:
                self.fail(at + (key,), "appears twice in the same mapping", "keep one of them")
            out[key] = self.convert(value_node, at + (key,))
        return out

    def fail(self, at: KeyPath, problem: str, hint: str = "") -> NoReturn:
        line = next((self.lines[at[:n]] for n in range(len(at), -1, -1) if at[:n] in self.lines), None)
        raise MatrixError(self.path, line, _dotted(at), problem, hint)


def _dotted(at: KeyPath) -> str:
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def load_matrix(path: str | Path) -> Matrix:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise MatrixError(path, None, "", f"cannot read the matrix file ({e.strerror})",
                          "pass an existing file with --matrix FILE") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise MatrixError(path, mark.line + 1 if mark else None, "",
                          f"not valid YAML: {getattr(e, 'problem', e)}",
                          "check indentation and quoting around that line") from None
    doc = _Document(path)
    data = doc.convert(root, ()) if root is not None else None
    return _build(doc, data)


def _build(doc: _Document, data: Any) -> Matrix:
    if not isinstance(data, dict):
        doc.fail((), "the matrix must be a mapping with at least an 'axes' key",
                 "start from the matrix.yaml shipped with repromatrix")
    _check_keys(doc, data, (), TOP_KEYS)
    version = data.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        doc.fail(("version",), f"unsupported version {version!r}",
                 f"this repromatrix reads version {SCHEMA_VERSION}; write 'version: {SCHEMA_VERSION}'")
    if "axes" not in data:
        doc.fail((), "missing key 'axes'", "add e.g. 'axes: {os: [bookworm], install: [venv]}'")
    axes = _axes(doc, data["axes"])
    return Matrix(
        path=doc.path,
        target=_target(doc, data.get("target")),
        axes=axes,
        exclude=tuple(_entries(doc, data.get("exclude"), "exclude", dict(axes))),
        include=tuple(_entries(doc, data.get("include"), "include", None)),
        expect=tuple(_expectations(doc, data.get("expect"))),
        settings=_settings(doc, data.get("settings")),
    )


def _check_keys(doc: _Document, data: dict[str, Any], at: KeyPath, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            doc.fail(at + (key,), f"unknown key {key!r}", did_you_mean(key, allowed))


def _mapping(doc: _Document, value: Any, at: KeyPath) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        doc.fail(at, "must be a mapping of 'key: value' lines")
    return value


def _scalar(doc: _Document, value: Any, at: KeyPath) -> str:
    if not isinstance(value, str):
        doc.fail(at, "must be a single value, not a list or mapping")
    return value


def _target(doc: _Document, value: Any) -> Target:
    data = _mapping(doc, value, ("target",))
    _check_keys(doc, data, ("target",), TARGET_KEYS)
    package = _scalar(doc, data.get("package", "tensorflow"), ("target", "package"))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", package):
        doc.fail(("target", "package"), f"{package!r} is not a package name")
    version = _scalar(doc, data.get("version", ""), ("target", "version")).strip()
    if problem := check_specifier(version):
        doc.fail(("target", "version"), problem, "use 'newest' or a specifier such as '>=2.16'")
    index = _scalar(doc, data.get("index", "default"), ("target", "index"))
    if index not in ("default", "local") and not re.fullmatch(r"https?://\S+", index):
        doc.fail(("target", "index"), f"{index!r} is not 'default', 'local' or an http(s) URL",
                 "'default' uses pip's own index; 'local' starts repromatrix's offline index")
    return Target(package=package, version="" if version == "newest" else version, index=index)


def _axis_value(doc: _Document, name: str, value: Any, at: KeyPath) -> str:
    text = _scalar(doc, value, at)
    if problem := AXIS_SPECS[name].check(text):
        doc.fail(at, problem, f"{name}: {AXIS_SPECS[name].doc}")
    return text


def _axes(doc: _Document, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    data = _mapping(doc, value, ("axes",))
    _check_keys(doc, data, ("axes",), tuple(AXIS_SPECS))
    axes = []
    for name, values in data.items():
        items = values if isinstance(values, list) else [values]
        if not items:
            doc.fail(("axes", name), "has no values", f"list at least one, e.g. [{AXIS_SPECS[name].default}]")
        texts = [_axis_value(doc, name, v, ("axes", name, i)) for i, v in enumerate(items)]
        for i, text in enumerate(texts):
            if text in texts[:i]:
                doc.fail(("axes", name, i), f"value {text!r} is listed twice", "remove the repeat")
        axes.append((name, tuple(texts)))
    return tuple(axes)


def _entries(doc: _Document, value: Any, section: str,
             axes: dict[str, tuple[str, ...]] | None) -> list[tuple[tuple[str, str], ...]]:
    """exclude/include entries; exclude entries must name values the axes have."""
    if value is None:
        return []
    if not isinstance(value, list):
        doc.fail((section,), "must be a list of mappings", f"write '{section}:' then '- os: bookworm' items")
    out = []
    for i, item in enumerate(value):
        entry = _mapping(doc, item, (section, i))
        _check_keys(doc, entry, (section, i), tuple(AXIS_SPECS))
        pairs = tuple((k, _axis_value(doc, k, v, (section, i, k))) for k, v in entry.items())
        if axes is not None:
            _check_matches_axes(doc, pairs, axes, (section, i))
        out.append(pairs)
    return out


def _check_matches_axes(doc: _Document, pairs: tuple[tuple[str, str], ...],
                        axes: dict[str, tuple[str, ...]], at: KeyPath) -> None:
    for key, val in pairs:
        if key not in axes:
            doc.fail(at + (key,), f"{key!r} is not an axis of this matrix, so this matches nothing",
                     f"axes here: {', '.join(axes)}")
        if val not in axes[key]:
            doc.fail(at + (key,), f"{val!r} is not a value of axis {key!r}, so this matches nothing",
                     did_you_mean(val, axes[key]))


def _expectations(doc: _Document, value: Any) -> list[Expectation]:
    if value is None:
        return []
    if not isinstance(value, list):
        doc.fail(("expect",), "must be a list",
                 "write '- {os: bookworm, install: system, outcome: externally-managed}'")
    out = []
    for i, item in enumerate(value):
        at: KeyPath = ("expect", i)
        entry = dict(_mapping(doc, item, at))
        if "outcome" not in entry:
            doc.fail(at, "has no 'outcome'", "add e.g. 'outcome: upgraded'")
        outcomes = _outcomes(doc, entry.pop("outcome"), at + ("outcome",))
        _check_keys(doc, entry, at, tuple(AXIS_SPECS) + ("outcome",))
        match = tuple((k, _axis_value(doc, k, v, at + (k,))) for k, v in entry.items())
        out.append(Expectation(match=match, outcomes=outcomes, line=doc.lines.get(at)))
    return out


def _outcomes(doc: _Document, value: Any, at: KeyPath) -> tuple[Outcome, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        text = _scalar(doc, item, at + (i,) if isinstance(value, list) else at)
        outcome = parse_outcome(text)
        if outcome is None:
            doc.fail(at, f"unknown outcome {text!r}", did_you_mean(text, [o.value for o in Outcome]))
        out.append(outcome)
    return tuple(out)


def _settings(doc: _Document, value: Any) -> Settings:
    data = _mapping(doc, value, ("settings",))
    _check_keys(doc, data, ("settings",), SETTINGS_KEYS)
    defaults = Settings()
    mirror = _scalar(doc, data.get("debian_mirror", ""), ("settings", "debian_mirror"))
    return Settings(
        timeout=_positive(doc, data, "timeout", defaults.timeout),
        max_parallel=_positive(doc, data, "max_parallel", defaults.max_parallel),
        debian_mirror=mirror,
    )


def _positive(doc: _Document, data: dict[str, Any], key: str, default: int) -> int:
    if key not in data:
        return default
    text = _scalar(doc, data[key], ("settings", key))
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number <= 0:
        doc.fail(("settings", key), f"{text!r} is not a positive whole number", f"e.g. '{key}: {default}'")
    return number
