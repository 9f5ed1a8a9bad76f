"""Stage 1: load and validate matrix.yaml into a frozen `Matrix`.

Every error names the file, the line and the key, and suggests a fix. Scalars are kept as
the text the user wrote, so `python: [3.10]` stays "3.10" instead of becoming the float 3.1;
but a plain `yes`/`no`/`on`/`off` where text is expected is refused (YAML 1.1 reads it as a
boolean, and the user rarely means an image named "yes"). Loading is bounded: file size,
value length, nesting depth and the number of values aliases expand to are capped before any
work, so no input can exhaust memory or the stack; every failure is a MatrixError (exit 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from packaging.specifiers import SpecifierSet

from ..core import asof
from ..core.axes import AXES
from ..core.errors import MatrixError, did_you_mean
from ..core.interpreter import rootfs_image
from ..core.model import (
    CacheMode,
    Check,
    Choice,
    ConflictMode,
    DownloadCacheMode,
    Expectation,
    HostSpec,
    IndexSpec,
    Matrix,
    Selection,
    Settings,
    Target,
    check_specifier,
    docker_host_problem,
    parse_target_package,
)
from ..core.outcomes import Outcome, parse_outcome
from ..infra.setupcache import parse_size
from ..installers import REMEDY_NAMES, parse_selection
from .checks import read_checks
from .document import (
    MAX_FILE_BYTES,
    Document,
    KeyPath,
    check_keys,
    mapping,
    scalar,
)
from .environments import environments

SCHEMA_VERSION = "1"
TOP_KEYS = (
    "version",
    "target",
    "axes",
    "exclude",
    "include",
    "expect",
    "settings",
    "checks",
    "remedies",
    "environments",
)
TARGET_KEYS = ("package", "version", "index", "extra_index", "pre", "imports", "as_of")
SETTINGS_KEYS = (
    "timeout",
    "max_parallel",
    "debian_mirror",
    "cache",
    "cache_budget",
    "download_cache",
    "download_cache_budget",
    "max_cells",
    "hosts",
)


def load_matrix(path: str | Path) -> Matrix:
    path = str(path)
    text = _read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise MatrixError(
            path,
            mark.line + 1 if mark else None,
            "",
            f"not valid YAML: {getattr(e, 'problem', e)}",
            "check indentation and quoting around that line",
        ) from None
    except RecursionError:
        raise MatrixError(
            path,
            None,
            "",
            "brackets or indentation nested too deeply to be a matrix",
            "a matrix needs at most 4 levels: key, axis, list, entry",
        ) from None
    doc = Document(path)
    data = doc.convert(root, ()) if root is not None else None
    return _build(doc, data)


def _read_text(path: str) -> str:
    """The file as text: at most MAX_FILE_BYTES, UTF-8 (a BOM is fine), no NUL bytes."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise MatrixError(
            path,
            None,
            "",
            f"cannot read the matrix file ({e.strerror})",
            "pass an existing file with --matrix FILE",
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise MatrixError(
            path,
            None,
            "",
            f"the file is larger than {MAX_FILE_BYTES // 1024} KiB",
            "a matrix is a few dozen lines; is this the right file?",
        )
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise MatrixError(
            path,
            line,
            "",
            "contains a NUL byte: this is not a text file",
            "save the matrix as plain UTF-8 text",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise MatrixError(
            path,
            line,
            "",
            f"is not UTF-8 (byte 0x{data[e.start]:02x} cannot start a character)",
            "save the matrix as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def _build(doc: Document, data: Any) -> Matrix:
    if not isinstance(data, dict):
        doc.fail(
            (),
            "the matrix must be a mapping with at least an 'axes' key",
            "start from the matrix.yaml shipped with repromatrix",
        )
    check_keys(doc, data, (), TOP_KEYS)
    version = data.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        doc.fail(
            ("version",),
            f"unsupported version {version!r}",
            f"this repromatrix reads version {SCHEMA_VERSION}; write 'version: {SCHEMA_VERSION}'",
        )
    if "axes" not in data:
        doc.fail((), "missing key 'axes'", "add e.g. 'axes: {os: [bookworm], install: [venv]}'")
    target = _target(doc, data.get("target"))
    defined = environments(doc, data.get("environments"), target)
    doc.defined["environments"] = frozenset(name for name, _ in defined)
    axes = _axes(doc, data["axes"])
    checks = read_checks(doc, data.get("checks"), ("checks",))
    return Matrix(
        path=doc.path,
        target=target,
        axes=axes,
        exclude=tuple(_entries(doc, data.get("exclude"), "exclude", dict(axes))),
        include=tuple(_entries(doc, data.get("include"), "include", None)),
        expect=tuple(_expectations(doc, data.get("expect"))),
        settings=_settings(doc, data.get("settings")),
        checks=tuple(checks),
        remedies=_remedies(doc, data["remedies"]) if "remedies" in data else Selection(Choice.AUTO),
        environments=_checked_apart(
            doc, defined, read_checks(doc, data.get("checks"), ("checks",))
        ),
    )


def _checked_apart(
    doc: Document, defined: tuple[tuple[str, ConflictMode], ...], checks: list[Check]
) -> tuple[tuple[str, ConflictMode], ...]:
    """An environment's checks run beside the matrix's: one name means one check."""
    names = {c.name for c in checks}
    for env, mode in defined:
        for i, check in enumerate(mode.checks):
            if check.name in names:
                doc.fail(
                    ("environments", env, "checks", i, "name"),
                    f"check {check.name!r} is also one of the matrix's checks",
                    "give it another name",
                )
    return defined


def _remedies(doc: Document, value: Any) -> Selection:
    """`remedies: auto | none | [names]`: which fixes to try on cells that failed."""
    at: KeyPath = ("remedies",)
    if at in doc.booleans and isinstance(value, str):
        # `remedies: off` / `no` is what people write; YAML 1.1 reads it as a boolean, and that is
        # meant.
        return Selection(
            Choice.NONE if value.lower() in ("off", "no", "false", "n") else Choice.AUTO
        )
    if not isinstance(value, (str, list)):
        doc.fail(
            at, "must be auto, none or a list of remedy names", "e.g. 'remedies: [venv, trust-ca]'"
        )
    names = (
        [scalar(doc, v, at + (i,)) for i, v in enumerate(value)]
        if isinstance(value, list)
        else [scalar(doc, value, at)]
    )
    selection, problem = parse_selection(names)
    if selection is None:
        wrong = next((n for n in names if n not in REMEDY_NAMES), "")
        where = at + ((names.index(wrong),) if isinstance(value, list) and wrong else ())
        doc.fail(
            where,
            problem,
            did_you_mean(wrong, ["auto", "none", *REMEDY_NAMES]) + " ('auto': every fix that "
            "applies; 'none'; or a list of names; docs/remedies.md)",
        )
    return selection


def _target(doc: Document, value: Any) -> Target:
    data = mapping(doc, value, ("target",))
    check_keys(doc, data, ("target",), TARGET_KEYS)
    package = scalar(doc, data.get("package", "tensorflow"), ("target", "package")).strip()
    req, problem = parse_target_package(package)
    if req is None:
        doc.fail(
            ("target", "package"),
            problem,
            "write a requirement such as 'tensorflow', 'tf-nightly' or "
            "'tensorflow[and-cuda]' (extras and a '; marker' are allowed)",
        )
    version = scalar(doc, data.get("version", ""), ("target", "version")).strip()
    if bad := check_specifier(version):
        doc.fail(("target", "version"), bad, "use 'newest' or a specifier such as '>=2.16'")
    version = "" if version == "newest" else version
    if req.specifier and version:
        doc.fail(
            ("target", "package"),
            f"{package!r} has a version specifier and target.version says {version!r}",
            "give the version in one place: target.version",
        )
    if req.specifier:
        version = str(req.specifier)
        req.specifier = SpecifierSet()
    index = _index(doc, scalar(doc, data.get("index", "default"), ("target", "index")))
    as_of = scalar(doc, data.get("as_of", ""), ("target", "as_of")).strip()
    if as_of and (bad := asof.problem(as_of)):
        doc.fail(("target", "as_of"), bad, asof.HINT)
    extra = _extra_index(doc, data.get("extra_index"), index, as_of)
    return Target(
        package=str(req),
        version=version,
        index=index,
        pre=_bool(doc, data, ("target", "pre")),
        imports=_imports(doc, data.get("imports"), ("target", "imports")),
        as_of=as_of,
        extra_index=extra,
    )


def _extra_index(doc: Document, value: Any, index: IndexSpec, as_of: str) -> tuple[str, ...]:
    """target.extra_index: http(s) URLs without credentials, or 'local' (with index: local)."""
    if value is None:
        return ()
    at: KeyPath = ("target", "extra_index")
    items = value if isinstance(value, list) else [value]
    urls = []
    for i, item in enumerate(items):
        text = scalar(doc, item, at + (i,)).strip()
        if text == "local":
            if not index.local:
                doc.fail(
                    at + (i,), "'local' is the local index's extra root", "use it with index: local"
                )
            urls.append(text)
            continue
        userinfo = text.partition("://")[2].partition("/")[0].rpartition("@")[0]
        if userinfo:
            doc.fail(
                at + (i,),
                "an extra index with credentials is not supported",
                "give the index that needs credentials as target.index",
            )
        if wrong := url_problem(text):
            doc.fail(
                at + (i,),
                f"is not 'local' or an http(s) URL: {wrong}",
                "write e.g. https://mirror.example/simple/",
            )
        urls.append(text)
    if urls and as_of:
        doc.fail(
            at,
            "an extra index is read as it is now, not as of target.as_of",
            "drop target.as_of or the extra index",
        )
    return tuple(dict.fromkeys(urls))


CREDENTIALS = re.compile(
    r"(?:[A-Za-z0-9._~%!*+,;=-]|\$\{[A-Za-z_][A-Za-z0-9_]*\})+"
    r"(?::(?:[A-Za-z0-9._~%!*+,;=-]|\$\{[A-Za-z_][A-Za-z0-9_]*\})*)?"
)


def _index(doc: Document, text: str) -> IndexSpec:
    """'default', 'local', 'local-auth' or an http(s) URL, whose userinfo is kept apart as
    credentials."""
    at: KeyPath = ("target", "index")
    hint = (
        "'default' uses pip's own index; 'local' (or 'local-auth') starts repromatrix's offline "
        "index; a "
        "private index: https://<user>:<${TOKEN_VARIABLE}>@<host>/simple without the brackets, the "
        "token "
        "from the environment"
    )
    if text in ("default", "local", "local-auth"):
        return IndexSpec(
            kind="default" if text == "default" else "local", auth=text == "local-auth"
        )
    scheme, sep, rest = text.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at_sign, host = netloc.rpartition("@")
    public = f"{scheme}{sep}{host}{slash}{path}" if at_sign else text
    if wrong := url_problem(public):  # says the URL without its credentials, never with them
        doc.fail(at, f"is not 'default', 'local' or an http(s) URL: {wrong}", hint)
    if at_sign and not CREDENTIALS.fullmatch(userinfo):
        doc.fail(
            at,
            f"the credentials in {public!r} are not USER:PASSWORD (letters, digits, %-escapes or "
            "${VARIABLE})",
            hint,
        )
    return IndexSpec(kind="url", url=public, credentials=userinfo)


def _bool(doc: Document, data: dict[str, Any], at: KeyPath) -> bool:
    doc.booleans.discard(at)  # a boolean is what this key wants
    text = scalar(doc, data.get(at[-1], "false"), at).lower()
    if text not in ("true", "false"):
        doc.fail(at, f"{text!r} is not true or false", f"write '{at[-1]}: true'")
    return text == "true"


def _imports(doc: Document, value: Any, at: KeyPath) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    names = []
    for i, item in enumerate(items):
        name = scalar(doc, item, at + (i,))
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            doc.fail(
                at + (i,),
                f"{name!r} is not an importable module name",
                "write e.g. 'tensorflow' or 'google.protobuf'",
            )
        names.append(name)
    return tuple(names)


def _axis_value(doc: Document, name: str, value: Any, at: KeyPath) -> str:
    text = scalar(doc, value, at)
    axis = AXES[name]
    if text in doc.defined.get(axis.defined_by, frozenset()):
        return text  # a name the matrix defines (an environment)
    if problem := axis.check(text):
        extra = sorted(doc.defined.get(axis.defined_by, ()))
        defined = f" (the matrix defines: {', '.join(extra)})" if extra else ""
        doc.fail(at, problem + defined, f"{name}: {axis.doc}")
    if name == "os" and rootfs_image(text) is not None:
        _rootfs_inside(doc, text, at)
    return text


def _rootfs_inside(doc: Document, text: str, at: KeyPath) -> None:
    """A root file system tarball: a regular file inside the matrix's folder."""
    folder = Path(doc.path).resolve().parent
    path = (folder / text).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        doc.fail(
            at,
            f"{text!r} is not a file inside the matrix's folder ({folder.name}/)",
            "put the root file system tarball beside the matrix and name it relative to it",
        )


def _axes(doc: Document, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    data = mapping(doc, value, ("axes",))
    check_keys(doc, data, ("axes",), tuple(AXES))
    axes = []
    for name, values in data.items():
        items = values if isinstance(values, list) else [values]
        if not items:
            doc.fail(
                ("axes", name), "has no values", f"list at least one, e.g. [{AXES[name].default}]"
            )
        texts = [_axis_value(doc, name, v, ("axes", name, i)) for i, v in enumerate(items)]
        same = [AXES[name].canonical(t) for t in texts]
        for i, text in enumerate(texts):
            if same[i] in same[:i]:
                first = texts[same.index(same[i])]
                doc.fail(
                    ("axes", name, i),
                    f"value {text!r} is listed twice"
                    + (f" ({first!r} is the same version)" if first != text else ""),
                    "remove the repeat",
                )
        axes.append((name, tuple(texts)))
    return tuple(axes)


def _entries(
    doc: Document, value: Any, section: str, axes: dict[str, tuple[str, ...]] | None
) -> list[tuple[tuple[str, str], ...]]:
    """exclude/include entries; exclude entries must name values the axes have."""
    if value is None:
        return []
    if not isinstance(value, list):
        doc.fail(
            (section,),
            "must be a list of mappings",
            f"write '{section}:' then '- os: bookworm' items",
        )
    out = []
    for i, item in enumerate(value):
        entry = mapping(doc, item, (section, i))
        check_keys(doc, entry, (section, i), tuple(AXES))
        pairs = tuple((k, _axis_value(doc, k, v, (section, i, k))) for k, v in entry.items())
        if axes is not None:
            _check_matches_axes(doc, pairs, axes, (section, i))
        out.append(pairs)
    return out


def _check_matches_axes(
    doc: Document,
    pairs: tuple[tuple[str, str], ...],
    axes: dict[str, tuple[str, ...]],
    at: KeyPath,
) -> None:
    for key, val in pairs:
        if key not in axes:
            doc.fail(
                at + (key,),
                f"{key!r} is not an axis of this matrix, so this matches nothing",
                f"axes here: {', '.join(axes)}",
            )
        if val not in axes[key]:
            doc.fail(
                at + (key,),
                f"{val!r} is not a value of axis {key!r}, so this matches nothing",
                did_you_mean(val, axes[key]),
            )


def _expectations(doc: Document, value: Any) -> list[Expectation]:
    if value is None:
        return []
    if not isinstance(value, list):
        doc.fail(
            ("expect",),
            "must be a list",
            "write '- {os: bookworm, install: system, outcome: externally-managed}'",
        )
    out = []
    for i, item in enumerate(value):
        at: KeyPath = ("expect", i)
        entry = dict(mapping(doc, item, at))
        if "outcome" not in entry:
            doc.fail(at, "has no 'outcome'", "add e.g. 'outcome: upgraded'")
        outcomes = _outcomes(doc, entry.pop("outcome"), at + ("outcome",))
        check_keys(doc, entry, at, tuple(AXES) + ("outcome",))
        match = tuple((k, _axis_value(doc, k, v, at + (k,))) for k, v in entry.items())
        out.append(Expectation(match=match, outcomes=outcomes, line=doc.lines.get(at)))
    return out


def _outcomes(doc: Document, value: Any, at: KeyPath) -> tuple[Outcome, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        text = scalar(doc, item, at + (i,) if isinstance(value, list) else at)
        outcome = parse_outcome(text)
        if outcome is None:
            doc.fail(
                at, f"unknown outcome {text!r}", did_you_mean(text, [o.value for o in Outcome])
            )
        out.append(outcome)
    return tuple(out)


def _settings(doc: Document, value: Any) -> Settings:
    data = mapping(doc, value, ("settings",))
    check_keys(doc, data, ("settings",), SETTINGS_KEYS)
    defaults = Settings()
    mirror = scalar(doc, data.get("debian_mirror", ""), ("settings", "debian_mirror"))
    if mirror and (wrong := url_problem(mirror)):
        doc.fail(
            ("settings", "debian_mirror"),
            f"is not an http(s) URL: {wrong}",
            "leave it empty for debootstrap's own default mirror",
        )
    return Settings(
        timeout=_positive(doc, data, "timeout", defaults.timeout),
        max_parallel=_positive(doc, data, "max_parallel", defaults.max_parallel),
        debian_mirror=mirror,
        cache=_cache_mode(doc, data),
        cache_budget=_cache_budget(doc, data),
        download_cache=_download_cache(doc, data),
        download_cache_budget=_cache_budget(doc, data, "download_cache_budget"),
        max_cells=_positive(doc, data, "max_cells", defaults.max_cells),
        hosts=_hosts(doc, data.get("hosts")),
    )


def _hosts(doc: Document, value: Any) -> tuple[HostSpec, ...]:
    """settings.hosts: Docker engines, each a URL or {url: ..., max_parallel: N}."""
    if value is None:
        return ()
    at: KeyPath = ("settings", "hosts")
    if not isinstance(value, list) or not value:
        doc.fail(
            at,
            "must be a list of Docker engines",
            "e.g. 'hosts: [default, {url: \"ssh://ci@build2\", max_parallel: 4}]'",
        )
    out = []
    for i, item in enumerate(value):
        data = item if isinstance(item, dict) else {"url": item}
        check_keys(doc, data, at + (i,), ("url", "max_parallel"))
        url = scalar(doc, data.get("url", ""), at + (i, "url"))
        if problem := docker_host_problem(url):
            doc.fail(at + (i, "url"), problem, "'default' is the engine DOCKER_HOST names")
        parallel = (
            _positive(doc, data, "max_parallel", 2, at + (i,)) if "max_parallel" in data else None
        )
        out.append(HostSpec(url, parallel))
    if len({h.url for h in out}) < len(out):
        doc.fail(at, "names one engine twice", "list each Docker engine once")
    return tuple(out)


def _cache_mode(doc: Document, data: dict[str, Any]) -> CacheMode:
    if "cache" not in data:
        return CacheMode.REUSE
    at = ("settings", "cache")
    if at in doc.booleans and isinstance(data["cache"], str):
        # `cache: off` is what people write; YAML 1.1 reads it as a boolean, and here that is meant.
        return (
            CacheMode.OFF
            if data["cache"].lower() in ("off", "no", "false", "n")
            else CacheMode.REUSE
        )
    text = scalar(doc, data["cache"], at)
    try:
        return CacheMode(text)
    except ValueError:
        doc.fail(
            ("settings", "cache"),
            f"unknown cache mode {text[:40]!r}",
            did_you_mean(text, [m.value for m in CacheMode])
            + " (reuse: cached setups; refresh: rebuild "
            "them now; off: build every cell from scratch)",
        )


def _download_cache(doc: Document, data: dict[str, Any]) -> DownloadCacheMode:
    at = ("settings", "download_cache")
    if "download_cache" not in data:
        return DownloadCacheMode.AUTO
    if at in doc.booleans and isinstance(data["download_cache"], str):
        # `on` / `off` as people write them; YAML 1.1 reads them as booleans
        said = data["download_cache"].lower() in ("off", "no", "false", "n")
        return DownloadCacheMode.OFF if said else DownloadCacheMode.ON
    text = scalar(doc, data["download_cache"], at)
    try:
        return DownloadCacheMode(text)
    except ValueError:
        doc.fail(
            at,
            f"unknown download cache mode {text[:40]!r}",
            did_you_mean(text, [m.value for m in DownloadCacheMode])
            + " (auto: for an index on the network; on: also for the local index; off: every "
            "cell downloads from the index itself)",
        )


BUDGET_DEFAULTS = {
    "cache_budget": "half of the free disk",
    "download_cache_budget": "20 GB",
}


def _cache_budget(doc: Document, data: dict[str, Any], key: str = "cache_budget") -> int | None:
    if key not in data:
        return None
    text = scalar(doc, data[key], ("settings", key))
    size = parse_size(text)
    if size is None:
        doc.fail(
            ("settings", key),
            f"{text[:40]!r} is not a size",
            f"e.g. '{key}: 20GB' "
            f"(B, KB, MB, GB, TB, or KiB ... TiB); leave it out for {BUDGET_DEFAULTS[key]}",
        )
    return size


LIMITS = {"timeout": 7 * 24 * 3600, "max_parallel": 256, "max_cells": 100_000_000}


def _positive(
    doc: Document, data: dict[str, Any], key: str, default: int, at: KeyPath = ("settings",)
) -> int:
    if key not in data:
        return default
    text = scalar(doc, data[key], at + (key,))
    number = int(text) if re.fullmatch(r"[0-9]{1,9}", text) else 0
    if number <= 0:
        doc.fail(
            at + (key,), f"{text[:40]!r} is not a positive whole number", f"e.g. '{key}: {default}'"
        )
    if number > LIMITS[key]:
        doc.fail(at + (key,), f"{number} is more than {LIMITS[key]}", f"e.g. '{key}: {default}'")
    return number


def url_problem(text: str) -> str | None:
    """What makes `text` unusable as an http(s) URL in a Dockerfile or on a command line, if
    anything."""
    if bad := next(
        (ch for ch in text if ch.isspace() or ch in "\"'`\\<>{}|^" or ord(ch) < 32), None
    ):
        return f"{text[:60]!r} contains {bad!r}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{text[:60]!r} does not start with http:// or https:// and a host"
    return None
