"""What the rest of repromatrix may ask of a container engine: the interface, not Docker.

`docker_engine.DockerEngine` is the one implementation that talks to Docker; the runner, the
services, resume and Ctrl-C are written against these protocols, so they can also be tested
with a fake engine in a fraction of a second (tests/unit/fake_engine.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

LABEL_RUN = "org.repromatrix.run"
LABEL_ROLE = "org.repromatrix.role"
LABEL_BASE = "org.repromatrix.base"
# The digest of the run's token (results/journal.py): a run id is only a name, this proves
# which objects a run directory may act on
LABEL_OWNER = "org.repromatrix.owner"
LABEL_CACHE = "org.repromatrix.cache"  # a cache image kept across runs (value: what it caches)
LABEL_CACHE_KEY = "org.repromatrix.cache.key"
Filters = Mapping[str, str | list[str]]  # as Docker's list calls take them, e.g. {"label": [...]}


def run_labels(run_id: str, owner: str, role: str) -> dict[str, str]:
    """The labels of everything a run creates (its owner's only when it has one: `clean`)."""
    owned = {LABEL_OWNER: owner} if owner else {}
    return {LABEL_RUN: run_id, **owned, LABEL_ROLE: role}


def run_filter(run_id: str, owner: str, role: str = "") -> Filters:
    """What a run may list and remove: its own objects (of one role), never by run id alone
    when it has an owner; the engine ANDs the labels."""
    wanted = [f"{LABEL_RUN}={run_id}"]
    wanted += [f"{LABEL_OWNER}={owner}"] if owner else []
    wanted += [f"{LABEL_ROLE}={role}"] if role else []
    return {"label": wanted}


@dataclass(frozen=True)
class Capacity:
    """What an engine's machine has, as the engine reports it (`docker info`)."""

    cpus: int
    memory: int  # bytes

    def said(self) -> str:
        return f"{self.cpus} CPUs and {self.memory / 2**30:.1f} GiB of memory"


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    log: str
    failed_step: str = ""  # the Dockerfile instruction that failed, as the builder printed it
    error: str = ""
    # Why the engine, not the Dockerfile, failed the build ('' when a step's own command failed):
    # a lost connection, an API error, a layer it could not write. Not a verdict about pip.
    engine_fault: str = ""


@dataclass(frozen=True)
class ContainerResult:
    exit_code: int | None  # None when we had to kill it
    output: str
    timed_out: bool = False


@dataclass(frozen=True)
class CachedImage:
    """An image kept across runs: what the cache budget weighs and evicts."""

    ref: str
    size: int  # bytes, as the engine reports it (shared layers are counted in each image)
    last_used: str  # ISO time the image was last built or reused (its last tag time)
    key: str
    stale: bool = False  # no tag names it any more (a refresh built its successor): ref is its id


class Box(Protocol):
    """A started container: only what services need of it."""

    name: str

    def logs(self) -> str: ...

    def running(self) -> bool: ...

    def read_file(self, path: str) -> str: ...

    def published_port(self, port: str) -> int: ...

    def connect(self, network: str, aliases: tuple[str, ...] = ()) -> None: ...


class Engine(Protocol):
    """A container engine as a run uses it; everything it creates carries the run's labels."""

    run_id: str
    owner: str  # the digest of the run's token: in every label set, in every filter

    def labels(self, role: str) -> dict[str, str]: ...

    # images
    def image_exists(self, ref: str) -> bool: ...

    def image_id(self, ref: str) -> str: ...

    def image_labels(self, ref: str) -> dict[str, str]: ...

    def pull(self, ref: str) -> str | None: ...

    def import_rootfs(
        self, tarball: Path, ref: str, labels: dict[str, str], platform: str = "linux/amd64"
    ) -> None: ...

    def build(
        self,
        context: Path,
        tag: str,
        network: str | None,
        labels: dict[str, str],
        *,
        target: str | None = None,
        nocache: bool = False,
        dockerfile: str | None = None,
        buildargs: Mapping[str, str] | None = None,
    ) -> BuildResult: ...

    def touch_image(self, ref: str) -> None: ...

    def remove_image(self, ref: str) -> None: ...

    def cached_images(self, kind: str) -> list[CachedImage]: ...

    # containers and networks
    def create_network(self, name: str, internal: bool = False) -> str: ...

    def container(
        self,
        image: str,
        *,
        name: str,
        role: str,
        network: str | None = None,
        aliases: tuple[str, ...] = (),
        ports: Mapping[str, tuple[str, int | None]] | None = None,
        mounts: dict[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        tmpfs: Mapping[str, str] | None = None,
        memory: str | None = None,
        volumes: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Box]: ...

    # volumes kept across runs (the download cache)
    def ensure_volume(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_volume(self, name: str) -> bool: ...

    def run_to_end(
        self,
        image: str,
        *,
        name: str,
        network: str | None,
        timeout: float,
        mounts: dict[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        tmpfs: Mapping[str, str] | None = None,
        memory: str | None = None,
    ) -> ContainerResult: ...

    # health and housekeeping
    def alive(self) -> bool: ...

    def free_disk(self) -> int | None: ...

    def capacity(self) -> Capacity | None: ...

    def architecture(self) -> str: ...

    def try_command(self, image: str, argv: list[str], timeout: float = 120) -> ContainerResult: ...

    def remove_containers(self, flt: Filters | None = None) -> int: ...

    def stop_builds(self, network: str) -> int: ...

    def cleanup(self, flt: Filters | None = None) -> dict[str, int]: ...
