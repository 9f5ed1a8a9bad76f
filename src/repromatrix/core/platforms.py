"""Where a cell runs, or what it only resolves for: each declared once.

Two axes read this module. `arch` is the Linux architecture a cell's container runs on: this
machine's own, or another one under qemu-user emulation (Debian's qemu-user-static registers a
binfmt_misc handler, and the kernel hands each foreign binary to it). `platform` is `linux`
for a cell that runs, or a platform no container here can run (macOS, Windows, musl Linux; or
`resolved`, the cell's own Linux os and arch without running it): such a cell is only
resolved, by the cell's installer in a container of this machine, with that platform's wheel
tags and environment markers. It never installs, imports or checks anything, and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .registry import unique

# -- architectures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arch:
    """A Linux architecture, by Debian's name for it."""

    name: str  # Debian's (debootstrap --arch): amd64, arm64, armhf, ...
    machine: str  # what `uname -m` prints in its containers
    wheel: str  # its name in wheel platform tags (manylinux_2_17_<wheel>)
    docker: str  # Docker's platform (docker pull --platform)
    # Docker Hub's namespace of the official images built for it (arm64v8/debian:bookworm): an
    # image name that means this architecture on every machine
    namespace: str
    doc: str
    first_suite: str = ""  # the first Debian suite with a port for it ('' = every suite here)

    @property
    def qemu(self) -> str:
        """The binfmt_misc handler qemu-user-static registers for its binaries."""
        return "qemu-" + {"x86_64": "x86_64", "armv7l": "arm", "i686": "i386"}.get(
            self.machine, self.machine
        )

    @property
    def docker_parts(self) -> tuple[str, str]:
        """(architecture, variant) as an image's config names them."""
        _, arch, *variant = self.docker.split("/")
        return arch, (variant[0] if variant else "")


ARCHES: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("amd64", "x86_64", "x86_64", "linux/amd64", "amd64", "64-bit x86 (PCs, most servers)"),
        Arch(
            "arm64",
            "aarch64",
            "aarch64",
            "linux/arm64/v8",
            "arm64v8",
            "64-bit ARM (AWS Graviton, Ampere, Raspberry Pi OS 64-bit, Docker on Apple silicon)",
        ),
        Arch(
            "armhf",
            "armv7l",
            "armv7l",
            "linux/arm/v7",
            "arm32v7",
            "32-bit ARM with hardware floats (Raspberry Pi OS 32-bit, older boards)",
        ),
        Arch("i386", "i686", "i686", "linux/386", "i386", "32-bit x86"),
        Arch("ppc64el", "ppc64le", "ppc64le", "linux/ppc64le", "ppc64le", "64-bit POWER (POWER9+)"),
        Arch("s390x", "s390x", "s390x", "linux/s390x", "s390x", "IBM Z"),
        Arch(
            "riscv64",
            "riscv64",
            "riscv64",
            "linux/riscv64",
            "riscv64",
            "64-bit RISC-V",
            first_suite="trixie",
        ),
    )
}
unique("arch", [a.name for a in ARCHES.values()])
NATIVE_ARCH = "amd64"  # the axis's default: what a plain image name means on most engines

# What each kind of machine (as `docker info` names its architecture) runs without emulation.
RUNS_NATIVELY: dict[str, frozenset[str]] = {
    "x86_64": frozenset({"amd64", "i386"}),
    "aarch64": frozenset({"arm64", "armhf"}),
}
# How much slower a cell runs under qemu-user than natively, measured on this project's 2-core
# x86_64 machine with arm64 bookworm containers: a venv 6.9x (15.5 s against 2.2 s), `pip
# --version` 7x, the cell's setup (apt's python3, pip and venv) 7.5x, a Python loop 12.6x and
# the interpreter's start 12x. Time limits of emulated cells are scaled by it, and so is their
# cost for shards.
EMULATION_SLOWDOWN = 10


def arch_by_machine(machine: str) -> Arch | None:
    """The architecture whose containers report `machine` (uname -m), if one does."""
    return next((a for a in ARCHES.values() if a.machine == machine), None)


def emulated(arch: Arch, engine_machine: str) -> bool:
    """Does a container of `arch` need emulation on an engine of `engine_machine`? An unknown
    engine (it did not say) is taken to be x86_64, the usual case."""
    native = RUNS_NATIVELY.get(engine_machine or "x86_64", frozenset())
    same = arch_by_machine(engine_machine or "x86_64")
    return arch.name not in native and (same is None or same.name != arch.name)


# Docker Hub's official images: a name without a registry host or a namespace of its own, so
# `NAMESPACE/NAME:TAG` names the same image built for one architecture.
_OFFICIAL = re.compile(r"(?:docker\.io/)?(?:library/)?(?P<name>[a-z0-9][a-z0-9._-]*)(?P<tag>:.+)?")
_ARCH_NAMESPACED = re.compile(r"(?:docker\.io/)?(?P<ns>[a-z0-9]+)/(?P<rest>[a-z0-9][a-z0-9._-]*.*)")


def image_for_arch(image: str, arch: Arch) -> str | None:
    """The name of `image` built for `arch`: the image itself for amd64, Docker Hub's
    per-architecture namespace for an official image (arm64v8/debian:bookworm); None when there
    is no such name (an image of another registry or namespace: name one built for it)."""
    if arch_of_image(image) is not None:
        return image  # already one architecture's (i386/debian:bookworm)
    if arch.name == NATIVE_ARCH:
        return image
    m = _OFFICIAL.fullmatch(image)
    if m is None or "/" in image.removeprefix("docker.io/").removeprefix("library/"):
        return None
    return f"{arch.namespace}/{m.group('name')}{m.group('tag') or ''}"


def arch_of_image(image: str) -> Arch | None:
    """The architecture an image name fixes (arm64v8/debian:bookworm → arm64), if it does."""
    m = _ARCH_NAMESPACED.fullmatch(image)
    if m is None:
        return None
    return next((a for a in ARCHES.values() if a.namespace == m.group("ns")), None)


# -- platforms a cell resolves for --------------------------------------------------------------

System = Literal["linux", "macos", "windows"]
PYTHON_IMPLEMENTATION = "cp"  # every platform here is CPython's


@dataclass(frozen=True)
class Platform:
    """What the `platform` axis names: where the cell runs (`linux`), or a platform it only
    resolves for, with the wheel platforms its installer is told and the environment markers
    its resolution is evaluated with (pip evaluates markers as on the machine it runs on,
    pypa/pip#11664: without the target's, a Windows-only requirement is left out)."""

    name: str
    doc: str
    system: System
    machine: str  # platform_machine on it ('' for linux: the arch axis's)
    runs: bool = False  # the cell runs in a container (linux), instead of being resolved
    macos: tuple[int, int] = (0, 0)  # the macOS version whose tags it takes
    musl: tuple[int, int] = (0, 0)  # the musl version of a musllinux platform
    windows_tag: str = ""  # win_amd64, win_arm64, win32
    uv_platform: str = ""  # uv's --python-platform (for linux: set from the os and arch)

    @property
    def resolved_only(self) -> bool:
        return not self.runs

    def describe(self, arch: Arch | None = None, glibc: tuple[int, int] | None = None) -> str:
        """'macOS 14 on arm64', 'Windows on x86-64', 'musl Linux 1.2 on x86_64', 'Linux
        aarch64 (glibc 2.36)'."""
        if self.system == "macos":
            return f"macOS {self.macos[0]} on {self.machine}"
        if self.system == "windows":
            return self.doc
        if self.musl != (0, 0):
            return f"musl Linux (musl {self.musl[0]}.{self.musl[1]}) on {self.machine}"
        machine = arch.wheel if arch else "this machine"
        libc = f" (glibc {glibc[0]}.{glibc[1]})" if glibc else ""
        return f"Linux {machine}{libc}"

    def wheel_platforms(self, arch: Arch, glibc: tuple[int, int] | None) -> tuple[str, ...]:
        """The platforms to give the installer (pip's --platform, once each), most preferred
        first. pip widens a macOS platform to the older macOS versions itself, but not a
        manylinux_2_x or musllinux one, so those are listed whole, as packaging computes them."""
        if self.system == "macos":
            return (f"macosx_{self.macos[0]}_{self.macos[1]}_{self.machine}",)
        if self.system == "windows":
            return (self.windows_tag,)
        if self.musl != (0, 0):
            major, minor = self.musl
            musl = tuple(f"musllinux_{major}_{m}_{self.machine}" for m in range(minor, -1, -1))
            return musl + (f"linux_{self.machine}",)
        return manylinux_platforms(arch.wheel, glibc or (2, 17))

    def markers(self, python: str, arch: Arch | None = None) -> dict[str, str]:
        """PEP 508's environment markers on this platform with CPython `python` (X.Y): what a
        resolution for it is evaluated with. The micro version (X.Y.0) and the kernel's
        strings are stand-ins; markers on them are rare, and the report says they were set."""
        system, machine = self.system, self.machine or (arch.machine if arch else "")
        full = f"{python}.0"
        common = {
            "implementation_name": "cpython",
            "implementation_version": full,
            "platform_python_implementation": "CPython",
            "python_version": python,
            "python_full_version": full,
            "platform_machine": machine,
        }
        if system == "macos":
            darwin = f"{self.macos[0] + 9}.0.0"  # macOS 14 is Darwin 23
            return common | {
                "os_name": "posix",
                "sys_platform": "darwin",
                "platform_system": "Darwin",
                "platform_release": darwin,
                "platform_version": f"Darwin Kernel Version {darwin}",
            }
        if system == "windows":
            return common | {
                "os_name": "nt",
                "sys_platform": "win32",
                "platform_system": "Windows",
                "platform_release": "10",
                "platform_version": "10.0.19045",
            }
        return common | {
            "os_name": "posix",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_release": "6.1.0",
            "platform_version": "#1 SMP PREEMPT_DYNAMIC",
        }


def manylinux_platforms(wheel_arch: str, glibc: tuple[int, int]) -> tuple[str, ...]:
    """Every manylinux platform a glibc system of this architecture runs, newest first, with
    the legacy aliases (manylinux2014 is 2.17, manylinux2010 2.12, manylinux1 2.5), then
    linux_<arch>: what packaging computes on such a system."""
    aliases = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
    oldest = 5 if wheel_arch in ("x86_64", "i686") else 17  # the first manylinux of the arch
    out: list[str] = []
    for minor in range(glibc[1], oldest - 1, -1):
        out.append(f"manylinux_2_{minor}_{wheel_arch}")
        if alias := aliases.get((2, minor)):
            out.append(f"{alias}_{wheel_arch}")
    return tuple(out) + (f"linux_{wheel_arch}",)


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("linux", "runs in a container of the os and arch", "linux", "", runs=True),
        Platform(
            "resolved",
            "the os and arch resolved, not run (where they cannot run here)",
            "linux",
            "",
        ),
        Platform(
            "macos-arm64",
            "macOS 14 on Apple silicon",
            "macos",
            "arm64",
            macos=(14, 0),
            uv_platform="aarch64-apple-darwin",
        ),
        Platform(
            "macos-x86_64",
            "macOS 14 on Intel",
            "macos",
            "x86_64",
            macos=(14, 0),
            uv_platform="x86_64-apple-darwin",
        ),
        Platform(
            "windows-amd64",
            "Windows on x86-64",
            "windows",
            "AMD64",
            windows_tag="win_amd64",
            uv_platform="x86_64-pc-windows-msvc",
        ),
        Platform(
            "windows-arm64",
            "Windows on ARM64",
            "windows",
            "ARM64",
            windows_tag="win_arm64",
            uv_platform="aarch64-pc-windows-msvc",
        ),
        # A 32-bit CPython (the other installer on python.org's page): on 64-bit Windows it
        # still reports the machine as AMD64.
        Platform(
            "windows-x86",
            "a 32-bit CPython on Windows",
            "windows",
            "AMD64",
            windows_tag="win32",
            uv_platform="i686-pc-windows-msvc",
        ),
        Platform(
            "musllinux-x86_64",
            "musl Linux (Alpine) on x86_64",
            "linux",
            "x86_64",
            musl=(1, 2),
            uv_platform="x86_64-unknown-linux-musl",
        ),
        Platform(
            "musllinux-aarch64",
            "musl Linux (Alpine) on aarch64",
            "linux",
            "aarch64",
            musl=(1, 2),
            uv_platform="aarch64-unknown-linux-musl",
        ),
    )
}
unique("platform", [p.name for p in PLATFORMS.values()])
RUN_PLATFORM = "linux"
_MACOS_VERSION = re.compile(r"macos-(?P<major>1[1-9]|2[0-9])-(?P<machine>arm64|x86_64)")


def platform_named(value: str) -> Platform | None:
    """The platform a `platform` value names: one of PLATFORMS, or macOS at another version
    ('macos-13-arm64', 'macos-15-x86_64')."""
    if value in PLATFORMS:
        return PLATFORMS[value]
    m = _MACOS_VERSION.fullmatch(value)
    if m is None:
        return None
    base = PLATFORMS[f"macos-{m.group('machine')}"]
    major = int(m.group("major"))
    return Platform(
        value,
        f"macOS {major} on {'Apple silicon' if base.machine == 'arm64' else 'Intel'}",
        "macos",
        base.machine,
        macos=(major, 0),
        uv_platform=base.uv_platform,
    )


# The glibc of the Linux images a resolved cell may stand for (os-release and `ldd --version` of
# each): what its manylinux platforms go up to.
GLIBC: dict[str, tuple[int, int]] = {
    "debian:bullseye": (2, 31),
    "debian:bookworm": (2, 36),
    "debian:trixie": (2, 41),
    "ubuntu:20.04": (2, 31),
    "ubuntu:22.04": (2, 35),
    "ubuntu:24.04": (2, 39),
    "rockylinux:8": (2, 28),
    "rockylinux:9": (2, 34),
    "almalinux:8": (2, 28),
    "almalinux:9": (2, 34),
    "amazonlinux:2": (2, 26),
    "amazonlinux:2023": (2, 34),
    "centos:7": (2, 17),
}


def glibc_of(image: str) -> tuple[int, int] | None:
    """The glibc of a known image (by its name without an architecture's namespace)."""
    plain = _ARCH_NAMESPACED.fullmatch(image)
    if plain and arch_of_image(image):
        image = plain.group("rest")
    return GLIBC.get(image.removeprefix("docker.io/").removeprefix("library/"))
