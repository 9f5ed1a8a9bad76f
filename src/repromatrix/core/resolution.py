"""A resolved cell: the question its installer answers in a container of this
machine, "what would you take on that platform?", with the wheel tags and environment markers
of that platform (pure: no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms

from .platforms import PYTHON_IMPLEMENTATION, Arch, Platform

# Where the resolution's files live in the cell's container (its build context copies them)
RESOLVE_FOR = "/opt/repromatrix/resolve_for.py"  # pip, with the platform's markers
MARKERS_PATH = "/opt/repromatrix/markers.json"
REPORT_PATH = "/tmp/repromatrix-resolution.json"  # pip's --report
TARGET_DIR = "/tmp/repromatrix-target"  # pip and uv want a --target with --platform; nothing lands


@dataclass(frozen=True)
class Resolution:
    """What a resolved cell resolves for: a platform, a CPython X.Y, and what follows from them
    (the platforms its installer is told, the tags they give, the markers it evaluates)."""

    platform: Platform
    arch: Arch  # the Linux architecture of a `resolved` os and arch
    python: str  # X.Y
    glibc: tuple[int, int] | None  # the glibc of a `resolved` Linux image, where known

    @property
    def describe(self) -> str:
        """'macOS 14 on arm64, CPython 3.12'."""
        return f"{self.platform.describe(self.arch, self.glibc)}, CPython {self.python}"

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def wheel_platforms(self) -> tuple[str, ...]:
        return self.platform.wheel_platforms(self.arch, self.glibc)

    @property
    def markers(self) -> dict[str, str]:
        return self.platform.markers(self.python, self.arch)

    def markers_json(self) -> str:
        return json.dumps(self.markers, indent=2, sort_keys=True) + "\n"

    def tags(self) -> list[Tag]:
        """Every tag the platform's CPython X.Y accepts, in pip's order of preference: what pip
        computes from the --platform options (a macOS one widened to the older macOS versions,
        as pip widens it), --python-version, --implementation cp and --abi."""
        version = tuple(int(part) for part in self.python.split("."))
        platforms = list(self._expanded())
        tags = list(cpython_tags(version, [self.abi], platforms))
        return tags + list(compatible_tags(version, self.abi, platforms))

    def _expanded(self) -> tuple[str, ...]:
        if self.platform.system != "macos":
            return self.wheel_platforms
        major, minor = self.platform.macos
        return tuple(mac_platforms((major, minor), self.platform.machine))

    def tags_json(self) -> dict[str, Any]:
        """As a cell's record keeps tags: {"count", "pairs", "platforms"}, in preference order."""
        tags = self.tags()
        pairs = list(dict.fromkeys(f"{t.interpreter}-{t.abi}" for t in tags))
        platforms = list(dict.fromkeys(t.platform for t in tags))
        return {"count": len(tags), "pairs": pairs, "platforms": platforms}

    def pip_tags_arguments(self) -> dict[str, Any]:
        """pip's get_supported() arguments for the options it is given: what the cell's pip
        computes the platform's tags from (the scenario asks it; tags_json() stands in where it
        cannot say)."""
        return {
            "version": self.python.replace(".", ""),
            "platforms": list(self.wheel_platforms),
            "impl": PYTHON_IMPLEMENTATION,
            "abis": [self.abi],
        }

    def to_json(self, probes: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """What the scenario is told (contract.RESOLVE) and gives back in its record; `probes`:
        the installer's commands for why it took less than the newest (resolve_probes)."""
        return {
            "platform": self.platform.name,
            "describe": self.describe,
            "python": self.python,
            "report": REPORT_PATH,
            "tags": self.tags_json(),
            "tags_for": self.pip_tags_arguments(),
            "probes": probes or {},
        }


def pip_options(resolution: Resolution) -> list[str]:
    """pip's options for a dry run on the platform (pip >= 22.2 for --dry-run and --report;
    --target, as pip 23 refuses --platform without it even in a dry run)."""
    options = ["--dry-run", "--ignore-installed", "--only-binary=:all:"]
    for name in resolution.wheel_platforms:
        options += ["--platform", name]
    return options + [
        "--python-version",
        resolution.python,
        "--implementation",
        PYTHON_IMPLEMENTATION,
        "--abi",
        resolution.abi,
        "--target",
        TARGET_DIR,
        "--report",
        REPORT_PATH,
    ]


def uv_platform(resolution: Resolution) -> str:
    """uv's --python-platform for it ('' where uv has none: 32-bit ARM, POWER, ...)."""
    platform = resolution.platform
    if platform.uv_platform:
        return platform.uv_platform
    glibc = resolution.glibc or (2, 17)
    if resolution.arch.wheel not in UV_MANYLINUX_ARCHES or glibc[1] not in UV_MANYLINUX_MINORS:
        return ""
    return f"{resolution.arch.wheel}-manylinux_2_{glibc[1]}"


# The manylinux targets uv 0.13's --python-platform names (its --help lists them)
UV_MANYLINUX_ARCHES = ("x86_64", "aarch64", "s390x", "ppc64le")
UV_MANYLINUX_MINORS = frozenset({17, 28, *range(31, 41)})


def uv_environment(resolution: Resolution) -> tuple[tuple[str, str], ...]:
    """uv takes the macOS version from MACOSX_DEPLOYMENT_TARGET (13.0 without it)."""
    if resolution.platform.system != "macos":
        return ()
    major, minor = resolution.platform.macos
    return (("MACOSX_DEPLOYMENT_TARGET", f"{major}.{minor}"),)


def uv_options(resolution: Resolution) -> list[str]:
    return [
        "--dry-run",
        "--python-platform",
        uv_platform(resolution),
        "--python-version",
        resolution.python,
        "--only-binary",
        ":all:",
        "--target",
        TARGET_DIR,
    ]
