"""Domain types shared by the pipeline stages: frozen, hashable, free of I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .outcomes import Outcome

# The Python each Debian suite ships as python3 (and the pip its python3-pip brings).
DEBIAN_SUITES: dict[str, str] = {
    "buster": "3.7",
    "bullseye": "3.9",
    "bookworm": "3.11",
    "trixie": "3.13",
}


@dataclass(frozen=True)
class InstallMode:
    """Who installed the prior version, where, and who runs the upgrade (None = root)."""

    doc: str
    venv: str | None  # the virtual environment's path, if any
    prior_by: str | None  # who installs the prior version
    upgrade_by: str | None  # who runs the upgrade
    user_flag: bool = False  # the upgrade adds --user

    @property
    def user(self) -> str | None:
        return self.prior_by or self.upgrade_by


USER = "user"  # the non-root account of the modes that need one
INSTALL_MODES: dict[str, InstallMode] = {
    "venv": InstallMode("root creates a virtual environment and upgrades in it", "/opt/venv", None, None),
    "system": InstallMode("root upgrades the system python3, no virtual environment", None, None, None),
    "system-user": InstallMode("root installed the prior version system-wide; a non-root user upgrades "
                               "with the system python3", None, None, USER),
    "user-flag": InstallMode("root installed the prior version system-wide; a non-root user upgrades "
                             "with --user", None, None, USER, user_flag=True),
    "user-venv": InstallMode("a non-root user creates a virtual environment and upgrades in it",
                             f"/home/{USER}/venv", USER, USER),
    "root-venv-user": InstallMode("root created the virtual environment; a non-root user upgrades in it",
                                  "/opt/venv", None, USER),
}


@dataclass(frozen=True)
class NetworkMode:
    """How a cell reaches the index when the upgrade runs (builds always go direct)."""

    doc: str
    internal: bool = False  # the cell sits on an internal network: no route but the proxy
    proxy_port: int | None = None
    credentials: bool = False  # proxy credentials reach the cell as a secret file
    intercepted: bool = False  # the proxy is the TLS-intercepting one (mitmproxy)
    trusts_interceptor: bool = False  # the cell trusts the interceptor's CA
    faulty: bool = False  # the proxy is our fault injector, which cuts downloads midway

    @property
    def proxy_host(self) -> str:
        return MITM_HOST if self.intercepted else FLAKY_HOST if self.faulty else PROXY_HOST


PROXY_HOST = "repromatrix-proxy"
PROXY_OPEN, PROXY_AUTH, PROXY_NOTHING = 3128, 3129, 3130  # squid ports; nothing listens on the last
MITM_HOST, MITM_PORT = "repromatrix-mitm", 8080
FLAKY_HOST, FLAKY_PORT = "repromatrix-flaky", 3131
FLAKY_CUT_AFTER = 1024 * 1024  # bytes a tunnel carries to the cell before the injector cuts it
NETWORK_MODES: dict[str, NetworkMode] = {
    "direct": NetworkMode("the cell reaches the index directly"),
    "proxy": NetworkMode("the cell has no route but an HTTP proxy (squid)", True, PROXY_OPEN),
    "proxy-auth": NetworkMode("only a proxy that demands credentials, and the cell has none", True, PROXY_AUTH),
    "proxy-auth-secret": NetworkMode("only a proxy that demands credentials, given to the cell as a secret "
                                     "file at run time", True, PROXY_AUTH, credentials=True),
    "proxy-down": NetworkMode("the proxy variables point at a port of ours where nothing listens", True,
                              PROXY_NOTHING),
    "no-route": NetworkMode("no route to the index and no proxy configured", True),
    "tls-intercept": NetworkMode("only a TLS-intercepting proxy (mitmproxy) whose CA the cell does not trust",
                                 True, MITM_PORT, intercepted=True),
    "flaky": NetworkMode("the only way out cuts every connection after 1 MiB: downloads break off midway",
                         True, FLAKY_PORT, faulty=True),
    "tls-intercept-trusted": NetworkMode("only a TLS-intercepting proxy (mitmproxy) whose CA the cell trusts",
                                         True, MITM_PORT, intercepted=True, trusts_interceptor=True),
}


@dataclass(frozen=True)
class ConflictMode:
    """What else the environment holds that constrains the upgrade."""

    doc: str
    preinstall: tuple[str, ...] = ()  # installed after the prior version, the same way
    constraints: tuple[str, ...] = ()  # lines of a constraints file pip reads (PIP_CONSTRAINT)


CONFLICT_MODES: dict[str, ConflictMode] = {
    "none": ConflictMode("nothing else installed"),
    "numpy-cap": ConflictMode("an older scipy that caps numpy below 2 is installed", ("scipy==1.11.4",)),
    "protobuf-cap": ConflictMode("a library that pins protobuf below 5 is installed",
                                 ("googleapis-common-protos==1.63.0",)),
    "constraints": ConflictMode("a constraints file left over from TensorFlow 2.11 days pins protobuf",
                                constraints=("protobuf==3.19.6",)),
}


def check_version(value: str) -> str | None:
    try:
        Version(value)
    except InvalidVersion:
        return f"{value!r} is not a version (write e.g. '2.15.0') or 'none'"
    return None


def _check_prior(value: str) -> str | None:
    return None if value == "none" else check_version(value)


def _check_os(value: str) -> str | None:
    if re.fullmatch(r"[a-z][a-z0-9-]*", value) or re.fullmatch(r"[\w./:@-]+", value):
        return None
    return f"{value!r} is neither a Debian suite name nor an image reference"


def _check_pip(value: str) -> str | None:
    return None if value == "os" else check_version(value)


def _check_python(value: str) -> str | None:
    if value == "system" or re.fullmatch(r"3\.\d+", value):
        return None
    return f"{value!r} is not 'system' or a Python version like '3.11'"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        from .errors import did_you_mean

        return None if value in choices else f"unknown value {value!r}; {did_you_mean(value, choices)}"

    return check


@dataclass(frozen=True)
class AxisSpec:
    """What an axis means, its default and how to validate one value."""

    name: str
    default: str
    check: Callable[[str], str | None]
    doc: str


AXIS_SPECS: dict[str, AxisSpec] = {
    s.name: s
    for s in (
        AxisSpec("os", "bookworm", _check_os,
                 "a Debian suite (bullseye, bookworm, trixie) or any image reference"),
        AxisSpec("python", "system", _check_python, "the interpreter: 'system' is the OS's python3"),
        AxisSpec("install", "venv", _one_of(*INSTALL_MODES),
                 "who runs pip, into what: " + ", ".join(INSTALL_MODES)),
        AxisSpec("prior", "none", _check_prior, "the version installed before the upgrade, or none"),
        AxisSpec("ca", "host", _one_of("host", "none"),
                 "host: trust the CA bundle the host's pip uses; none: only the image's own CAs"),
        AxisSpec("network", "direct", _one_of(*NETWORK_MODES), "how the cell reaches the index: "
                 + ", ".join(NETWORK_MODES)),
        AxisSpec("pip", "os", _check_pip, "os: the pip the OS ships; or a version pinned before the upgrade, "
                 "e.g. '19.2.3'"),
        AxisSpec("cache", "clean", _one_of("clean", "corrupted"), "clean: pip's cache is empty; corrupted: it "
                 "holds a damaged copy of the wheel the upgrade wants"),
        AxisSpec("conflicts", "none", _one_of(*CONFLICT_MODES), "what else constrains the upgrade: "
                 + ", ".join(CONFLICT_MODES)),
    )
}
AXIS_ORDER = tuple(AXIS_SPECS)


@dataclass(frozen=True)
class Target:
    package: str = "tensorflow"
    version: str = ""  # a PEP 440 specifier; "" means the newest release
    index: str = "default"  # "default" (pip's own), "local" (the built-in offline index) or a URL

    @property
    def requirement(self) -> str:
        return f"{self.package}{self.version}"

    @property
    def short_name(self) -> str:
        return "tf" if self.package == "tensorflow" else self.package


def check_specifier(value: str) -> str | None:
    if value in ("", "newest"):
        return None
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return f"{value!r} is not a version specifier (write e.g. '>=2.16' or '==2.20.0')"
    return None


@dataclass(frozen=True)
class Settings:
    timeout: int = 1800  # seconds a cell may take to build and run
    max_parallel: int = 2
    debian_mirror: str = ""  # "" = debootstrap's own default mirror


@dataclass(frozen=True)
class Expectation:
    match: tuple[tuple[str, str], ...]
    outcomes: tuple[Outcome, ...]
    line: int | None = None

    def applies_to(self, axes: Mapping[str, str]) -> bool:
        return all(axes.get(k) == v for k, v in self.match)


@dataclass(frozen=True)
class Matrix:
    path: str
    target: Target
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    exclude: tuple[tuple[tuple[str, str], ...], ...] = ()
    include: tuple[tuple[tuple[str, str], ...], ...] = ()
    expect: tuple[Expectation, ...] = ()
    settings: Settings = field(default_factory=Settings)


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
    def os(self) -> str:
        return self.axes["os"]

    @property
    def base_image(self) -> str:
        return base_image_for(self.os)

    @property
    def prior(self) -> str | None:
        prior = self.axes["prior"]
        return None if prior == "none" else prior


def base_image_for(os_value: str) -> str:
    """A bare suite name means Debian's image of that suite; anything else is an image reference."""
    return os_value if (":" in os_value or "/" in os_value) else f"debian:{os_value}"


def debian_suite_of(image: str) -> str | None:
    """The suite debootstrap can build for `image`, if it is a Debian image."""
    m = re.fullmatch(r"(?:docker\.io/)?(?:library/)?debian:([a-z]+)", image)
    return m.group(1) if m else None
