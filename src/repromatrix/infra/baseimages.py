"""Stage 4: provision base images: use what exists, pull, or build it offline.

Offline is the normal path here: with no registry, a Debian suite is built from Debian's
packages (debootstrap + docker import) and an interpreter image by the providers in
interpreters.py; each is tagged as the image it stands for (debian:SUITE,
python:X.Y-slim-SUITE) so rendered Dockerfiles work unchanged with plain `docker build`, and
cached for later runs (labelled as base images: `repromatrix clean --base-images` removes them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BaseImageError
from ..core.interpreter import Interpreter, debian_arch_of, debian_suite_of
from .engine import LABEL_BASE, Engine
from .interpreters import LABEL_PROVIDER, LABEL_RECIPE, RECIPE, ImageHost
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
) -> dict[str, Provisioned | BaseImageError]:
    """Make each image (and each interpreter's image) available; a failure is returned, not
    raised (its cells become infra errors)."""
    done: dict[str, Provisioned | BaseImageError] = {}
    host = _Host(engine, say, mirror)
    wanted: dict[str, Interpreter | None] = {image: None for image in images}
    wanted.update({i.image: (None if i.is_system else i) for i in interpreters})

    def one(image: str, interp: Interpreter | None) -> Provisioned | BaseImageError:
        try:
            if interp is None:
                return provision_one(engine, image, say, mirror)
            return provision_interpreter(host, engine, interp, say)
        except BaseImageError as e:
            say(f"[red]base image {image}: {e.reason}[/red]")
            return e

    # The base images at once (debootstrap mostly waits on the mirror and the disk: three suites
    # take little longer than one); then the interpreters, which build on them.
    bases = [image for image, interp in wanted.items() if interp is None]
    with ThreadPoolExecutor(max_workers=BASES_AT_ONCE) as pool:
        done.update(zip(bases, pool.map(lambda image: one(image, None), bases), strict=True))
    for image, interp in wanted.items():
        if interp is not None:
            done[image] = one(image, interp)
    return {image: done[image] for image in wanted}


def provision_interpreter(
    host: _Host, engine: Engine, interp: Interpreter, say: Say
) -> Provisioned:
    labels = engine.image_labels(interp.image) if engine.image_exists(interp.image) else None
    # An image this tool built with an older recipe is rebuilt; any other present image is used.
    stale = labels is not None and LABEL_PROVIDER in labels and labels.get(LABEL_RECIPE) != RECIPE
    if labels is not None and not stale:
        provider, _, detail = labels.get(LABEL_PROVIDER, "").partition(": ")
        return Provisioned(interp.image, provider or "present", detail or "present on the engine")
    provided = provide_interpreter(host, interp, say)
    return Provisioned(interp.image, provided.provider, provided.detail)


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
    reason = engine.pull(image)
    if reason is None:
        return Provisioned(image, "pulled")
    suite = debian_suite_of(image)
    if suite is None:
        raise BaseImageError(
            image,
            f"not present and cannot be pulled ({_first_line(reason)}); only "
            "Debian suites can be built locally: load this image with 'docker load'",
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
        engine.import_rootfs(
            tarball, image, {LABEL_BASE: f"debootstrap {suite}" + (f" {arch}" if arch else "")}
        )


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
