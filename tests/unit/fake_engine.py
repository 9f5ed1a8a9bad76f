"""A fake container engine for fast tests of scheduling, the setup cache, Ctrl-C and engine loss.

It implements repromatrix.infra.engine.Engine in memory: builds and cell runs take a configurable time,
every call is recorded, and a test can make the engine stop answering or run out of disk. It
is used *in addition to* the real-container tests, never instead of them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from repromatrix.cell.contract import RECORD_PREFIX
from repromatrix.infra.engine import (
    LABEL_CACHE,
    BuildResult,
    CachedImage,
    Capacity,
    ContainerResult,
    Filters,
    run_labels,
)

# What the builder said of a setup step whose container a SIGTERM'd run removed (seen on the
# real index)
KILLED_STEP = ("The command '/bin/sh -c apt-get update' returned a non-zero code: 137")

# A real cell's record (captured from a container), so finished cells classify as they would.
UPGRADED = Path(__file__).parents[1] / "data" / "records" / "local-bullseye-py3.9-venv-fresh.json"


@dataclass
class FakeBox:
    name: str
    says: str = ""  # its logs, and every file read from it
    up: bool = True
    networks: list[str] = field(default_factory=list)

    def logs(self) -> str:
        return self.says

    def running(self) -> bool:
        return self.up

    def read_file(self, path: str) -> str:
        return self.says

    def published_port(self, port: str) -> int:
        return 1

    def connect(self, network: str, aliases: tuple[str, ...] = ()) -> None:
        self.networks.append(network)


@dataclass
class FakeEngine:
    run_id: str = "fake"
    owner: str = "fake-owner"
    build_seconds: float = 0.05
    run_seconds: float = 0.05
    images: dict[str, dict[str, str]] = field(default_factory=dict)  # ref → labels
    builds: list[tuple[str, str | None]] = field(default_factory=list)  # (tag, target) of every build
    buildargs: dict[str, dict[str, str]] = field(default_factory=dict)  # by tag: the build args it was given
    runs: list[str] = field(default_factory=list)
    removed_containers: list[Mapping[str, object]] = field(default_factory=list)
    answering: bool = True
    disk: int | None = None
    machine: Capacity | None = None  # what `capacity()` reports; None: the engine does not say
    arch: str = "x86_64"  # what `architecture()` reports (docker info's Architecture)
    # What `uname -m` prints in a container of an image, by ref (the architecture's otherwise)
    machines: dict[str, str] = field(default_factory=dict)
    probes: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (image, argv) of each
    hang: threading.Event = field(default_factory=threading.Event)  # set: cell runs never end
    quick_runs: int = 10**9  # runs after this many never end either (until killed)
    killed: threading.Event = field(default_factory=threading.Event)
    concurrent_setups: dict[str, int] = field(default_factory=dict)  # tag → most setups building at once
    service_says: str = ""  # what every service container logs (its readiness line, or not)
    service_dies: bool = False
    boxes: dict[str, FakeBox] = field(default_factory=dict)  # containers now running, by name
    started: list[str] = field(default_factory=list)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)  # name → labels
    stopped_builds: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _building: dict[str, int] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)  # container name → the variables it got
    # What setup builds give instead of success (a step failing, the engine failing the build)
    setup_result: BuildResult | None = None
    setup_hangs: bool = False  # setup builds run until their step is killed (stop_builds)
    running_now: int = 0
    most_running: int = 0  # the most containers run_to_end ran at once

    def labels(self, role: str) -> dict[str, str]:
        return run_labels(self.run_id, self.owner, role)

    def image_exists(self, ref: str) -> bool:
        return ref in self.images

    def image_id(self, ref: str) -> str:
        return f"sha256:{abs(hash(ref)):x}"

    def image_labels(self, ref: str) -> dict[str, str]:
        return self.images.get(ref, {})

    def pull(self, ref: str) -> str | None:
        return "no registry"

    def import_rootfs(self, tarball: Path, ref: str, labels: dict[str, str],
                      platform: str = "linux/amd64") -> None:
        self.images[ref] = labels | {"platform": platform}

    def build(self, context: Path, tag: str, network: str | None, labels: dict[str, str], *,
              target: str | None = None, nocache: bool = False, dockerfile: str | None = None,
              buildargs: Mapping[str, str] | None = None) -> BuildResult:
        with self._lock:
            self.builds.append((tag, target))
            self.buildargs[tag] = dict(buildargs or {})
            self._building[tag] = self._building.get(tag, 0) + 1
            self.concurrent_setups[tag] = max(self.concurrent_setups.get(tag, 0), self._building[tag])
        if target == "setup" and self.setup_hangs:
            self.killed.wait()  # until the run kills the step's container, as Ctrl-C does
            with self._lock:
                self._building[tag] -= 1
            # what the builder then says: the step's command "failed", killed by signal 9
            return BuildResult(False, "Step 2/9 : RUN apt-get update\n", "RUN apt-get update",
                               KILLED_STEP)
        time.sleep(self.build_seconds)
        with self._lock:
            self._building[tag] -= 1
            if target == "setup" and self.setup_result:
                return self.setup_result
            self.images[tag] = dict(labels)
        return BuildResult(True, f"built {tag}\n")

    def touch_image(self, ref: str) -> None:
        return None

    def remove_image(self, ref: str) -> None:
        self.images.pop(ref, None)

    def cached_images(self, kind: str) -> list[CachedImage]:
        return [CachedImage(ref, 100, "2026-11-24T00:00:00", "", stale=ref.startswith("sha256:"))
                for ref, labels in self.images.items() if labels.get(LABEL_CACHE) == kind]

    def create_network(self, name: str, internal: bool = False) -> str:
        return name

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes.setdefault(name, labels)

    def remove_volume(self, name: str) -> bool:
        return self.volumes.pop(name, None) is not None

    @contextlib.contextmanager
    def container(self, image: str, *, name: str, role: str, network: str | None = None,
                  aliases: tuple[str, ...] = (), ports: Mapping[str, tuple[str, int | None]] | None = None,
                  mounts: dict[str, str] | None = None, env: Mapping[str, str] | None = None,
                  tmpfs: Mapping[str, str] | None = None,
                  memory: str | None = None,
                  volumes: Mapping[str, str] | None = None) -> Iterator[FakeBox]:
        box = FakeBox(name, self.service_says, not self.service_dies, [network] if network else [])
        self.boxes[name] = box
        self.started.append(name)
        try:
            yield box
        finally:
            del self.boxes[name]  # removed on exit, also when what ran in it failed

    def run_to_end(self, image: str, *, name: str, network: str | None, timeout: float,
                   mounts: dict[str, str] | None = None, env: Mapping[str, str] | None = None,
                   tmpfs: Mapping[str, str] | None = None,
                  memory: str | None = None) -> ContainerResult:
        with self._lock:
            self.runs.append(name)
            self.envs[name] = dict(env or {})
            slow = len(self.runs) > self.quick_runs
            self.running_now += 1
            self.most_running = max(self.most_running, self.running_now)
        try:
            if self.hang.is_set() or slow:
                self.killed.wait()  # like a cell stuck on a dead engine, until someone kills it
                return ContainerResult(137, "")
            ended = self.killed.wait(self.run_seconds)
            if ended:
                return ContainerResult(137, "")
            return ContainerResult(0, RECORD_PREFIX + UPGRADED.read_text().strip() + "\n")
        finally:
            with self._lock:
                self.running_now -= 1

    def alive(self) -> bool:
        return self.answering

    def free_disk(self) -> int | None:
        return self.disk

    def capacity(self) -> Capacity | None:
        return self.machine

    def architecture(self) -> str:
        return self.arch

    def try_command(self, image: str, argv: list[str], timeout: float = 120) -> ContainerResult:
        self.probes.append((image, tuple(argv)))
        if image in self.machines and not self.machines[image]:
            return ContainerResult(1, "exec /usr/bin/uname: exec format error")
        return ContainerResult(0, self.machines.get(image, self.arch) + "\n")

    def remove_containers(self, flt: Filters | None = None) -> int:
        self.removed_containers.append(dict(flt or {}))
        self.killed.set()
        return 0

    def stop_builds(self, network: str) -> int:
        self.stopped_builds.append(network)
        self.killed.set()
        return 0

    def cleanup(self, flt: Filters | None = None) -> dict[str, int]:
        return {"containers": 0, "networks": 0, "images": 0}
