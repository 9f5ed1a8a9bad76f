"""The matrix's axes, each declared once.

An axis is one object: how a value is validated, the typed value it stands for, the part of
the cell id it adds, what it contributes to a cell's plan (and its Dockerfile fragment), and
what it needs the run to provide (services, real wheels, the host's CA). Nothing else in the
code base compares raw axis strings: adding an axis is adding a class here plus, if it
changes the image, a fragment under templates/axes/.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from ..cell import contract
from .errors import did_you_mean
from .interpreter import (
    DEBIAN_SUITES,
    Interpreter,
    base_image_for,
    debian_suite_of,
    os_pip,
    os_python,
    rootfs_image,
)
from .model import ConflictMode
from .osfamily import family_of
from .platforms import (
    ARCHES,
    EMULATION_SLOWDOWN,
    NATIVE_ARCH,
    PLATFORMS,
    RUN_PLATFORM,
    RUNS_NATIVELY,
    Arch,
    Platform,
    arch_of_image,
    glibc_of,
    image_for_arch,
    platform_named,
)
from .registry import complete
from .resolution import Resolution, uv_platform


class Service(enum.Enum):
    """Servers a run starts for its cells (see services.py)."""

    INDEX = "the local model index"
    PROXY = "the test proxy (squid) on an internal network"
    INTERCEPTOR = "the TLS-intercepting proxy (mitmproxy)"
    FAULT_INJECTOR = "the fault injector"
    TIMEMACHINE = "the date-filtering index (--as-of for installers without a filter)"


@dataclass(frozen=True)
class RunNeeds:
    """What cells need from the run as a whole; merged over every cell with `|`."""

    services: frozenset[Service] = frozenset()
    real_wheels: frozenset[str] = (
        frozenset()
    )  # requirements the local index must serve as real wheels
    host_ca: bool = False

    def __or__(self, other: RunNeeds) -> RunNeeds:
        return RunNeeds(
            self.services | other.services,
            self.real_wheels | other.real_wheels,
            self.host_ca or other.host_ca,
        )


NOTHING = RunNeeds()


@dataclass(frozen=True)
class Cost:
    """What an axis value adds to a cell's machine time (cost.py turns it into seconds): extra
    downloads and installs of the target, counted in upgrades' worth, and seconds spent waiting
    (pip waiting out its own retries). Merged over a cell's values with `+`."""

    upgrades: float = 0.0
    waits: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.upgrades + other.upgrades, self.waits + other.waits)


FREE = Cost()


@dataclass(frozen=True)
class IdContext:
    """What an axis may look at when it names its part of a cell id."""

    values: Mapping[str, str]
    short_name: str  # the target's short name, e.g. 'tf' for tensorflow


@dataclass
class PlanDraft:
    """A cell's plan while the axes fill it in (plan.py freezes it into a CellPlan)."""

    values: Mapping[str, str]
    arch: Arch = ARCHES[NATIVE_ARCH]  # the Linux architecture its container runs on
    platform: Platform = PLATFORMS[RUN_PLATFORM]  # where it runs, or what it only resolves for
    # The Python a resolution is for (X.Y): a resolved cell's interpreter is only its resolver's
    resolve_python: str = ""
    interpreter: Interpreter | None = None
    mode: InstallMode | None = None
    prior: str | None = None
    trust_host_ca: bool = False
    ca_for_pip_only: bool = False  # the CA is given in pip's variable, whatever the installer
    ca_in_store: bool = False  # the CA is in the OS's trust store, in no installer's variable
    network: NetworkMode | None = None
    pip_pin: str | None = None
    installer: InstallerName = "pip"
    installer_pin: str | None = None  # its version, when the matrix names one (uv==0.13.9)
    cache_corrupted: bool = False
    limits: Limits | None = None
    conflicts: ConflictMode | None = None
    # The matrix's own environments by name (the conflicts axis's values beside its presets)
    environments: Mapping[str, ConflictMode] = field(default_factory=dict)
    preinstall: list[str] = field(
        default_factory=list
    )  # requirements installed before the upgrade, in order
    notes: list[str] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (axis, what is wrong, hint): no plan


class Axis(ABC):
    """One axis of the matrix."""

    name: ClassVar[str]
    default: ClassVar[str]
    doc: ClassVar[str]
    # templates/axes/<fragment>.j2, if the axis changes the image
    fragment: ClassVar[str | None] = None
    # Where its fragment goes: lower = more shared, earlier in the Dockerfile
    layer: ClassVar[int] = 0
    # The matrix's top-level key whose names are values of this axis too ('' for none)
    defined_by: ClassVar[str] = ""

    @abstractmethod
    def check(self, value: str) -> str | None:
        """None if `value` is valid, else what is wrong with it."""

    def id_part(self, value: str, cell: IdContext) -> str | None:
        """This axis's part of a cell id (None: not shown, e.g. the default value)."""
        return None if value == self.default else value

    @abstractmethod
    def contribute(self, value: str, draft: PlanDraft) -> None:
        """Fill in this axis's part of the cell's plan."""

    def needs(self, value: str) -> RunNeeds:
        return NOTHING

    def cost(self, value: str) -> Cost:
        """What this value adds to a cell's machine time (for shards and the size guard)."""
        return FREE

    def canonical(self, value: str) -> str:
        """The spelling two equivalent values share (e.g. '2.15' and '2.15.0')."""
        return value


def _choices_doc(choices: Mapping[str, str]) -> str:
    return "; ".join(f"{name}: {meaning}" for name, meaning in choices.items())


class ChoiceAxis(Axis):
    """An axis whose values are names from a table (install modes, networks, ...)."""

    choices: ClassVar[Mapping[str, object]]
    id_prefix: ClassVar[str] = ""  # 'ca-' → 'ca-none'
    always_in_id: ClassVar[bool] = False  # shown even at its default

    def check(self, value: str) -> str | None:
        return _one_of(value, self.choices)

    def id_part(self, value: str, cell: IdContext) -> str | None:
        return (
            None if value == self.default and not self.always_in_id else f"{self.id_prefix}{value}"
        )


class VersionAxis(Axis):
    """An axis whose values are PEP 440 versions, or its default word ('none', 'os')."""

    def check(self, value: str) -> str | None:
        return None if value == self.default else _version_problem(value)

    def canonical(self, value: str) -> str:
        return value if value == self.default or self.check(value) else canonicalize_version(value)


def _version_problem(value: str) -> str | None:
    if value != value.strip() or any(ch.isspace() for ch in value):
        return f"{value!r} contains whitespace"
    if len(value) > 64:  # before parsing: a 10,000-digit release number is not a version
        return f"{value[:40]!r}... is not a version ({len(value)} characters)"
    try:
        Version(value)
    except (InvalidVersion, ValueError):
        return f"{value!r} is not a version (write e.g. '2.15.0')"
    return None


def _one_of(value: str, choices: Iterable[str]) -> str | None:
    choices = list(choices)
    return None if value in choices else f"unknown value {value!r}; {did_you_mean(value, choices)}"


# -- os -----------------------------------------------------------------------------------
class OsAxis(Axis):
    name, default = "os", "bookworm"
    doc = (
        "a Debian suite (bullseye, bookworm, trixie, ...), any image reference (ubuntu:24.04, "
        "rockylinux:9, alpine:3.20, ...), or a root file system tarball beside the matrix "
        "(rootfs/ubuntu-24.04.tar), imported"
    )

    def check(self, value: str) -> str | None:
        suite_or_image = re.fullmatch(r"[a-z][a-z0-9-]{0,30}", value) or image_reference_ok(value)
        if suite_or_image or rootfs_image(value) is not None:
            return None
        return (
            f"{value!r} is neither a Debian suite name nor an image reference "
            "(Docker's grammar: [host[:port]/]name[:tag][@digest], lower case)"
        )

    def id_part(self, value: str, cell: IdContext) -> str | None:
        return re.sub(r"[^A-Za-z0-9.]+", "-", value).strip("-")

    def contribute(self, value: str, draft: PlanDraft) -> None:
        pass  # the python axis decides the image: the OS's own, or an interpreter image on it


# -- arch ---------------------------------------------------------------------------------
class ArchAxis(ChoiceAxis):
    name, default = "arch", NATIVE_ARCH
    doc = (
        "the Linux architecture the cell's container runs on (under qemu-user emulation where "
        "this machine is another): " + _choices_doc({a.name: a.doc for a in ARCHES.values()})
    )
    choices = ARCHES

    def contribute(self, value: str, draft: PlanDraft) -> None:
        image = base_image_for(draft.values["os"])
        fixed = arch_of_image(image)  # i386/debian:bookworm names its architecture itself
        if fixed is not None and value != self.default and fixed.name != value:
            draft.problems.append(
                (
                    self.name,
                    f"os {draft.values['os']} is an image of {fixed.name}, but arch is {value}",
                    f"use os: {image.split('/', 1)[-1]} with arch: {value}",
                )
            )
        draft.arch = fixed or ARCHES[value]
        imported = rootfs_image(draft.values["os"]) is not None  # imported as any architecture
        if image_for_arch(image, draft.arch) is None and not imported:
            draft.problems.append(
                (
                    self.name,
                    f"{image} has no name for {value}: only Docker's official images do "
                    f"({draft.arch.namespace}/debian:bookworm)",
                    f"name an image of your registry that is built for {value} as os, or use "
                    "an official image (debian, ubuntu, ...)",
                )
            )
        suite = debian_suite_of(image)
        first = draft.arch.first_suite
        if suite and first and list(DEBIAN_SUITES).index(suite) < list(DEBIAN_SUITES).index(first):
            draft.problems.append(
                (
                    self.name,
                    f"Debian {suite} has no {value} port (Debian has one from {first})",
                    f"use os: {first} or later with arch: {value}",
                )
            )

    def cost(self, value: str) -> Cost:
        # On the usual x86_64 engine a foreign architecture runs under emulation, ten times slower
        slow = value not in RUNS_NATIVELY["x86_64"]
        return Cost(upgrades=EMULATION_SLOWDOWN - 1) if slow else FREE


# -- platform -----------------------------------------------------------------------------
class PlatformAxis(Axis):
    name, default = "platform", RUN_PLATFORM
    doc = (
        "linux: the cell runs; or a platform no container here runs, which the cell only "
        "resolves for (its installer's dry run with that platform's wheel tags and markers; "
        "nothing is installed or imported): "
        + _choices_doc({p.name: p.doc for p in PLATFORMS.values() if not p.runs})
        + "; macOS at another version as macos-13-arm64"
    )

    def check(self, value: str) -> str | None:
        if platform_named(value) is not None:
            return None
        return _one_of(value, PLATFORMS)

    def contribute(self, value: str, draft: PlanDraft) -> None:
        platform = platform_named(value)
        assert platform is not None  # checked
        draft.platform = platform
        if platform.runs:
            return
        values = draft.values
        machine_fixed = platform.system != "linux" or platform.musl != (0, 0)
        if machine_fixed and values["arch"] != ArchAxis.default:
            draft.problems.append(
                (
                    self.name,
                    f"platform {value} names its machine ({platform.machine}); arch "
                    f"{values['arch']} is a Linux architecture to run on",
                    f"leave arch out for {value} cells (exclude the pair)",
                )
            )
        for axis, default, why in _RESOLVED_ONLY_DEFAULTS:
            if values[axis] != default:
                draft.problems.append(
                    (
                        self.name,
                        f"platform {value} is only resolved (nothing is installed), so "
                        f"{axis}: {values[axis]} means nothing for it: {why}",
                        f"use {axis}: {default} for {value} cells (exclude the combination)",
                    )
                )
        draft.problems.extend((self.name, *p) for p in _resolver_problems(platform, draft))

    def cost(self, value: str) -> Cost:
        # A resolution reads the index and fetches metadata: about half an upgrade, no import
        return FREE if value == self.default else Cost(upgrades=-0.5)


FIRST_RESOLVING_PIP = Version("22.2")  # pip install --dry-run --report


def _resolver_problems(platform: Platform, draft: PlanDraft) -> list[tuple[str, str]]:
    """Why the cell's installer cannot resolve for `platform` here: (what is wrong, the fix)."""
    values = draft.values
    name, _ = installer_of(values["installer"])
    image = base_image_for(values["os"])
    if name in PROJECT_INSTALLERS:
        return [
            (
                f"installer {name} upgrades a project, which has no dry run of one install for "
                f"platform {platform.name}",
                f"use installer pip or uv for {platform.name} cells (exclude the combination)",
            )
        ]
    problems = []
    glibc = glibc_of(image)
    if platform.name == "resolved" and glibc is None:
        problems.append(
            (
                f"repromatrix does not know the glibc of {image}, which a resolution for its "
                "manylinux wheels needs",
                "use a Debian suite, ubuntu:22.04/24.04, rockylinux:9 ... (core/platforms.py "
                "GLIBC), or platform: linux to run it",
            )
        )
    arch = ARCHES.get(values["arch"], ARCHES[NATIVE_ARCH])
    uv_cannot = name == "uv" and not uv_platform(
        Resolution(platform, arch, draft.resolve_python or "3.12", glibc)
    )
    if uv_cannot:
        problems.append(
            (
                f"uv's --python-platform has no target for {platform.describe(arch, glibc)}",
                f"use installer pip for {platform.name} cells there (exclude the combination)",
            )
        )
    pinned = values["pip"] if values["pip"] != "os" else os_pip(image)
    too_old = name == "pip" and pinned and Version(pinned) < FIRST_RESOLVING_PIP
    if too_old:
        where = f"pip {pinned}" + (" (the os's)" if values["pip"] == "os" else "")
        problems.append(
            (
                f"{where} has no `install --dry-run --report`, which a resolution for "
                f"{platform.name} needs (pip 22.2 and later)",
                "pin a newer pip for these cells (pip: ['24.0']) or use os: bookworm",
            )
        )
    return problems


# What a resolution cannot vary: it installs nothing, for no user, from no prior version.
_RESOLVED_ONLY_DEFAULTS = (
    ("install", "venv", "no one installs anything anywhere"),
    ("prior", "none", "there is no installed version to upgrade from"),
    ("cache", "clean", "nothing is installed from the cache"),
    ("resources", "unlimited", "nothing runs that a limit would stop"),
)


# Docker's reference grammar (distribution/reference): what `docker pull` and FROM accept.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


def image_reference_ok(value: str) -> bool:
    return len(value) <= 255 and _REFERENCE.fullmatch(value) is not None


# -- python -------------------------------------------------------------------------------
class PythonAxis(Axis):
    name, default = "python", "system"
    doc = (
        "the interpreter: 'system' is the OS's python3; '3.9' ... '3.14' a CPython of that version "
        "on the OS"
    )
    fragment, layer = "base", 10

    def check(self, value: str) -> str | None:
        if value == "system" or re.fullmatch(r"3\.(?:[0-9]|[1-9][0-9])", value):
            return None
        return f"{value!r} is not 'system' or a Python version like '3.12'"

    def id_part(self, value: str, cell: IdContext) -> str | None:
        image = base_image_for(cell.values["os"])
        own = DEBIAN_SUITES.get(debian_suite_of(image) or "") or os_python(image)
        if value == "system":
            return f"py{own or 'system'}"
        # Debian's python3.11 and a CPython 3.11 under /usr/local differ (PEP 668, patches):
        # both may be in one matrix, so the second needs its own id.
        return f"py{value}" + ("-upstream" if value == own else "")

    def contribute(self, value: str, draft: PlanDraft) -> None:
        if draft.platform.resolved_only:
            self._resolver(value, draft)
            return
        image = base_image_for(draft.values["os"], draft.arch)
        draft.interpreter = Interpreter(
            version=None if value == "system" else value,
            os_image=image,
            suite=debian_suite_of(image),
            arch=draft.arch,
        )
        if problem := draft.interpreter.problem():
            draft.problems.append(
                (
                    self.name,
                    problem,
                    "use 'python: [system]' with that os, or a Debian suite such as bookworm",
                )
            )

    def _resolver(self, value: str, draft: PlanDraft) -> None:
        """A resolved cell: the os's own python3 runs its installer (on this machine's
        architecture, whatever it resolves for); `value` is the Python it resolves for."""
        image = base_image_for(draft.values["os"])
        draft.interpreter = Interpreter(None, image, debian_suite_of(image))
        own = os_python(image) if draft.platform.system == "linux" else ""
        draft.resolve_python = own if value == "system" else value
        if not draft.resolve_python:
            where = draft.platform.name if not own else draft.values["os"]
            draft.problems.append(
                (
                    self.name,
                    f"python: system on {where}: repromatrix does not know that system's "
                    "python3, and a resolution needs its version",
                    f"name the Python the reporter runs, e.g. python: '3.12', for {where} cells",
                )
            )

    def cost(self, value: str) -> Cost:
        # Another CPython is provisioned into the setup (cached after the first run).
        return FREE if value == self.default else Cost(upgrades=0.5)


# -- install ------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstallMode:
    """Who installed the prior version, where, and who runs the upgrade (None = root)."""

    name: str
    doc: str
    venv: str | None  # the virtual environment's path, if any
    prior_by: str | None  # who installs the prior version
    upgrade_by: str | None  # who runs the upgrade
    user_flag: bool = False  # the upgrade adds --user
    venv_options: tuple[str, ...] = ()  # e.g. --without-pip
    # How the user runs the installer: as a module of python3, or the command on PATH (`pip`).
    module: bool = True

    @property
    def user(self) -> str | None:
        return self.prior_by or self.upgrade_by


USER = "user"  # the non-root account of the modes that need one
INSTALL_MODES: dict[str, InstallMode] = {
    m.name: m
    for m in (
        InstallMode(
            "venv", "root creates a virtual environment and upgrades in it", "/opt/venv", None, None
        ),
        InstallMode(
            "system", "root upgrades the system python3, no virtual environment", None, None, None
        ),
        InstallMode(
            "system-user",
            "root installed the prior version system-wide; a non-root user upgrades "
            "with the system python3",
            None,
            None,
            USER,
        ),
        InstallMode(
            "user-flag",
            "root installed the prior version system-wide; a non-root user upgrades with --user",
            None,
            None,
            USER,
            user_flag=True,
        ),
        InstallMode(
            "user-venv",
            "a non-root user creates a virtual environment and upgrades in it",
            f"/home/{USER}/venv",
            USER,
            USER,
        ),
        InstallMode(
            "root-venv-user",
            "root created the virtual environment; a non-root user upgrades in it",
            "/opt/venv",
            None,
            USER,
        ),
        # What users are told when `python3 -m venv` fails for want of ensurepip: `python3` is then
        # the venv's, but the `pip` on PATH is the system's, which installs into the system's
        # site-packages.
        InstallMode(
            "venv-no-pip",
            "root created the virtual environment with --without-pip and runs `pip`: "
            "`python3` is the venv's, the `pip` on PATH another Python's",
            "/opt/venv",
            None,
            None,
            venv_options=("--without-pip",),
            module=False,
        ),
    )
}


class InstallAxis(ChoiceAxis):
    name, default = "install", "venv"
    doc = "who runs pip, into what: " + ", ".join(INSTALL_MODES)
    fragment, layer = "install", 30
    choices, always_in_id = INSTALL_MODES, True

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.mode = INSTALL_MODES[value]


# -- prior --------------------------------------------------------------------------------
class PriorAxis(VersionAxis):
    name, default = "prior", "none"
    doc = "the version installed before the upgrade, or none"

    def id_part(self, value: str, cell: IdContext) -> str | None:
        return "fresh" if value == "none" else f"{cell.short_name}{value}"

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.prior = None if value == "none" else value

    def cost(self, value: str) -> Cost:
        return (
            FREE if value == self.default else Cost(upgrades=1.0)
        )  # the prior version is installed first


# -- ca -----------------------------------------------------------------------------------
CA_VALUES = {
    "host": "trust the CA bundle the host's pip uses, given the way the cell's installer reads it",
    "none": "only the image's own CAs",
    # The field failure of a user who switched installers: the CA stays where pip reads it.
    "pip-config": "that bundle in pip's configuration only, which uv does not read",
    # How IT departments install a corporate CA: into the OS's store, where each installer may or
    # may not look (uv only with --system-certs)
    "system-store": "that bundle added to the OS's trust store (update-ca-certificates), and no "
    "installer variable",
}


class CaAxis(ChoiceAxis):
    name, default = "ca", "host"
    doc = _choices_doc(CA_VALUES)
    fragment, layer = "ca", 20
    choices, id_prefix = CA_VALUES, "ca-"

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.trust_host_ca = value != "none"
        draft.ca_for_pip_only = value == "pip-config"
        draft.ca_in_store = value == "system-store"

    def needs(self, value: str) -> RunNeeds:
        return RunNeeds(host_ca=value != "none")

    def cost(self, value: str) -> Cost:
        # Behind TLS interception (or against an index with its own CA) pip retries the failed
        # handshake before it gives up: 9-10 s measured.
        return Cost(waits=9) if value == "none" else FREE


# -- network ------------------------------------------------------------------------------
PROXY_HOST = "repromatrix-proxy"
PROXY_OPEN, PROXY_AUTH, PROXY_NOTHING = 3128, 3129, 3130  # squid ports; nothing listens on the last
OPEN_PROXY_URL = f"http://{PROXY_HOST}:{PROXY_OPEN}"  # the proxy on the internal network that works
MITM_HOST, MITM_PORT = "repromatrix-mitm", 8080
FLAKY_HOST, FLAKY_PORT = "repromatrix-flaky", 3131
# The same injector, but it stalls a tunnel (holds it open, sends nothing more)
FLAKY_STALL_PORT = 3132
FLAKY_CUT_AFTER = (
    1024 * 1024
)  # bytes a tunnel carries to the cell before the injector cuts or stalls it


@dataclass(frozen=True)
class NetworkMode:
    """How a cell reaches the index when the upgrade runs (builds always go direct)."""

    name: str
    doc: str
    internal: bool = False  # the cell sits on an internal network: no route but the proxy
    proxy_port: int | None = None
    credentials: bool = False  # proxy credentials reach the cell as a secret file
    intercepted: bool = False  # the proxy is the TLS-intercepting one (mitmproxy)
    trusts_interceptor: bool = False  # the cell trusts the interceptor's CA
    faulty: bool = False  # the proxy is our fault injector, which cuts (or stalls) downloads midway
    # Seconds pip spends on its own retries (5, with back-off) before it gives up on this way out;
    # measured on examples/causes.yaml: refused 10 s, 407 or a TLS failure 9 s, no DNS 70 s.
    waits: float = 0.0

    @property
    def proxy_host(self) -> str:
        if self.intercepted:
            return MITM_HOST
        return FLAKY_HOST if self.faulty else PROXY_HOST

    @property
    def proxy_url(self) -> str | None:
        """The proxy variables' value (never with credentials: those come from a secret)."""
        return f"http://{self.proxy_host}:{self.proxy_port}" if self.proxy_port else None

    @property
    def demands_credentials(self) -> bool:
        """The cell's proxy answers 407 without credentials (whether or not the cell has them)."""
        return self.proxy_port == PROXY_AUTH and not self.intercepted and not self.faulty

    @property
    def cost(self) -> Cost:
        """What this way out adds to a cell: pip's retries on a dead end; a proxy's detour."""
        return Cost(upgrades=0.1 if self.internal else 0.0, waits=self.waits)

    @property
    def services(self) -> frozenset[Service]:
        wanted = {Service.PROXY} if self.internal else set()
        wanted |= {Service.INTERCEPTOR} if self.intercepted else set()
        wanted |= {Service.FAULT_INJECTOR} if self.faulty else set()
        return frozenset(wanted)


NETWORK_MODES: dict[str, NetworkMode] = {
    m.name: m
    for m in (
        NetworkMode("direct", "the cell reaches the index directly"),
        NetworkMode("proxy", "the cell has no route but an HTTP proxy (squid)", True, PROXY_OPEN),
        NetworkMode(
            "proxy-auth",
            "only a proxy that demands credentials, and the cell has none",
            True,
            PROXY_AUTH,
            waits=9,
        ),
        NetworkMode(
            "proxy-auth-secret",
            "only a proxy that demands credentials, given to the cell as a secret file at run time",
            True,
            PROXY_AUTH,
            credentials=True,
        ),
        NetworkMode(
            "proxy-down",
            "the proxy variables point at a port of ours where nothing listens",
            True,
            PROXY_NOTHING,
            waits=10,
        ),
        NetworkMode("no-route", "no route to the index and no proxy configured", True, waits=70),
        NetworkMode(
            "tls-intercept",
            "only a TLS-intercepting proxy (mitmproxy) whose CA the cell does not trust",
            True,
            MITM_PORT,
            intercepted=True,
            waits=9,
        ),
        NetworkMode(
            "flaky",
            "the only way out cuts every connection after 1 MiB: downloads break off midway",
            True,
            FLAKY_PORT,
            faulty=True,
        ),
        NetworkMode(
            "stalled",
            "the only way out stops sending after 1 MiB and holds the connection open: "
            "downloads stall midway until pip's read timeout",
            True,
            FLAKY_STALL_PORT,
            faulty=True,
            waits=15,
        ),
        NetworkMode(
            "tls-intercept-trusted",
            "only a TLS-intercepting proxy (mitmproxy) whose CA the cell trusts",
            True,
            MITM_PORT,
            intercepted=True,
            trusts_interceptor=True,
        ),
    )
}


class NetworkAxis(ChoiceAxis):
    name, default = "network", "direct"
    doc = "how the cell reaches the index: " + ", ".join(NETWORK_MODES)
    fragment, layer = "network", 70
    choices = NETWORK_MODES

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.network = NETWORK_MODES[value]

    def needs(self, value: str) -> RunNeeds:
        return RunNeeds(services=NETWORK_MODES[value].services)

    def cost(self, value: str) -> Cost:
        return NETWORK_MODES[value].cost


# -- pip ----------------------------------------------------------------------------------
class PipAxis(VersionAxis):
    name, default = "pip", "os"
    doc = (
        "os: the pip the interpreter comes with; or a version pinned before the upgrade, e.g. "
        "'19.2.3'"
    )

    def id_part(self, value: str, cell: IdContext) -> str | None:
        return None if value == "os" else f"pip{value}"

    def contribute(self, value: str, draft: PlanDraft) -> None:
        if value != "os":  # last, so the OS's pip set up the rest as it did for users
            draft.pip_pin = value

    def needs(self, value: str) -> RunNeeds:
        return NOTHING if value == "os" else RunNeeds(real_wheels=frozenset({f"pip=={value}"}))


# -- installer ----------------------------------------------------------------------------
# The installers a cell can upgrade with (installers/ registers one for each, and checks it).
InstallerName = Literal["pip", "uv", "uv-add", "pip-tools"]
INSTALLER_NAMES: tuple[InstallerName, ...] = get_args(InstallerName)
# The installers whose dependencies live in a project that keeps a virtual environment in step
# with its lock: an install mode without one means nothing for them. What each does with it:
PROJECT_INSTALLERS: dict[InstallerName, str] = {
    "uv-add": "adds to a project, which has its own environment",
    "pip-tools": "syncs a virtual environment to its compiled requirements (pip-tools installs "
    "into and syncs the environment it runs in)",
}


def installer_of(value: str) -> tuple[InstallerName, str | None]:
    """'uv==0.13.9' -> ('uv', '0.13.9'); the value is checked (InstallerAxis.check)."""
    name, _, version = value.partition("==")
    known = next(n for n in INSTALLER_NAMES if n == name)
    return known, version or None


class InstallerAxis(Axis):
    name, default = "installer", "pip"
    doc = (
        "what runs the upgrade: pip (its version is the pip axis), uv (`uv pip install`), "
        "uv-add (a uv project: `uv add --upgrade-package`) or pip-tools (`pip-compile "
        "--upgrade-package`, then `pip-sync`), the others optionally at a version, e.g. "
        "'uv==0.13.9', 'pip-tools==7.5.3'"
    )
    fragment, layer = "installer", 25

    def check(self, value: str) -> str | None:
        name, _, version = value.partition("==")
        if name not in INSTALLER_NAMES:
            return f"unknown installer {name!r}; {did_you_mean(name, INSTALLER_NAMES)}"
        if name == "pip" and version:
            return f"{value!r}: pip's version is the pip axis (pip: ['{version}'])"
        return _version_problem(version) if version else None

    def canonical(self, value: str) -> str:
        name, version = installer_of(value) if self.check(value) is None else (value, None)
        return f"{name}=={canonicalize_version(version)}" if version else name

    def id_part(self, value: str, cell: IdContext) -> str | None:
        name, version = installer_of(value)
        return None if name == "pip" else f"{name}{version or ''}"

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.installer, draft.installer_pin = installer_of(value)
        if draft.installer == "pip":
            return
        # What the other axes can only mean for pip: say so rather than run a copy of a pip cell.
        if draft.values["pip"] != "os":
            draft.problems.append(
                (
                    self.name,
                    f"pip: {draft.values['pip']} pins the pip that pip cells upgrade with; "
                    f"it is not varied for {draft.installer} cells",
                    f"use pip: [os] for {draft.installer} cells (exclude the combination)",
                )
            )
        mode = INSTALL_MODES.get(draft.values["install"])
        outside_venv = mode is not None and mode.venv is None
        if draft.installer in PROJECT_INSTALLERS and outside_venv:
            draft.problems.append(
                (
                    self.name,
                    f"{value} {PROJECT_INSTALLERS[draft.installer]}: install: "
                    f"{draft.values['install']} (no virtual environment) means nothing for it",
                    f"use an install mode with a virtual environment for {draft.installer} cells "
                    "(venv, user-venv, root-venv-user; exclude the combination)",
                )
            )


# -- cache --------------------------------------------------------------------------------
CACHE_VALUES = {
    "clean": "the installer's cache is empty",
    "corrupted": "it holds a damaged copy of the wheel the upgrade wants (pip: the wheel file; "
    "uv: its unpacked copy)",
}


class CacheAxis(ChoiceAxis):
    name, default = "cache", "clean"
    doc = _choices_doc(CACHE_VALUES)
    fragment, layer = "cache", 50
    choices, id_prefix = CACHE_VALUES, "cache-"

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.cache_corrupted = value == "corrupted"


# -- resources ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """What the cell's container may use: run-time limits, not part of the image."""

    name: str
    doc: str
    tmpfs: tuple[
        tuple[str, str], ...
    ] = ()  # (mount point, tmpfs options), e.g. ("/tmp", "size=1m")
    memory: str = ""  # the container's memory limit (and memory+swap), in Docker's spelling: "32m"
    # How long the upgrade may run before it is killed (a CI step's timeout)
    upgrade_seconds: int = 0

    def env(self) -> dict[str, str]:
        """Variables the scenario reads for these limits (templates/scenario.py)."""
        return {contract.TIMEOUT: str(self.upgrade_seconds)} if self.upgrade_seconds else {}

    def docker_run_options(self) -> tuple[str, ...]:
        """The same limits as `docker run` options, for the reproduce command."""
        memory = (f"--memory={self.memory}", f"--memory-swap={self.memory}") if self.memory else ()
        env = tuple(f"--env={name}={value}" for name, value in self.env().items())
        return tuple(f"--tmpfs={path}:{options}" for path, options in self.tmpfs) + memory + env


RESOURCE_LIMITS: dict[str, Limits] = {
    m.name: m
    for m in (
        Limits("unlimited", "no limits beyond the engine's"),
        # pip downloads and unpacks in TMPDIR (/tmp): the newest model wheels carry 1.5 MiB, so a 1
        # MiB /tmp fails as a 600 MB wheel fails on a small /tmp, a quota or a full disk.
        Limits(
            "small-tmp",
            "/tmp is a 1 MiB tmpfs: smaller than the wheel pip downloads and unpacks there",
            tmpfs=(("/tmp", "size=1m,mode=1777"),),
        ),
        # pip's own process needs about 40 MiB before it downloads anything (measured: 48 MiB
        # installs a small
        # wheel, 32 MiB is killed): what a 1 GiB VM or a CI runner does to a real 600 MB TensorFlow.
        Limits(
            "small-memory",
            "the container may use 32 MiB of memory and no swap: the kernel kills pip",
            memory="32m",
        ),
        # A CI job's step timeout: the upgrade is killed after 20 s (our own limit stays
        # settings.timeout).
        Limits(
            "time-limit",
            "the upgrade may run 20 s, as a CI step's timeout allows, then it is killed",
            upgrade_seconds=20,
        ),
    )
}


class ResourcesAxis(ChoiceAxis):
    name, default = "resources", "unlimited"
    doc = "what the cell's container may use: " + _choices_doc(
        {n: m.doc for n, m in RESOURCE_LIMITS.items()}
    )
    choices = RESOURCE_LIMITS

    def contribute(self, value: str, draft: PlanDraft) -> None:
        draft.limits = RESOURCE_LIMITS[value]


# -- conflicts ----------------------------------------------------------------------------
def same_release(a: str, b: str) -> bool:
    """'2.15' and '2.15.0' name one release (PEP 440)."""
    return canonicalize_version(a) == canonicalize_version(b)


CONFLICT_MODES: dict[str, ConflictMode] = {
    m.name: m
    for m in (
        ConflictMode("none", "nothing else installed"),
        ConflictMode(
            "numpy-cap", "an older scipy that caps numpy below 2 is installed", ("scipy==1.11.4",)
        ),
        ConflictMode(
            "protobuf-cap",
            "a library that pins protobuf below 5 is installed",
            ("googleapis-common-protos==1.63.0",),
        ),
        ConflictMode(
            "constraints",
            "a constraints file left over from TensorFlow 2.11 days pins protobuf",
            constraints=("protobuf==3.19.6",),
        ),
        ConflictMode(
            "protobuf-below-6",
            "a constraints file caps protobuf below 6 (a site-wide pin); the newest "
            "TensorFlow needs protobuf 6.31 or later",
            constraints=("protobuf<6",),
        ),
        ConflictMode(
            "distutils-numpy",
            "numpy 1.24.3 installed by `setup.py install` with distutils: an egg-info "
            "file and no record of its files",
            ("numpy==1.24.3",),
            legacy="distutils",
        ),
        ConflictMode(
            "no-record-numpy",
            "numpy 1.24.3 installed the way OS packages are: a dist-info without "
            "RECORD, INSTALLER debian",
            ("numpy==1.24.3",),
            legacy="no-record",
        ),
        ConflictMode(
            "tensorflow-gpu",
            "tensorflow-gpu 2.10.1 left from before, installed after the prior version: "
            "both write site-packages/tensorflow/",
            ("tensorflow-gpu==2.10.1",),
        ),
    )
}


class ConflictsAxis(ChoiceAxis):
    name, default = "conflicts", "none"
    doc = (
        "the environment the upgrade runs in: a name from the matrix's environments, or one of "
        + ", ".join(CONFLICT_MODES)
    )
    fragment, layer = "conflicts", 60
    choices = CONFLICT_MODES
    defined_by = "environments"

    def contribute(self, value: str, draft: PlanDraft) -> None:
        mode = CONFLICT_MODES.get(value) or draft.environments.get(value)
        if mode is None:  # the matrix's check refuses this first; a plan of a stale cell
            draft.problems.append((self.name, f"no environment {value!r}", "define it"))
            return
        draft.conflicts = mode
        family = family_of(base_image_for(draft.values["os"]))
        if mode.apt and family.packages != "apt":
            draft.problems.append(
                (
                    self.name,
                    f"environment {value!r} lists Debian packages (apt), but os "
                    f"{draft.values['os']} is {family.doc}, which has no apt",
                    "use the environment with a Debian or Ubuntu os (exclude the pair)",
                )
            )
        draft.preinstall.extend(mode.preinstall)
        draft.notes.extend(f"left out of environment {value}: {why}" for why in mode.dropped)
        if mode.prior is None:
            return
        contradicts = draft.prior is not None and not same_release(draft.prior, mode.prior)
        if contradicts:
            draft.problems.append(
                (
                    self.name,
                    f"environment {value!r} pins the target at {mode.prior} ({mode.defined_at}), "
                    f"but prior is {draft.prior}",
                    "leave prior out (the environment's pin is the prior version), or exclude "
                    "the pair",
                )
            )
            return
        draft.prior = mode.prior
        draft.notes.append(f"the prior version {mode.prior} is the environment {value}'s pin")

    def cost(self, value: str) -> Cost:
        return (
            FREE if value == self.default else Cost(upgrades=0.2)
        )  # the other libraries, installed first


# The order of AXES is the order of the parts of a cell id (and of the axes in reports).
AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        OsAxis(),
        ArchAxis(),
        PlatformAxis(),
        PythonAxis(),
        InstallAxis(),
        PriorAxis(),
        CaAxis(),
        NetworkAxis(),
        ConflictsAxis(),
        PipAxis(),
        CacheAxis(),
        ResourcesAxis(),
        InstallerAxis(),
    )
}
AXIS_ORDER = (
    "os",
    "arch",
    "platform",
    "python",
    "install",
    "prior",
    "ca",
    "network",
    "pip",
    "cache",
    "conflicts",
    "resources",
    "installer",
)  # reports, yaml
complete("axis", AXES, AXIS_ORDER)


def cell_id(values: Mapping[str, str], short_name: str) -> str:
    """A stable, readable id such as 'bookworm-py3.11-venv-tf2.15.0'."""
    cell = IdContext(values, short_name)
    parts = (part for axis in AXES.values() if (part := axis.id_part(values[axis.name], cell)))
    # Ids name directories and image tags: anything else ('+' of a local version) becomes '-'.
    return re.sub(r"[^A-Za-z0-9._-]", "-", "-".join(parts))


def run_needs(cells_values: Iterable[Mapping[str, str]]) -> RunNeeds:
    needs = NOTHING
    for values in cells_values:
        for axis in AXES.values():
            needs = needs | axis.needs(values[axis.name])
    return needs


def cell_cost(values: Mapping[str, str]) -> Cost:
    total = FREE
    for axis in AXES.values():
        total = total + axis.cost(values[axis.name])
    return total


def fragments() -> list[tuple[int, str]]:
    """The Dockerfile fragments of the axes with their layers, in layer order (the index's
    environment goes at layer 25, between the CA and the install mode)."""
    return [
        (a.layer, f"axes/{a.fragment}.j2")
        for a in sorted(AXES.values(), key=lambda a: a.layer)
        if a.fragment
    ]


def defaults() -> dict[str, str]:
    return {name: axis.default for name, axis in AXES.items()}
