"""What the index says about a report: is its target a project there (asked once, of the index
the host's pip is configured with), and which platforms and Pythons pip's 'from versions:' list
fits. pip lists every version with a file it could take: a wheel whose tags and Requires-Python
fit the interpreter, or a source distribution. So the list, set beside the index's files, says
where the reporter was: 'none' on Windows is a 32-bit Python when the index has 64-bit wheels
for that Python; only 2.2.2 and older of torch on a Mac is an Intel Mac."""

from __future__ import annotations

import base64
import datetime
import difflib
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import mac_platforms
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ..core.platforms import manylinux_platforms
from ..infra.hostca import detect_host_ca
from ..judge.index import IndexFile, Releases, fetch_releases, pip_default_index
from ..judge.wheelmatch import CellTags

Page = Callable[[str], Releases]  # a project's files; raises urllib.error.HTTPError (404) if none

PYTHONS = ("2.7", *(f"3.{m}" for m in range(5, 15)))
GLIBC = (2, 35)  # a current Linux: every manylinux tag up to it


@dataclass(frozen=True)
class Where:
    """A platform a reporter may be on, as the matrix names it, and the wheel platforms its
    interpreter takes."""

    name: str  # 'linux' (amd64), 'linux-arm64', 'windows-x86', 'macos-x86_64', ...
    said: str  # 'Linux x86_64', 'Windows, a 32-bit Python'
    platforms: tuple[str, ...]


PLACES = (
    Where("linux", "Linux x86_64", manylinux_platforms("x86_64", GLIBC)),
    Where("linux-arm64", "Linux aarch64", manylinux_platforms("aarch64", GLIBC)),
    Where("linux-armhf", "Linux armv7l", manylinux_platforms("armv7l", GLIBC)),
    Where("windows-amd64", "Windows (a 64-bit Python)", ("win_amd64",)),
    Where("windows-x86", "Windows (a 32-bit Python)", ("win32",)),
    Where("windows-arm64", "Windows on ARM64", ("win_arm64",)),
    Where("macos-x86_64", "macOS (Intel)", tuple(mac_platforms((14, 0), "x86_64"))),
    Where("macos-arm64", "macOS (Apple silicon)", tuple(mac_platforms((14, 0), "arm64"))),
)


@dataclass
class Answer:
    """The index's answers for one report: what was checked, what was found."""

    checked: bool
    why_not: str = ""  # why nothing was checked ('--offline', the error)
    pages: dict[str, Releases] = field(default_factory=dict)  # by canonical name
    missing: set[str] = field(default_factory=set)  # names the index has no project for


def host_index_url(python: str = sys.executable) -> str:
    """The index the host's pip reads: its configuration's index-url (PIP_INDEX_URL included),
    else pip's default."""
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    found = [
        (key.strip(), value.strip().strip("'\""))
        for key, sep, value in (line.partition("=") for line in out.splitlines())
        if sep and key.strip().split(".")[-1] == "index-url"
    ]
    found.sort(key=lambda kv: not kv[0].startswith(":env:"))  # the environment beats files
    return found[0][1] if found else pip_default_index(python)


def index_pages(url: str, context: ssl.SSLContext | None = None) -> Page:
    """A project's page on the index; credentials in the URL (PIP_INDEX_URL may hold them) go
    in a header, never into a message."""
    parts = urllib.parse.urlsplit(url)
    authorization = None
    if parts.username is not None:
        pair = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return lambda name: fetch_releases(url, name, context, 30, authorization)


def host_context() -> ssl.SSLContext:
    """TLS as the host's pip has it: the CA bundle its configuration names, else the system's."""
    ca = detect_host_ca()
    return ssl.create_default_context(cafile=str(ca.path) if ca else None)


def ask(page: Page, names: Iterable[str]) -> Answer:
    """Each project's page, once; a 404 is a project the index does not have. An index that
    cannot be read is said, not fatal: the matrix is still written."""
    answer = Answer(checked=True)
    for name in dict.fromkeys(canonicalize_name(n) for n in names):
        try:
            answer.pages[name] = page(name)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                return Answer(False, f"the index answered {e.code} for {name}'s page")
            answer.missing.add(name)
        except (OSError, ValueError) as e:  # unreachable, TLS, a page that is not one
            reason = getattr(e, "reason", None) or e
            return Answer(False, f"the index could not be read ({reason})")
    return answer


def closest(name: str, known: Iterable[str], page: Page) -> list[str]:
    """The names nearest to a misspelt one that the index does have."""
    near = difflib.get_close_matches(canonicalize_name(name), sorted(set(known)), n=5, cutoff=0.6)
    found = []
    for candidate in near:
        answer = ask(page, [candidate])
        if candidate in answer.pages:
            found.append(candidate)
        if len(found) == 3:
            break
    return found


@dataclass(frozen=True)
class Fit:
    """Where pip's list is exactly what the index offers."""

    where: Where
    pythons: tuple[str, ...]


def offered(releases: Releases, where: Where, python: str) -> set[Version]:
    """The versions pip lists on this platform with CPython `python`: a file fits it."""
    cell = CellTags(python, platforms=where.platforms, complete=True, system=where.name)
    return {
        version
        for version, files in releases.all_files().items()
        if any(_takes(f, cell) for f in files)
    }


def _takes(file: IndexFile, cell: CellTags) -> bool:
    if file.requires_python and not _python_in(cell.python, file.requires_python):
        return False
    try:
        _, _, _, tags = parse_wheel_filename(file.filename)
    except (InvalidWheelFilename, InvalidVersion):
        return True  # a source distribution: pip lists it everywhere (and would build it)
    return any(cell.cpython_takes(t) and cell.system_takes(t.platform) for t in tags)


def _python_in(python: str, spec: str) -> bool:
    try:
        return SpecifierSet(spec).contains(Version(python), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True


def window(
    releases: Releases, listed: set[Version], as_of: str | None, asked: Version | None = None
) -> Releases | None:
    """The index as the reporter's pip saw it: as of the report's time where it is given; else
    no release newer than the newest pip listed, and the version the command asked for (it was
    there to be asked for). None where neither can be said: an empty list and no time."""
    if as_of:
        when = datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        return releases.uploaded_before(when)
    if not listed:
        return None
    newest = max(listed)
    files = [f for v, fs in releases.all_files().items() if v <= newest or v == asked for f in fs]
    return Releases.from_files(releases.package, files)


def fits(releases: Releases, listed: set[Version]) -> list[Fit]:
    """Every platform, with the Pythons on it, whose offer is exactly pip's list."""
    found = []
    for where in PLACES:
        pythons = tuple(p for p in PYTHONS if offered(releases, where, p) == listed)
        if pythons:
            found.append(Fit(where, pythons))
    return found


def listed_versions(text: str) -> set[Version]:
    out = set()
    for word in re.split(r",\s*", text):
        try:
            out.add(Version(word))
        except InvalidVersion:
            continue
    return out


def pythons_said(pythons: tuple[str, ...]) -> str:
    """'Python 3.9–3.12', 'any Python (2.7–3.14)', 'Python 3.8'."""
    if pythons == PYTHONS:
        return f"any Python ({PYTHONS[0]}–{PYTHONS[-1]})"
    runs: list[list[str]] = []
    for p in pythons:
        if runs and PYTHONS.index(p) == PYTHONS.index(runs[-1][-1]) + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    spans = [r[0] if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs]
    return "Python " + ", ".join(spans)
