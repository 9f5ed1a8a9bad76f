"""What a package index offers: releases, their wheels, and what decides whether pip may take one.

Used to say *why* an upgrade landed below the newest release ("2.21.0 has no wheel for
Python 3.9"). Reads a PEP 503 / PEP 691 simple page; the default index is pip's own, asked
from the installed pip rather than written down here.
"""

from __future__ import annotations

import datetime
import json
import re
import ssl
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version


def pip_default_index(python: str = sys.executable) -> str:
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@dataclass(frozen=True)
class IndexFile:
    """One file an index lists for a project, with what decides whether pip may take it."""

    filename: str
    requires_python: str = ""
    yanked: str | None = None  # None: not yanked; else the reason ('' when none is given)
    uploaded: datetime.datetime | None = None  # PEP 700's upload-time (JSON pages only), UTC


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[IndexFile] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            found = dict(attrs)
            href = found.get("href") or ""
            self.links.append(href)
            yanked = found.get("data-yanked") if "data-yanked" in found else None
            self.files.append(
                IndexFile(
                    href.split("#")[0].rsplit("/", 1)[-1],
                    found.get("data-requires-python") or "",
                    None if yanked is None else str(yanked),
                )
            )


@dataclass
class Releases:
    """Release version → the Python tags ('cp311', 'py3', ...) its wheels carry."""

    package: str
    tags: dict[Version, set[str]] = field(default_factory=dict)
    platforms: dict[Version, set[str]] = field(default_factory=dict)
    pre: bool = False  # the target allows pre-releases (--pre)
    files: dict[Version, list[IndexFile]] = field(
        default_factory=dict
    )  # the wheels of each release
    hosts: frozenset[str] = (
        frozenset()
    )  # where the files are downloaded from (PyPI: another host than the index)
    missing: bool = False  # the index has no such project: its page answered 404
    # The source distributions of each release: what pip lists for every platform (it may build
    # them), though no wheel fits
    sources: dict[Version, list[IndexFile]] = field(default_factory=dict)
    # Every platform any release of the project has a wheel for, kept when `only` narrows the
    # releases to a target's range: 'no release has a wheel for it' is said of the project
    every_platform: frozenset[str] | None = None

    @classmethod
    def from_filenames(cls, package: str, names: list[str]) -> Releases:
        return cls.from_files(package, [IndexFile(name) for name in names])

    @classmethod
    def from_files(cls, package: str, files: list[IndexFile]) -> Releases:
        rel = cls(package)
        for file in files:
            try:
                _, version, _, tags = parse_wheel_filename(file.filename)
            except (InvalidWheelFilename, InvalidVersion):
                if (source := _sdist_version(file.filename)) is not None:
                    rel.sources.setdefault(source, []).append(file)
                continue
            rel.tags.setdefault(version, set()).update(t.interpreter for t in tags)
            rel.platforms.setdefault(version, set()).update(t.platform for t in tags)
            rel.files.setdefault(version, []).append(file)
        return rel

    def joined(self, other: Releases) -> Releases:
        """Both indexes' files, as an installer that reads both sees them."""
        files = [f for r in (self, other) for fs in r.all_files().values() for f in fs]
        joined = Releases.from_files(self.package, files)
        joined.pre, joined.hosts = self.pre, self.hosts | other.hosts
        return joined

    def only(self, spec: str, pre: bool = False) -> Releases:
        """The releases a target version specifier ('' = any) admits."""
        allowed = SpecifierSet(spec)
        keep = [v for v in self.tags if not spec or allowed.contains(v, prereleases=True)]
        return Releases(
            self.package,
            {v: self.tags[v] for v in keep},
            {v: self.platforms[v] for v in keep},
            pre,
            {v: self.files.get(v, []) for v in keep},
            self.hosts,
            self.missing,
            {v: fs for v, fs in self.sources.items() if not spec or allowed.contains(v, True)},
            self.offered_platforms(),
        )

    def offered_platforms(self) -> frozenset[str]:
        """Every platform a wheel of any release is for ('any' where a release has a source
        distribution, which pip may build anywhere), before any narrowing."""
        if self.every_platform is not None:
            return self.every_platform
        wheels = {p for platforms in self.platforms.values() for p in platforms}
        return frozenset(wheels | ({"any"} if self.sources else set()))

    def all_files(self) -> dict[Version, list[IndexFile]]:
        """Every file of each release: its wheels and its source distributions."""
        versions = {*self.files, *self.sources}
        return {v: self.files.get(v, []) + self.sources.get(v, []) for v in versions}

    def uploaded_before(self, when: datetime.datetime) -> Releases:
        """The releases as the index listed them at `when`: only the files uploaded before it, as
        pip's --uploaded-prior-to and uv's --exclude-newer take them (a file without an upload
        time stays: the index never said; see `undated`)."""
        kept = [
            f
            for files in self.all_files().values()
            for f in files
            if f.uploaded is None or f.uploaded < when
        ]
        releases = Releases.from_files(self.package, kept)
        releases.pre, releases.hosts, releases.missing = self.pre, self.hosts, self.missing
        return releases

    @property
    def undated(self) -> bool:
        """The index gives none of the files an upload time: no time filter can work on it."""
        files = [f for listed in self.files.values() for f in listed]
        return bool(files) and all(f.uploaded is None for f in files)

    def pick(self, versions: list[Version]) -> Version | None:
        """What pip picks among `versions`: the newest final release; pre-releases only with
        --pre, or when nothing final is left (packaging's rule, which pip follows)."""
        finals = [v for v in versions if not v.is_prerelease]
        return max(versions if self.pre or not finals else finals, default=None)

    def newest(self) -> Version | None:
        return self.pick(list(self.tags))


def _sdist_version(filename: str) -> Version | None:
    try:
        return parse_sdist_filename(filename)[1]
    except (InvalidSdistFilename, InvalidVersion):
        return None


def fetch_releases(
    index_url: str,
    package: str,
    context: ssl.SSLContext | None = None,
    timeout: float = 60,
    authorization: str | None = None,
) -> Releases:
    """Read the package's simple page; JSON (PEP 691) if offered, HTML otherwise."""
    url = index_url.rstrip("/") + "/" + re.sub(r"[-_.]+", "-", package).lower() + "/"
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.5"
    headers = {"Accept": accept} | ({"Authorization": authorization} if authorization else {})
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
        body = resp.read().decode("utf-8", "replace")
        ctype = resp.headers.get("Content-Type", "")
    if "json" in ctype:
        listed = json.loads(body).get("files", [])
        files = json_files(listed)
        links = [str(f.get("url") or "") for f in listed]
    else:
        parser = _Links()
        parser.feed(body)
        files, links = parser.files, parser.links
    releases = Releases.from_files(package, files)
    # Files on other hosts (PyPI's pages link files on a host of their own); relative links stay on
    # the index, which the host reaches under another name than the cells do.
    page_host = urllib.parse.urlsplit(url).hostname
    releases.hosts = frozenset(
        h for link in links if (h := urllib.parse.urlsplit(link).hostname) and h != page_host
    )
    return releases


def json_files(listed: list[dict[str, Any]]) -> list[IndexFile]:
    """A PEP 691 page's files, as the index describes them."""
    return [
        IndexFile(
            f["filename"],
            f.get("requires-python") or "",
            _yanked(f.get("yanked")),
            _upload_time(f.get("upload-time")),
        )
        for f in listed
    ]


class UploadTimes:
    """When the index got each release of a distribution (PEP 700's upload-time of its first
    file), read once a distribution and shared by the cells of a run: what a cell's resolved set
    says of each version it took. Unknown (None) where the index gives no time or cannot be read:
    the explanation is lost, never the run."""

    def __init__(
        self,
        index_url: str,
        context: ssl.SSLContext | None = None,
        authorization: str | None = None,
    ) -> None:
        self._url, self._context, self._authorization = index_url, context, authorization
        self._known: dict[str, dict[Version, datetime.datetime]] = {}
        self._lock = threading.Lock()

    def of(self, name: str, version: str) -> str | None:
        """'2024-03-13T18:02:37Z', or None."""
        try:
            wanted = Version(version)
        except InvalidVersion:
            return None
        with self._lock:  # one read of a page, however many cells finish at once
            if name not in self._known:
                self._known[name] = self._read(name)
            when = self._known[name].get(wanted)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None

    def _read(self, name: str) -> dict[Version, datetime.datetime]:
        try:
            releases = fetch_releases(
                self._url, name, self._context, timeout=30, authorization=self._authorization
            )
        except Exception:  # noqa: BLE001 - an unreadable page costs the times, not the run
            return {}
        dated = {
            v: [f.uploaded for f in files if f.uploaded] for v, files in releases.files.items()
        }
        return {v: min(times) for v, times in dated.items() if times}


def _upload_time(value: object) -> datetime.datetime | None:
    """PEP 700: an ISO 8601 time in UTC ('2024-03-13T18:02:37.123456Z'); None if absent or
    not one."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def _yanked(value: object) -> str | None:
    """PEP 691: false, true or the reason."""
    if value is None or value is False:
        return None
    return "" if value is True else str(value)


# The first pip that reads each Linux platform tag family (pip's NEWS: 19.3, 20.3).
TAG_FAMILIES = (
    ("manylinux2014_", "19.3", "manylinux2014"),
    ("manylinux_2_", "20.3", "manylinux_2_x (PEP 600)"),
)


def pip_reads(pip: Version, platform: str) -> bool:
    """Can this pip read a manylinux platform tag?"""
    for prefix, first, _ in TAG_FAMILIES:
        if platform.startswith(prefix):
            return pip >= Version(first)
    return True  # manylinux1 / manylinux2010: every pip we meet reads them


def as_version(text: Any) -> Version | None:
    """A PEP 440 version, or None for anything that is not one."""
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None
