"""For stage 4: provision base images: use what exists, pull, or build it offline.

Offline is the normal path here: with no registry, a Debian suite is built from Debian's
packages (debootstrap + docker import) and an interpreter image by the providers in
interpreters.py; each is tagged as the image it stands for (debian:SUITE,
python:X.Y-slim-SUITE) so rendered Dockerfiles work unchanged with plain `docker build`, and
cached for later runs (labelled as base images: `repromatrix clean --base-images` removes them).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BaseImageError, EmulationUnavailable, InfraError
from ..core.files import machine_lock
from ..core.interpreter import Interpreter, debian_arch_of, debian_suite_of
from ..core.platforms import ARCHES, RUNS_NATIVELY, Arch, arch_of_image, emulated
from .engine import LABEL_BASE, Engine
from .interpreters import LABEL_PROVIDER, LABEL_RECIPE, RECIPE, ImageHost, builds_ahead_said
from .interpreters import provide as provide_interpreter

Say = Callable[[str], None]


BASES_AT_ONCE = 3  # base images provisioned at once (a run's suites: bullseye, bookworm, trixie)


@dataclass(frozen=True)
class Provisioned:
    image: str
    how: str  # "present", "pulled", "debootstrap" or an interpreter provider's name
    detail: str = ""  # where an interpreter came from


def provision(
    engine: Engine,
    images: Iterable[str],
    say: Say,
    mirror: str = "",
    interpreters: Iterable[Interpreter] = (),
    rootfs: dict[str, tuple[Path, Arch]] | None = None,
) -> dict[str, Provisioned | BaseImageError]:
    """Make each image (and each interpreter's image) available; a failure is returned, not
    raised (its cells become infra errors). `rootfs`: images imported from a root file system
    tarball (os: FILE), with the architecture to import it as."""
    imported = rootfs or {}
    done: dict[str, Provisioned | BaseImageError] = {}
    host = _Host(engine, say, mirror)
    wanted: dict[str, Interpreter | None] = {image: None for image in images}
    wanted.update({i.image: (None if i.is_system else i) for i in interpreters})

    def one(image: str, interp: Interpreter | None) -> Provisioned | BaseImageError:
        try:
            if image in imported:
                return provision_rootfs(engine, image, *imported[image], say)
            if interp is None:
                return provision_one(engine, image, say, mirror)
            return provision_interpreter(host, engine, interp, say)
        except BaseImageError as e:
            say(f"[red]base image {image}: {e.reason}[/red]")
            return e

    to_make = [i for i in wanted.values() if i is not None and _to_make(engine, i)]
    if ahead := builds_ahead_said(to_make):
        say(ahead)
    # The base images at once (debootstrap mostly waits on the mirror and the disk: three suites
    # take little longer than one); then the interpreters, which build on them.
    bases = [image for image, interp in wanted.items() if interp is None]
    with ThreadPoolExecutor(max_workers=BASES_AT_ONCE) as pool:
        done.update(zip(bases, pool.map(lambda image: one(image, None), bases), strict=True))
    for image, interp in wanted.items():
        if interp is not None:
            done[image] = one(image, interp)
    return {image: done[image] for image in wanted}


LABEL_ROOTFS = "org.repromatrix.rootfs.sha256"


def provision_rootfs(
    engine: Engine, image: str, tarball: Path, arch: Arch, say: Say
) -> Provisioned:
    """The image of a root file system tarball (os: FILE): imported once, and again whenever the
    file's content changes (the image carries its sha256)."""
    digest = _sha256(tarball)
    with machine_lock("base-image", image):
        return _import_rootfs(engine, image, tarball, digest, arch, say)


def _import_rootfs(
    engine: Engine, image: str, tarball: Path, digest: str, arch: Arch, say: Say
) -> Provisioned:
    if engine.image_exists(image) and engine.image_labels(image).get(LABEL_ROOTFS) == digest:
        return Provisioned(image, "present", f"imported from {tarball.name}")
    say(f"{image}: importing the root file system {tarball.name} as {arch.name}")
    with tempfile.TemporaryDirectory(prefix="repromatrix-rootfs-", dir="/var/tmp") as tmp:
        layer = _uncompressed(tarball, Path(tmp) / "rootfs.tar")
        labels = {LABEL_BASE: f"rootfs {tarball.name}", LABEL_ROOTFS: digest}
        engine.import_rootfs(layer, image, labels, arch.docker)
    return Provisioned(image, "imported", f"imported from {tarball.name} ({digest[:12]})")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _uncompressed(tarball: Path, out: Path) -> Path:
    """The tarball as a plain tar (a layer's diff id is the digest of its uncompressed tar)."""
    if tarball.suffix not in (".gz", ".tgz", ".xz"):
        return tarball
    try:
        src = lzma.open(tarball, "rb") if tarball.suffix == ".xz" else gzip.open(tarball, "rb")
        with src, out.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise BaseImageError(str(tarball.name), f"cannot decompress {tarball.name}: {e}") from None
    return out


def provision_interpreter(
    host: _Host, engine: Engine, interp: Interpreter, say: Say
) -> Provisioned:
    with machine_lock("base-image", interp.image):  # built once, however many runs want it
        return _provision_interpreter(host, engine, interp, say)


def _provision_interpreter(
    host: _Host, engine: Engine, interp: Interpreter, say: Say
) -> Provisioned:
    # An image this tool built with an older recipe is rebuilt; any other present image is used.
    if not _to_make(engine, interp):
        labels = engine.image_labels(interp.image)
        provider, _, detail = labels.get(LABEL_PROVIDER, "").partition(": ")
        return Provisioned(interp.image, provider or "present", detail or "present on the engine")
    provided = provide_interpreter(host, interp, say)
    return Provisioned(interp.image, provided.provider, provided.detail)


def _to_make(engine: Engine, interp: Interpreter) -> bool:
    """Is this interpreter's image missing, or one this tool built with an older recipe?"""
    if not engine.image_exists(interp.image):
        return True
    labels = engine.image_labels(interp.image)
    return LABEL_PROVIDER in labels and labels.get(LABEL_RECIPE) != RECIPE


class _Host(ImageHost):
    """What interpreter providers need, on top of the engine and the base-image logic."""

    def __init__(self, engine: Engine, say: Say, mirror: str) -> None:
        self.engine, self.say, self.mirror = engine, say, mirror

    def pull(self, ref: str) -> str | None:
        return self.engine.pull(ref)

    def ensure_base(self, image: str) -> None:
        provision_one(self.engine, image, self.say, self.mirror)

    def build_image(self, context: Path, tag: str, labels: dict[str, str]) -> tuple[bool, str]:
        # Labelled as a base image, not with the run: it outlives the run, like debian:SUITE.
        result = self.engine.build(
            context, tag, None, {LABEL_BASE: labels.get(LABEL_PROVIDER, "")} | labels
        )
        return result.ok, result.log


def provision_one(engine: Engine, image: str, say: Say, mirror: str = "") -> Provisioned:
    if engine.image_exists(image):
        return Provisioned(image, "present")
    # Another run on this machine may be making it now: one of them builds it, the other waits
    with machine_lock("base-image", image):
        return _provision_missing(engine, image, say, mirror)


def _provision_missing(engine: Engine, image: str, say: Say, mirror: str) -> Provisioned:
    if engine.image_exists(image):
        return Provisioned(image, "present")
    reason = engine.pull(image)
    if reason is None:
        return Provisioned(image, "pulled")
    suite = debian_suite_of(image)
    if suite is None:
        raise BaseImageError(
            image,
            f"not present and cannot be pulled ({_first_line(reason)}); only Debian suites can "
            "be built here (debootstrap): push it to a registry this engine reaches, load it "
            "with 'docker load', or name a root file system tarball of it as os",
        )
    say(
        f"{image}: not present and no registry answers ({_first_line(reason)}); "
        f"building it from Debian's packages with debootstrap (once; cached as {image})"
    )
    build_debian_image(engine, suite, image, mirror, debian_arch_of(image))
    return Provisioned(image, "debootstrap")


def build_debian_image(
    engine: Engine, suite: str, image: str, mirror: str = "", arch: str | None = None
) -> None:
    if shutil.which("debootstrap") is None:
        raise BaseImageError(image, "debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise BaseImageError(
            image, "debootstrap needs root: run repromatrix as root once to build it"
        )
    foreign = ARCHES[arch] if arch else None
    if foreign is not None and (why := cannot_emulate(foreign)):
        raise EmulationUnavailable(image, why)
    with tempfile.TemporaryDirectory(prefix=f"repromatrix-{suite}-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = debootstrap_command(suite, root, mirror, arch=arch)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log = proc.stdout + proc.stderr
            raise BaseImageError(
                image,
                f"debootstrap {suite}{' --arch=' + arch if arch else ''} failed (exit "
                f"{proc.returncode}): "
                f"{_last_line(log)}",
                log,
            )
        if rolling_suite(suite):
            _accept_expired_release(root)
        tarball = Path(tmp) / "rootfs.tar"
        with tarfile.open(tarball, "w") as tar:
            tar.add(root, arcname=".")
        label = f"debootstrap {suite}" + (f" {arch}" if arch else "")
        platform = foreign.docker if foreign else _host_arch().docker
        engine.import_rootfs(tarball, image, {LABEL_BASE: label}, platform)


BINFMT = Path("/proc/sys/fs/binfmt_misc")
EMULATION_FIX = (
    "install Debian's qemu-user-static and binfmt-support and register their handlers "
    "('bash scripts/provision-host --emulation' does it, mounting binfmt_misc first), or run "
    "these cells on an engine of that architecture"
)


def _host_arch() -> Arch:
    return next((a for a in ARCHES.values() if a.machine == platform.machine()), ARCHES["amd64"])


def cannot_emulate(arch: Arch, binfmt: Path = BINFMT) -> str:
    """Why this machine cannot run `arch`'s binaries (debootstrap's second stage runs them), or
    '' when it runs them natively or qemu-user's handler for them is registered and enabled."""
    here = platform.machine()
    if arch.name in RUNS_NATIVELY.get(here, frozenset()) or arch.machine == here:
        return ""
    handler = binfmt / arch.qemu
    try:
        registered = handler.read_text()
    except OSError:
        registered = ""
    if registered.splitlines()[:1] == ["enabled"]:
        return ""
    said = "is not enabled" if registered else "is not registered"
    return (
        f"{arch.name} binaries need emulation on this {here} machine, and binfmt_misc's "
        f"{arch.qemu} handler {said}: {EMULATION_FIX}"
    )


def check_arches(
    engine: Engine, images: dict[str, Arch], ready: dict[str, Provisioned | BaseImageError]
) -> dict[str, bool]:
    """Before the first cell: does each architecture execute on this engine? One container of
    each image a run's cells start from runs a program of the image that names its userland's
    architecture (dpkg's, apk's, else `uname -m`, which qemu-user answers with the emulated
    machine, and a 64-bit kernel with its own for a 32-bit userland it runs natively). Raises
    InfraError (exit 3) naming the fix; returns which architectures run emulated (by name)."""
    machine = engine.architecture()
    checked: dict[str, bool] = {}
    for image, arch in images.items():
        provided = ready.get(image)
        if isinstance(provided, EmulationUnavailable):
            raise InfraError(f"arch {arch.name}: {provided.reason}")
        if arch.name in checked or isinstance(provided, BaseImageError):
            continue
        said = engine.try_command(image, list(WHICH_ARCH), timeout=120)
        printed = said.output.strip().splitlines()[-1:] if said.output.strip() else []
        if said.exit_code == 0 and printed and printed[0] in _names_of(arch):
            checked[arch.name] = emulated(arch, machine)
            continue
        got = (
            f"printed {printed[0]!r}"
            if said.exit_code == 0 and printed
            else (f"could not run ({_first_line(said.output) or 'no output'})")
        )
        fix = (
            EMULATION_FIX
            if said.exit_code != 0
            else (
                f"the image {image} is not built for {arch.name}: remove it (docker rmi) so that "
                "repromatrix pulls or builds the right one"
            )
        )
        raise InfraError(
            f"arch {arch.name}: a container of {image} {got} for its architecture, not "
            f"{arch.name!r}, on this {machine or 'unknown'} engine\n  hint: {fix}"
        )
    return checked


# What names a container's architecture: Debian's and Alpine's package managers say their
# userland's, which a 64-bit kernel's `uname -m` does not for a 32-bit one (i386 on x86_64)
WHICH_ARCH = (
    "sh",
    "-c",
    "dpkg --print-architecture 2>/dev/null || apk --print-arch 2>/dev/null || uname -m",
)
_APK = {"armhf": "armv7", "i386": "x86"}


def _names_of(arch: Arch) -> set[str]:
    """What WHICH_ARCH prints in a container of `arch`."""
    return {arch.name, arch.machine, _APK.get(arch.name, arch.machine)}


def arch_of(image: str) -> Arch:
    """The architecture a base image's name stands for (a plain name: amd64)."""
    return arch_of_image(image) or ARCHES["amd64"]


SCRIPTS = Path("/usr/share/debootstrap/scripts")


def debootstrap_command(
    suite: str, root: Path, mirror: str = "", scripts: Path = SCRIPTS, arch: str | None = None
) -> list[str]:
    """debootstrap's command line; a suite newer than the host's debootstrap (forky on bookworm)
    is built with the script of sid, which every Debian suite after the host's shares."""
    cmd = (
        ["debootstrap", "--variant=minbase"]
        + ([f"--arch={arch}"] if arch else [])
        + [suite, str(root)]
    )
    if not rolling_suite(suite, scripts):
        return cmd + ([mirror] if mirror else [])
    return cmd + [mirror or _default_mirror(), str(scripts / "sid")]


def rolling_suite(suite: str, scripts: Path = SCRIPTS) -> bool:
    """Testing and unstable suites newer than the host's debootstrap (built with sid's script)."""
    return not (scripts / suite).exists() and (scripts / "sid").exists()


def _accept_expired_release(root: Path) -> None:
    """Mirrors and caches often serve a testing suite's Release file past its Valid-Until date, and
    apt then refuses every update; a rolling suite's image accepts it (as `apt-get -o
    Acquire::Check-Valid-Until=false` would), so its cells can install packages at all."""
    conf = root / "etc" / "apt" / "apt.conf.d" / "99repromatrix-valid-until"
    conf.write_text(
        "// repromatrix: accept a rolling suite's Release file past its Valid-Until date\n"
        'Acquire::Check-Valid-Until "false";\n'
    )


def _default_mirror() -> str:
    """debootstrap's own default mirror (its DEF_MIRROR), so none is written down here."""
    path = shutil.which("debootstrap")
    text = Path(path).read_text(errors="replace") if path else ""
    match = re.search(r'^DEF_MIRROR="([^"]+)"', text, re.M)
    if not match:
        raise BaseImageError(
            "debootstrap",
            "cannot find debootstrap's default mirror (DEF_MIRROR); set settings.debian_mirror",
        )
    return match.group(1)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"
