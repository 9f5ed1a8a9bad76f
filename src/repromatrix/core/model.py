"""Domain types shared by the pipeline stages: frozen, hashable, free of I/O."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from .outcomes import Outcome

NAME_LIMIT = 100  # characters of a cell's directory, image and container name


class CacheMode(str, enum.Enum):
    REUSE = "reuse"  # use a cached setup when there is one (the default)
    REFRESH = "refresh"  # rebuild every setup this run uses, and keep the new ones
    # every cell built from scratch, `docker build --no-cache`: nothing shared, nothing kept
    OFF = "off"

    def __str__(self) -> str:
        return self.value


class DownloadCacheMode(str, enum.Enum):
    """Whether cells' downloads go through the run's download cache (infra/downloadcache.py)."""

    AUTO = "auto"  # for an index on the network; not for repromatrix's local one on this machine
    ON = "on"  # also in front of the local index (tests of the cache itself)
    OFF = "off"  # every cell downloads from the index itself

    def __str__(self) -> str:
        return self.value

    def wanted(self, local_index: bool) -> bool:
        return self is DownloadCacheMode.ON or (self is DownloadCacheMode.AUTO and not local_index)


class Choice(str, enum.Enum):
    AUTO = "auto"  # every applicable remedy, for cells that failed
    NONE = "none"


@dataclass(frozen=True)
class Selection:
    """`remedies:` in matrix.yaml or --remedies: auto, none, or the names to try."""

    choice: Choice = Choice.NONE
    names: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return self.choice is Choice.AUTO or bool(self.names)

    def allows(self, remedy: str) -> bool:
        """Whether the remedy of this name may be tried."""
        return self.choice is Choice.AUTO or remedy in self.names

    def __str__(self) -> str:
        return ",".join(self.names) if self.names else self.choice.value


@dataclass(frozen=True)
class IndexSpec:
    """Where cells get packages: pip's default index, repromatrix's local one, or a URL.

    Credentials (the userinfo of a URL, e.g. 'ci:${ARTIFACTORY_TOKEN}', expanded from the
    environment only when a run starts; or, for `local-auth`, made per run) are kept apart from
    the URL: they never reach a Dockerfile, an image, a log or a report (see secrets.py).
    """

    kind: str = "default"  # "default", "local" or "url"
    url: str = ""  # without credentials
    credentials: str = field(default="", repr=False)
    auth: bool = False  # local: the index demands credentials made for the run

    @property
    def local(self) -> bool:
        return self.kind == "local"

    @property
    def secret(self) -> bool:
        """Do cells need credentials to read it?"""
        return bool(self.credentials) or self.auth

    def __str__(self) -> str:
        if self.kind == "local":
            return "local-auth" if self.auth else "local"
        return self.url if self.kind == "url" else "default"


@dataclass(frozen=True)
class Target:
    """What the cells upgrade: a PEP 508 requirement (name, extras, marker) and a version
    specifier."""

    package: str = "tensorflow"  # as written, e.g. 'tensorflow[and-cuda]' or 'tf-nightly'
    version: str = ""  # a PEP 440 specifier; "" means the newest release
    index: IndexSpec = field(default_factory=IndexSpec)
    pre: bool = False  # allow pre-releases (pip --pre)
    imports: tuple[
        str, ...
    ] = ()  # import names to check; () = read them from the installed metadata
    # The index as it was then (core/asof.py): as written in the matrix; once a run starts, the
    # UTC time it resolved to. "": the index as it is.
    as_of: str = ""
    # The index as it was when the cells' setup was built, where that is another time than
    # as_of (bisect: every probe shares the setup built as of --good, and only its upgrade
    # sees the probe's time). "": the setup sees the index as the upgrade does.
    setup_as_of: str = ""
    # Extra indexes the cells also read (pip's --extra-index-url, uv's): URLs, or 'local', the
    # local index's second root, a model of a piwheels-style index of community builds
    extra_index: tuple[str, ...] = ()

    @property
    def parsed(self) -> Requirement:
        return Requirement(self.package)

    @property
    def as_of_times(self) -> tuple[str, ...]:
        """Every time the cells see the index at: the setup's where it has its own, then the
        upgrade's; () for the index as it is."""
        return tuple(when for when in (self.setup_as_of, self.as_of) if when)

    @property
    def name(self) -> str:
        """The distribution's canonical name (PEP 503)."""
        return canonicalize_name(self.parsed.name)

    def spec(self, specifier: str) -> str:
        """The requirement with `specifier`: name[extras]specifier; marker."""
        req = self.parsed
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        marker = f"; {req.marker}" if req.marker else ""
        return f"{req.name}{extras}{specifier}{marker}"

    @property
    def requirement(self) -> str:
        return self.spec(self.version)

    def pinned(self, version: str) -> str:
        return self.spec(f"=={version}")

    @property
    def short_name(self) -> str:
        return "tf" if self.name == "tensorflow" else self.name


def parse_target_package(text: str) -> tuple[Requirement | None, str]:
    """(the requirement, '') or (None, what is wrong with it)."""
    if any(ch.isspace() and ch != " " for ch in text) or any(ord(ch) < 32 for ch in text):
        return None, f"{text!r} contains a line break, tab or control character"
    if "===" in text:
        return None, f"{text!r} uses '===' (arbitrary equality), which repromatrix does not accept"
    try:
        req = Requirement(text)
    except (InvalidRequirement, ValueError) as e:
        return None, f"{text!r} is not a PEP 508 requirement ({e})"
    if req.url:
        return None, f"{text!r} is a direct URL reference; give the index with target.index instead"
    return req, ""


@dataclass(frozen=True)
class Check:
    """A user's own check, run after the upgrade as every identity: a command or a Python
    snippet."""

    name: str
    argv: tuple[str, ...] = ()  # a command, run without a shell
    python: str = ""  # a snippet, run as `python3 -c SNIPPET`

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "argv": list(self.argv), "python": self.python}


def check_specifier(value: str) -> str | None:
    if value in ("", "newest"):
        return None
    if len(value) > 200 or any(ch.isspace() and ch != " " for ch in value):
        return f"{value[:40]!r} is not a version specifier"
    if "===" in value:
        # PEP 440's arbitrary equality admits almost any text: refused, it is never what users mean.
        return f"{value!r} uses '===' (arbitrary equality), which repromatrix does not accept"
    try:
        SpecifierSet(value)
    except (InvalidSpecifier, ValueError):
        return f"{value!r} is not a version specifier (write e.g. '>=2.16' or '==2.20.0')"
    return None


@dataclass(frozen=True)
class HostSpec:
    """A Docker engine a run spreads cells over (`settings.hosts`, `--docker-host`)."""

    # "default": the engine DOCKER_HOST (or the default socket) names; else unix://, tcp://, ssh://
    url: str
    max_parallel: int | None = None  # None: the run's max_parallel

    @property
    def label(self) -> str:
        """How reports name it: the URL without any user name."""
        return re.sub(r"^(\w+://)[^@/]*@", r"\1", self.url)


def docker_host_problem(url: str) -> str | None:
    """What makes `url` unusable as a Docker engine address, if anything."""
    if url == "default":
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in url) or len(url) > 500:
        return f"{url[:60]!r} contains whitespace or control characters"
    parts = urlsplit(url)
    if parts.scheme not in ("unix", "tcp", "ssh", "http", "https"):
        return f"{url[:60]!r} is not unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST"
    if parts.password:
        return (
            f"{parts.scheme}://...: a password in the address would reach logs and reports; use "
            "ssh keys or TLS"
        )
    if parts.scheme == "unix" and not parts.path:
        return f"{url[:60]!r} names no socket path"
    if parts.scheme != "unix" and not parts.hostname:
        return f"{url[:60]!r} names no host"
    return None


@dataclass(frozen=True)
class Settings:
    timeout: int = 1800  # seconds a cell may take to build and run
    max_parallel: int = 2
    debian_mirror: str = ""  # "" = debootstrap's own default mirror
    cache: CacheMode = CacheMode.REUSE  # the setup cache (setupcache.py)
    cache_budget: int | None = None  # bytes of setup images kept; None: a share of free disk
    download_cache: DownloadCacheMode = DownloadCacheMode.AUTO
    download_cache_budget: int | None = None  # bytes of files kept; None: downloadcache's default
    max_cells: int = 500  # a run of more cells needs --yes (an accidental giant matrix costs days)
    hosts: tuple[HostSpec, ...] = ()  # Docker engines to spread cells over; () = the default engine


@dataclass(frozen=True)
class Expectation:
    match: tuple[tuple[str, str], ...]
    outcomes: tuple[Outcome, ...]
    line: int | None = None

    def applies_to(self, axes: Mapping[str, str]) -> bool:
        return all(axes.get(k) == v for k, v in self.match)


@dataclass(frozen=True)
class ConflictMode:
    """What else the environment holds that constrains the upgrade."""

    name: str
    doc: str
    preinstall: tuple[str, ...] = ()  # installed after the prior version, the same way
    constraints: tuple[str, ...] = ()  # lines of a constraints file the installer reads
    # How the preinstalled distributions are left, as an older installer would have left them:
    # "distutils" (an egg-info file, no list of files) or "no-record" (a dist-info without RECORD,
    # INSTALLER 'debian', as OS packages are). See templates/legacy_install.py.
    legacy: str = ""
    # A reporter's environment (matrix.yaml's `environments:`, config/matrix.py); the presets
    # below leave these empty.
    requirements: tuple[str, ...] = ()  # one requirements file, installed in one resolver call
    origins: tuple[str, ...] = ()  # where each requirement was written ('freeze.txt:4')
    variables: tuple[tuple[str, str], ...] = ()  # set for the upgrade
    pip_config: str = ""  # the global pip configuration file's content
    apt: tuple[str, ...] = ()  # Debian packages installed before anything else
    steps: tuple[tuple[str, ...], ...] = ()  # argv lists, run as the installing identity
    prior: str | None = None  # the target's version its requirements pin: the prior version
    defined_at: str = ""  # where the matrix defines it ('matrix.yaml:12'); '' for a preset
    dropped: tuple[str, ...] = ()  # lines of its files left out, and why
    checks: tuple[Check, ...] = ()  # the user's checks of this environment, beside the matrix's

    def written_at(self, names: str) -> tuple[str, ...]:
        """The requirements among `names` (an installer's error text) with where they were
        written: 'numpy==9.9 (freeze.txt:4)'."""
        # PEP 503's spelling on both sides: the error may say numpy_x where the file says numpy-x
        said = canonicalize_name(names)
        found = []
        for text, origin in zip(self.requirements, self.origins, strict=True):
            name = canonicalize_name(Requirement(text.split(" --hash", 1)[0]).name)
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", said):
                found.append(f"{text} ({origin})")
        return tuple(found)


@dataclass(frozen=True)
class Matrix:
    path: str
    target: Target
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    exclude: tuple[tuple[tuple[str, str], ...], ...] = ()
    include: tuple[tuple[tuple[str, str], ...], ...] = ()
    expect: tuple[Expectation, ...] = ()
    settings: Settings = field(default_factory=Settings)
    checks: tuple[Check, ...] = ()
    remedies: Selection = Selection(Choice.AUTO)  # which fixes to try on cells that failed
    # The reporter's environments the matrix defines, by name: values of the conflicts axis
    environments: tuple[tuple[str, ConflictMode], ...] = ()

    @property
    def environment_map(self) -> dict[str, ConflictMode]:
        return dict(self.environments)


CELL_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,4095}")  # what axes.cell_id makes


def is_cell_id(text: str) -> bool:
    """An id as repromatrix makes them: letters, digits, '.', '_', '-', one path component."""
    return CELL_ID.fullmatch(text) is not None


def cell_name(cell_id: str) -> str:
    """The id as a directory, image and container name: the id itself up to NAME_LIMIT
    characters; a longer one (an image reference as `os`, long versions) keeps its head and a
    hash of the whole, so it fits any file system and stays unique. The id itself is kept in
    the content (results.json, the Dockerfile's header)."""
    if len(cell_id) <= NAME_LIMIT:
        return cell_id
    digest = hashlib.sha256(cell_id.encode()).hexdigest()[:16]
    return f"{cell_id[: NAME_LIMIT - 17]}-{digest}"


@dataclass(frozen=True)
class Cell:
    """One environment of the matrix: every axis has exactly one value."""

    id: str
    values: tuple[tuple[str, str], ...]
    expected: tuple[Outcome, ...] = ()

    @property
    def axes(self) -> dict[str, str]:
        return dict(self.values)

    @property
    def name(self) -> str:
        return cell_name(self.id)
