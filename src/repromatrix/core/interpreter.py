"""The interpreter a cell runs, as data: the OS's own python3 or a CPython X.Y on a Debian suite,
named like the official image (python:X.Y-slim-<suite>). Where its image comes from is
infra/interpreters.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# The Python each Debian suite ships as python3.
DEBIAN_SUITES: dict[str, str] = {
    "buster": "3.7",
    "bullseye": "3.9",
    "bookworm": "3.11",
    "trixie": "3.13",
    "forky": "3.14",
}
SOURCES_ENV = "REPROMATRIX_PYTHON_SOURCES"
Say = Callable[[str], None]


def base_image_for(os_value: str) -> str:
    """A bare suite name means Debian's image of that suite; anything else is an image reference."""
    return os_value if (":" in os_value or "/" in os_value) else f"debian:{os_value}"


# The registry's per-architecture namespaces (i386/debian, ...) whose images this machine runs
# natively: debootstrap builds them with --arch, Debian's name for the architecture.
FOREIGN_ARCHES = {"i386": "i386"}
_DEBIAN_IMAGE = re.compile(
    r"(?:docker\.io/)?(?:library/|(?P<arch>[a-z0-9]+)/)?debian:(?P<suite>[a-z]+)"
)


def debian_suite_of(image: str) -> str | None:
    """The suite debootstrap can build for `image`, if it is a Debian image it can build."""
    m = _DEBIAN_IMAGE.fullmatch(image)
    return (
        m.group("suite")
        if m and (m.group("arch") is None or m.group("arch") in FOREIGN_ARCHES)
        else None
    )


def debian_arch_of(image: str) -> str | None:
    """debootstrap's --arch for a per-architecture Debian image (i386/debian:bookworm), else
    None."""
    m = _DEBIAN_IMAGE.fullmatch(image)
    return FOREIGN_ARCHES.get(m.group("arch") or "") if m else None


@dataclass(frozen=True)
class Interpreter:
    """The python3 a cell runs: the OS's own (version None) or CPython `version` on the OS."""

    version: str | None
    os_image: str  # the OS's image, e.g. debian:bookworm
    suite: str | None  # its Debian suite, if it is one

    @property
    def is_system(self) -> bool:
        return self.version is None

    @property
    def image(self) -> str:
        """What the cell's Dockerfile starts FROM."""
        if self.version is None:
            return self.os_image
        return f"python:{self.version}-slim-{self.suite}"

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
