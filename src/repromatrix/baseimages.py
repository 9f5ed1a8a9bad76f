"""Stage 4: provision base images: use what exists, pull, or build Debian with debootstrap.

Offline is the normal path: with no registry, a Debian suite is built from Debian's
packages (debootstrap + docker import), tagged as the image it stands for (debian:SUITE) so
rendered Dockerfiles work unchanged with plain `docker build`, and cached for later runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .docker_engine import LABEL_BASE, Engine
from .errors import BaseImageError
from .model import debian_suite_of

Say = Callable[[str], None]


@dataclass(frozen=True)
class Provisioned:
    image: str
    how: str  # "present", "pulled" or "debootstrap"


def provision(engine: Engine, images: Iterable[str], say: Say,
              mirror: str = "") -> dict[str, Provisioned | BaseImageError]:
    """Make each image available; a failure is returned (its cells become infra errors)."""
    done: dict[str, Provisioned | BaseImageError] = {}
    for image in dict.fromkeys(images):
        try:
            done[image] = provision_one(engine, image, say, mirror)
        except BaseImageError as e:
            say(f"[red]base image {image}: {e.reason}[/red]")
            done[image] = e
    return done


def provision_one(engine: Engine, image: str, say: Say, mirror: str = "") -> Provisioned:
    if engine.image_exists(image):
        return Provisioned(image, "present")
    reason = engine.pull(image)
    if reason is None:
        return Provisioned(image, "pulled")
    suite = debian_suite_of(image)
    if suite is None:
        raise BaseImageError(image, f"not present and cannot be pulled ({_first_line(reason)}); only "
                             "Debian suites can be built locally: load this image with 'docker load'")
    say(f"{image}: not present and no registry answers ({_first_line(reason)}); "
        f"building it from Debian's packages with debootstrap (once; cached as {image})")
    build_debian_image(engine, suite, image, mirror)
    return Provisioned(image, "debootstrap")


def build_debian_image(engine: Engine, suite: str, image: str, mirror: str = "") -> None:
    if shutil.which("debootstrap") is None:
        raise BaseImageError(image, "debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise BaseImageError(image, "debootstrap needs root: run repromatrix as root once to build it")
    with tempfile.TemporaryDirectory(prefix=f"repromatrix-{suite}-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", suite, str(root)] + ([mirror] if mirror else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log = proc.stdout + proc.stderr
            raise BaseImageError(image, f"debootstrap {suite} failed (exit {proc.returncode}): "
                                 f"{_last_line(log)}", log)
        tarball = Path(tmp) / "rootfs.tar"
        with tarfile.open(tarball, "w") as tar:
            tar.add(root, arcname=".")
        engine.import_rootfs(tarball, image, {LABEL_BASE: f"debootstrap {suite}"})


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"
