"""The interpreter a cell runs, as data: the OS's own python3 or a CPython X.Y on a Debian suite,
named like the official image (python:X.Y-slim-<suite>). Where its image comes from is
infra/interpreters.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .platforms import ARCHES, NATIVE_ARCH, Arch, arch_of_image, image_for_arch

# The Python each Debian suite ships as python3.
DEBIAN_SUITES: dict[str, str] = {
    "buster": "3.7",
    "bullseye": "3.9",
    "bookworm": "3.11",
    "trixie": "3.13",
    "forky": "3.14",
}
# The python3 and pip other images ship (their package managers' python3 and python3-pip), for
# what a resolved cell stands for: its Python, and whether its pip can resolve for another
# platform at all.
OS_PYTHONS: dict[str, tuple[str, str]] = {
    "debian:bullseye": ("3.9", "20.3.4"),
    "debian:bookworm": ("3.11", "23.0.1"),
    "debian:trixie": ("3.13", "25.1.1"),
    "ubuntu:20.04": ("3.8", "20.0.2"),
    "ubuntu:22.04": ("3.10", "22.0.2"),
    "ubuntu:24.04": ("3.12", "24.0"),
    "rockylinux:9": ("3.9", "21.3.1"),
    "almalinux:9": ("3.9", "21.3.1"),
    "amazonlinux:2023": ("3.9", "21.3.1"),
    "alpine:3.20": ("3.12", "24.0"),
    "alpine:3.21": ("3.12", "24.3.1"),
}
SOURCES_ENV = "REPROMATRIX_PYTHON_SOURCES"
Say = Callable[[str], None]


def base_image_for(os_value: str, arch: Arch = ARCHES[NATIVE_ARCH]) -> str:
    """A bare suite name means Debian's image of that suite; a root file system tarball (for
    air-gapped sites) the image it is imported as; anything else is an image reference. For
    another architecture, the name of that image built for it (Docker Hub's per-architecture
    namespace: arm64v8/debian:bookworm); the os value itself where it has none (the axes refuse
    such a pair)."""
    if (imported := rootfs_image(os_value)) is not None:
        return imported + ("" if arch.name == NATIVE_ARCH else f"-{arch.name}")
    image = os_value if (":" in os_value or "/" in os_value) else f"debian:{os_value}"
    return image_for_arch(image, arch) or image


# A root file system as a tarball beside the matrix (`os: rootfs/ubuntu-24.04.tar`): imported as
# an image of this name (`docker import FILE NAME` by hand)
ROOTFS = re.compile(
    r"(?:[A-Za-z0-9_][A-Za-z0-9._-]*/)*(?P<stem>[A-Za-z0-9_][A-Za-z0-9._-]*?)"
    r"\.(?:tar|tar\.gz|tgz|tar\.xz)"
)
ROOTFS_REPOSITORY = "repromatrix-rootfs"


def rootfs_image(os_value: str) -> str | None:
    """The image a root file system tarball is imported as, or None if `os_value` is none."""
    m = ROOTFS.fullmatch(os_value)
    if m is None or ".." in os_value.split("/"):
        return None
    slug = re.sub(r"[^a-z0-9._-]+", "-", os_value.lower().rsplit(".tar", 1)[0].replace("/", "-"))
    return f"{ROOTFS_REPOSITORY}/{slug.strip('.-_')}:rootfs"


def os_python(image: str) -> str:
    """The X.Y of an image's own python3, where repromatrix knows it ('' where not)."""
    plain = image.split("/", 1)[-1] if arch_of_image(image) else image
    known = OS_PYTHONS.get(plain.removeprefix("docker.io/").removeprefix("library/"))
    return known[0] if known else ""


def os_pip(image: str) -> str:
    """The version of the pip an image's package manager installs ('' where not known)."""
    plain = image.split("/", 1)[-1] if arch_of_image(image) else image
    known = OS_PYTHONS.get(plain.removeprefix("docker.io/").removeprefix("library/"))
    return known[1] if known else ""


_DEBIAN_IMAGE = re.compile(
    r"(?:docker\.io/)?(?:library/|(?P<namespace>[a-z0-9]+)/)?debian:(?P<suite>[a-z]+)"
)


def debian_suite_of(image: str) -> str | None:
    """The suite debootstrap can build for `image`, if it is a Debian image it can build: an
    official one, of this machine's architecture or another's (arm64v8/debian:bookworm)."""
    m = _DEBIAN_IMAGE.fullmatch(image)
    if m is None:
        return None
    return m.group("suite") if m.group("namespace") is None or arch_of_image(image) else None


def debian_arch_of(image: str) -> str | None:
    """debootstrap's --arch for a per-architecture Debian image (i386/debian:bookworm), else
    None."""
    arch = arch_of_image(image) if _DEBIAN_IMAGE.fullmatch(image) else None
    return arch.name if arch else None


@dataclass(frozen=True)
class Interpreter:
    """The python3 a cell runs: the OS's own (version None) or CPython `version` on the OS."""

    version: str | None
    os_image: str  # the OS's image, e.g. debian:bookworm (arm64v8/debian:bookworm)
    suite: str | None  # its Debian suite, if it is one
    arch: Arch = ARCHES[NATIVE_ARCH]  # the architecture its containers run on

    @property
    def is_system(self) -> bool:
        return self.version is None

    @property
    def image(self) -> str:
        """What the cell's Dockerfile starts FROM."""
        if self.version is None:
            return self.os_image
        return base_image_for(f"python:{self.version}-slim-{self.suite}", self.arch)

    @property
    def python(self) -> str:
        """Its X.Y, as far as the plan knows ('' for the python3 of an OS that is not a known
        suite)."""
        return self.version or DEBIAN_SUITES.get(self.suite or "", "")

    @property
    def describe(self) -> str:
        if self.version is None:
            return (
                f"the OS's own python3 ({self.python})" if self.python else "the OS's own python3"
            )
        return f"CPython {self.version} under /usr/local on {self.suite}"

    def problem(self) -> str | None:
        """Why this interpreter cannot be planned at all (checked when the matrix is expanded)."""
        if self.version is not None and self.suite is None:
            return (
                f"python {self.version} needs a Debian suite as os (interpreter images are built "
                "per "
                f"suite, like python:{self.version}-slim-bookworm); {self.os_image} is not one"
            )
        return None
